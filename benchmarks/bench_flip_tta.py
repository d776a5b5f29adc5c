"""Ablation row: horizontal-flip test-time averaging. A photo's embedding becomes the
normalised mean of the embeddings of the photo and its mirror image; titles and recipes
are unchanged. Scored with the trained default model, by the ablation protocol (recipe
vector chosen on val, test reported), beside the same model without flipping; plus the
cost per photo query (encoding two images instead of one, as the app would).

    python benchmarks/bench_flip_tta.py [--model artifacts/model] [--data DIR]
    python benchmarks/bench_flip_tta.py --quick --model DIR   # first 120 rows, 4 photo queries -> flip_tta_quick.json

The plain vectors come from pipeline.embed.embed_collection, which reads the feature
cache training wrote. The mirrored photos get a cache entry of their own (hflip-<key>
beside the pipeline's entries), extracted once (~3 min on 2 cores for val and test), so a
re-run takes seconds. Its key names the image settings, the rows (collection_hash) and
how much of the backbone the cache may hold for this model: the pooled features of a
frozen backbone, or for a photo tail fine-tuned on cached activations the pretrained
trunk below it (the model's own tail runs on it here, as in training). A model fine-tuned
--live, or not trained by `python -m train`, runs its whole tower and caches nothing.
Writes benchmarks/results/flip_tta.json; the report adds its row to the ablation table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F
from PIL import ImageOps
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from benchmarks.common import ROOT, load_average, percentiles_ms, shown, write_result
from benchmarks.heads_lab import score
from benchmarks.quick import QUICK_ROWS
from model.preprocess import to_rgb
from pipeline.embed import embed_collection
from pipeline.features import DEFAULT_CACHE, IMAGE_SETTINGS, cached_tensors
from pipeline.records import collection_hash
from pipeline.splits import split_of
from train.loop import val_score

# Bump when what an hflip entry holds changes.
FLIP_FORMAT = 1
QUICK_PHOTOS = 4
TAIL_BATCH = 256  # cached trunk rows per forward_tail call


class MirroredPhotos(Dataset):
    """Item i: the mirror image of photo i, preprocessed as the model preprocesses every
    photo (decoded in a DataLoader worker while the backbone runs)."""

    def __init__(self, recipes: list, preprocess):
        self.recipes, self.preprocess = recipes, preprocess

    def __len__(self) -> int:
        return len(self.recipes)

    def __getitem__(self, index: int) -> torch.Tensor:
        with self.recipes[index].open_image() as image:
            return self.preprocess(ImageOps.mirror(to_rgb(image)))  # mirrored as shown (EXIF applied first)


def cached_top(model) -> int | None:
    """How the cache may serve this model's photos: 0, pooled features (a frozen backbone);
    N, the trunk below the top N blocks it fine-tuned on cached activations; None, nothing
    (trained --live with unfrozen blocks, or not by `python -m train`): as evaluation_source decides."""
    record = model.fitted.features
    if record is None or (record.live and record.finetune_top):
        return None
    return record.finetune_top


def mirrored_path(model, canonical: list, top: int | None, cache_dir: Path | None) -> Path | None:
    if cache_dir is None or top is None:
        return None
    parts = {
        "kind": "hflip",
        "format": FLIP_FORMAT,
        "top": top,
        "image": {k: getattr(model.config, k) for k in IMAGE_SETTINGS},
        "data": collection_hash(canonical),
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"hflip-{key}.safetensors"


@torch.inference_mode()
def extract_mirrored(model, recipes: list, top: int | None) -> dict[str, torch.Tensor]:
    """{"trunk": float16 activations below the top `top` blocks} when top > 0, else
    {"pooled": the image tower's features}, one row per recipe."""
    model.eval()
    loader = DataLoader(MirroredPhotos(recipes, model.preprocess), batch_size=64, num_workers=1)
    out = []
    for pixels in tqdm(loader, desc="mirrored photo features", unit="batch"):
        if top:
            out.append(model.image_encoder.forward_trunk(pixels.to(model.device), top).cpu().to(torch.float16))
        else:
            out.append(model.image_features(pixels).cpu())
    return {"trunk" if top else "pooled": torch.cat(out)}


@torch.inference_mode()
def mirrored_features(model, recipes: list, cache_dir: Path | None) -> torch.Tensor:
    """Pooled image features of the mirrored photos, as the model computes them, row-aligned
    with `recipes`. The entry holds the rows in id order, like the pipeline's."""
    canonical = sorted(recipes, key=lambda r: r.id)
    top = cached_top(model)
    tensors = cached_tensors(
        mirrored_path(model, canonical, top, cache_dir), lambda: extract_mirrored(model, canonical, top)
    )
    position = {r.id: i for i, r in enumerate(canonical)}
    rows = torch.tensor([position[r.id] for r in recipes], dtype=torch.long)
    if not top:
        return tensors["pooled"][rows]
    trunk = tensors["trunk"][rows]
    return torch.cat(
        [
            model.image_encoder.forward_tail(trunk[i : i + TAIL_BATCH].float().to(model.device), top).cpu()
            for i in range(0, len(trunk), TAIL_BATCH)
        ]
    )


def with_flip(model, embeds: dict, mirrored: torch.Tensor) -> dict:
    """Embeddings with the image vectors replaced by normalize(plain + mirrored)."""
    with torch.no_grad():
        flipped = model.embed_image_features(mirrored.to(model.device)).cpu()
    return {**embeds, "image": F.normalize(embeds["image"] + flipped, dim=-1)}


def photo_latency(model, recipes: list, count: int) -> dict:
    """ms to turn an uploaded photo into its query vector, plain and with the mirror, one
    torch thread as the app serves; the two alternate per photo so both see the same load.
    A photo is decoded as the app decodes an upload (ui.decoding.decode_photo: the same
    budget and reduced-size decoding), without the app's check that the file is one Gradio
    received (ui.inputs.read_photo), which the collection's photos are not."""
    from ui.decoding import decode_photo
    from ui.search import configure_torch_for_serving

    configure_torch_for_serving()
    resize_to = max(model.config.image_resize, model.config.image_size)

    def plain(path):
        return model.encode_photos([decode_photo(path, resize_to)])[0]

    @torch.no_grad()
    def flipped(path):
        image = decode_photo(path, resize_to)
        pair = model.encode_image(model.pixel_values([image, ImageOps.mirror(image)]))
        return F.normalize(pair.mean(0), dim=-1)

    paths = [r.image_path for r in recipes[: count + 3]]
    for path in paths[:3]:  # warm-up
        plain(path), flipped(path)
    spent = {"plain": [], "flip_tta": []}
    for i, path in enumerate(tqdm(paths[3:], desc="photo query latency")):
        order = (("plain", plain), ("flip_tta", flipped))
        for name, call in order if i % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            call(path)
            spent[name].append(time.perf_counter() - began)
    out = {name: percentiles_ms(times) for name, times in spent.items()}
    out["extra_ms_median"] = round(out["flip_tta"]["p50_ms"] - out["plain"]["p50_ms"], 2)
    out["torch_threads"] = torch.get_num_threads()
    return out


class Split(NamedTuple):
    rows: list
    embeds: dict[str, torch.Tensor]
    has_recipe: torch.Tensor


def held_out(recipes: list, embeds: dict, has_recipe: torch.Tensor) -> dict[str, Split]:
    """{"val" | "test": its rows, their embeddings and has_recipe} of a collection's embeddings."""
    names = [split_of(r.id) for r in recipes]
    out = {}
    for split in ("val", "test"):
        mask = torch.tensor([name == split for name in names])
        rows = [r for r, name in zip(recipes, names) if name == split]
        out[split] = Split(rows, {f: e[mask] for f, e in embeds.items()}, has_recipe[mask])
    return out


def best_epoch(model_dir: Path):
    metrics = model_dir / "metrics.json"
    return json.loads(metrics.read_text())["best_epoch"] if metrics.is_file() else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "artifacts" / "model"), help="the trained default model")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--photos", type=int, default=60, help="photo queries timed for the latency cost")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="the feature cache training filled")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"the first {QUICK_ROWS} usable rows, {QUICK_PHOTOS} photo "
        "queries: a smoke run, written to flip_tta_quick.json",
    )
    args = p.parse_args()
    from embeddings.serving.hub import load_model
    from pipeline.read import load_recipes

    load_start = load_average()
    model = load_model(args.model)
    recipes = load_recipes(args.data, progress=False)[: QUICK_ROWS if args.quick else None]
    # The whole collection, as evaluation and index building embed it: one pass that reads
    # the feature-cache entry training wrote (its rows and views), val and test picked after.
    val, test = held_out(recipes, *embed_collection(model, recipes, args.cache_dir, progress=False)).values()
    # One mirrored entry for val and test together, split after.
    mirrored = mirrored_features(model, val.rows + test.rows, args.cache_dir).split([len(val.rows), len(test.rows)])
    rows = {}
    for name, flip in (("default_model", False), ("hflip_tta", True)):
        embeds = [with_flip(model, part.embeds, m) if flip else part.embeds for part, m in zip((val, test), mirrored)]
        rows[name] = {
            "name": name,
            "model": shown(args.model),
            "best_epoch": best_epoch(Path(args.model)),
            **score(embeds[0], val.has_recipe, embeds[1], test.has_recipe),
        }
    latency = photo_latency(model, test.rows, QUICK_PHOTOS if args.quick else args.photos)

    from benchmarks.bench_ablations import HEADER, row

    print("\n" + HEADER + "\n" + "\n".join(row(r) for r in rows.values()))
    for name, r in rows.items():
        print(f"{name}: val mean R@1 {val_score(r['val']):.4f}")
    print(
        f"photo query encoding: {latency['plain']['p50_ms']:.1f} ms plain, "
        f"{latency['flip_tta']['p50_ms']:.1f} ms with the mirror (median of {latency['plain']['count']}; "
        f"+{latency['extra_ms_median']:.1f} ms)"
    )
    write_result(
        "flip_tta_quick" if args.quick else "flip_tta",
        {
            "data": args.data,
            "protocol": "ablation protocol: recipe vector chosen on val, test reported",
            "variant": rows["hflip_tta"],
            "baseline": rows["default_model"],
            "photo_query_latency": latency,
            "load_average_start": load_start,
            "load_average_end": load_average(),
            "cpu_cores": os.cpu_count(),
        },
    )


if __name__ == "__main__":
    main()
