"""Ablation row: horizontal-flip test-time averaging. A photo's embedding becomes the
normalised mean of the embeddings of the photo and its mirror image; titles and recipes
are unchanged. Scored with the trained default model, by the ablation protocol (recipe
vector chosen on val, test reported), beside the same model without flipping; plus the
cost per photo query (encoding two images instead of one, as the app would).

    python benchmarks/bench_flip_tta.py [--model artifacts/model] [--data DIR]

Mirrored-photo features of val and test are extracted once (~3 min on 2 cores) into the
feature cache, keyed like train/features.py's, so a re-run takes seconds. Writes
benchmarks/results/flip_tta.json; the report adds its row to the ablation table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import ImageOps  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.common import ROOT, load_average, percentiles_ms, shown, write_result  # noqa: E402
from benchmarks.heads_lab import HeadsLab, score  # noqa: E402
from pipeline.embed import embed_source  # noqa: E402
from train.loop import val_score


class Mirrored:
    """A photo transform applied to the mirror image (module level: DataLoader workers)."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image):
        return self.transform(ImageOps.mirror(image))


def mirrored_features(model, recipes: list, cache_dir: Path) -> torch.Tensor:
    """Backbone features of the mirrored photos, row-aligned with `recipes`; cached under
    the same key as the plain features of these rows, with an `image-hflip-` prefix."""
    from torch.utils.data import DataLoader

    from train.features import PhotoDataset, _cached, cache_keys

    canonical = sorted(recipes, key=lambda r: r.id)

    @torch.inference_mode()
    def extract():
        loader = DataLoader(PhotoDataset(canonical, Mirrored(model.preprocess)), batch_size=64, num_workers=1)
        return {"image": torch.cat([model.image_features(batch) for batch in tqdm(loader, desc="mirrored photo features")])}

    features = _cached(Path(cache_dir) / f"image-hflip-{cache_keys(model, canonical)['image']}.safetensors", extract)["image"]
    position = {r.id: i for i, r in enumerate(canonical)}
    return features[torch.tensor([position[r.id] for r in recipes])]


def tta_embeddings(model, source, mirrored: torch.Tensor) -> dict:
    """embed_features of a split with the image vectors replaced by normalize(plain + mirrored)."""
    embeds = embed_source(model, source, torch.device("cpu"))
    with torch.no_grad():
        embeds["image"] = F.normalize(embeds["image"] + model.embed_image_features(mirrored), dim=-1)
    return embeds


def photo_latency(model, recipes: list, count: int) -> dict:
    """ms to turn an uploaded photo into its query vector, plain and with the mirror, one
    torch thread as the app serves; the two alternate per photo so both see the same load."""
    from ui.inputs import read_photo
    from ui.search import configure_torch_for_serving

    configure_torch_for_serving()

    def plain(path):
        return model.encode_photos([read_photo(path)])[0]

    @torch.no_grad()
    def flipped(path):
        image = read_photo(path)
        pair = model.encode_image(model.pixel_values([image, ImageOps.mirror(image)]))
        return F.normalize(pair.mean(0), dim=-1)

    paths = [r.image_path for r in recipes[: count + 3]]
    for path in paths[:3]:  # warm-up
        plain(path), flipped(path)
    spent = {"plain": [], "flip_tta": []}
    for i, path in enumerate(tqdm(paths[3:], desc="photo query latency")):
        for name, call in ((("plain", plain), ("flip_tta", flipped)) if i % 2 == 0 else (("flip_tta", flipped), ("plain", plain))):
            began = time.perf_counter()
            call(path)
            spent[name].append(time.perf_counter() - began)
    out = {name: percentiles_ms(times) for name, times in spent.items()}
    out["extra_ms_median"] = round(out["flip_tta"]["p50_ms"] - out["plain"]["p50_ms"], 2)
    out["torch_threads"] = torch.get_num_threads()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "artifacts" / "model"), help="the trained default model")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--photos", type=int, default=60, help="photo queries timed for the latency cost")
    args = p.parse_args()
    from embeddings.hub import load_model
    from pipeline.features import DEFAULT_CACHE

    load_start = load_average()
    model = load_model(args.model)
    lab = HeadsLab(args.data)
    sources = lab.sources(model)
    best_epoch = json.loads((Path(args.model) / "metrics.json").read_text())["best_epoch"]
    rows = {}
    for name, flip in (("default_model", False), ("hflip_tta", True)):
        embeds = {}
        for split in ("val", "test"):
            mirrored = mirrored_features(model, lab.splits[split], DEFAULT_CACHE) if flip else None
            embeds[split] = (tta_embeddings(model, sources[split], mirrored) if flip
                             else embed_source(model, sources[split], torch.device("cpu")))
        rows[name] = {"name": name, "model": shown(args.model), "best_epoch": best_epoch,
                      **score(embeds["val"], sources["val"].has_recipe, embeds["test"], sources["test"].has_recipe)}
    latency = photo_latency(model, lab.splits["test"], args.photos)

    from benchmarks.bench_ablations import HEADER, row

    print("\n" + HEADER + "\n" + "\n".join(row(r) for r in rows.values()))
    for name, r in rows.items():
        print(f"{name}: val mean R@1 {val_score(r['val']):.4f}")
    print(f"photo query encoding: {latency['plain']['p50_ms']:.1f} ms plain, {latency['flip_tta']['p50_ms']:.1f} ms with "
          f"the mirror (median of {latency['plain']['count']}; +{latency['extra_ms_median']:.1f} ms)")
    write_result("flip_tta", {"data": args.data, "protocol": "ablation protocol: recipe vector chosen on val, test reported",
                              "variant": rows["hflip_tta"], "baseline": rows["default_model"], "photo_query_latency": latency,
                              "load_average_start": load_start, "load_average_end": load_average(), "cpu_cores": os.cpu_count()})


if __name__ == "__main__":
    main()
