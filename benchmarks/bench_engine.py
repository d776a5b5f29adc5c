"""The inference engine (model/engine.py) against eager torch, in one run, same inputs:

1. throughput, one and two threads: the photo backbone (EfficientNet-Lite0, 224 px, the
   sample's own photos) in photos/s, and the text backbone (all-MiniLM-L6-v2 over the
   sample's ingredient lines and method sentences, 64 tokens, as the LSTM default reads
   them) in lines/s; torch eager (channels-last, as the product runs it) vs ONNX Runtime
   fp32 vs dynamic int8;
2. parity on a trained model's val split: every row embedded through torch, the engine at
   fp32 and with the text backbone at int8; the largest cosine gap to torch per field, and
   R@1 in every direction (the protocol's bags) for each.

    python benchmarks/bench_engine.py --model /work/runs/quick/model
    python benchmarks/bench_engine.py --quick      # a few rows, no model: the smoke run
    python benchmarks/bench_engine.py --model DIR --tower   # a photo query: heads in torch or in the graph
    python benchmarks/bench_engine.py --photo-presets lite2 # + Lite2's photo pass at 260 px

Writes benchmarks/results/engine.json (engine_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from tqdm import tqdm

from benchmarks.common import load_average, spread, write_result

PRECISIONS = {"torch": None, "engine fp32": {"image": "fp32", "text": "fp32"}}
PRECISIONS["engine text int8"] = {"image": "fp32", "text": "int8"}


def timed(run, repeats: int) -> list[float]:
    run()  # warm-up: the first call allocates
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return times


def throughput(recipes, photos: int, lines: int, repeats: int, presets: tuple[str, ...] = ("default",)) -> dict:
    """Rows/s of each pass on each path, at one and two threads; the photo pass of each
    preset's backbone (its own photo size), the text pass of the default's."""
    from model import engine
    from model.encoders import ImageBackbone, TextBackbone
    from model.preprocess import image_transform, to_rgb
    from model.recipe_lines import split_lines
    from train.run_config import load_preset

    config = load_preset("default").model
    text = TextBackbone(config.recipe_backbone).eval()
    draw = random.Random(0).sample(recipes, min(len(recipes), max(photos, lines)))
    pool = [line for r in draw for part in split_lines(r.ingredients, r.instructions, 32, 32) for line in part]
    tokens = text.tokenize(pool[:lines], config.recipe_line_max_tokens)
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    folder = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    graphs, images = {}, {}
    for name in presets:
        settings = load_preset(name).model
        what = "photo" if name == "default" else f"photo {name}"
        image = ImageBackbone(settings.image_backbone, settings.image_weights).eval()
        transform = image_transform(settings)
        images[what] = (image, torch.stack([transform(to_rgb(r.open_image())) for r in draw[:photos]]))
        for precision in ("fp32", "int8"):
            module, inputs, names, fingerprint = engine.image_pass(image, settings, None)
            try:
                engine.export_graph(module, inputs, names, folder / f"{what}-{precision}.onnx", fingerprint, precision)
                graphs[(what, precision)] = folder / f"{what}-{precision}.onnx"
            except engine.EngineError as error:  # int8 convolutions may not hold parity
                print(f"{what} {precision}: {error}")
    for precision in ("fp32", "int8"):
        module, inputs, names, fingerprint = engine.text_pass(text, config.recipe_line_max_tokens)
        engine.export_graph(module, inputs, names, folder / f"text-{precision}.onnx", fingerprint, precision)
        graphs[("text", precision)] = folder / f"text-{precision}.onnx"
    out = {"photos": photos, "lines": len(ids), "line_tokens": int(ids.shape[1])}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            runs = {(what, "torch"): (lambda m=m, x=x: m(x)) for what, (m, x) in images.items()}
            runs[("text", "torch")] = lambda: text.forward_tokens(ids, mask)
            for (what, precision), path in graphs.items():
                graph = engine.Graph(path, {}, threads)
                pixels = images[what][1] if what in images else None
                runs[(what, precision)] = (
                    (lambda g=graph, x=pixels: g(x)) if what != "text" else (lambda g=graph: g(ids, mask))
                )
            for (what, path_name), run in tqdm(runs.items(), desc=f"{threads} thread(s)"):
                rows = photos if what != "text" else len(ids)
                rates = [rows / t for t in timed(run, repeats)]
                out[f"{what} {path_name}, {threads} thread(s)"] = spread(rates, "_per_s", 1)
    return out


def parity(model_dir: str, recipes, bags: int) -> dict:
    """Val embedded three ways: cosine gaps to torch and R@1 per direction."""
    from model import engine, load_pretrained
    from pipeline.embed import embed_collection
    from train.metrics import evaluate_embeddings

    model = load_pretrained(model_dir)
    folder = Path(tempfile.mkdtemp(prefix="bench-engine-parity-"))
    embeds, out = {}, {}
    for name, precision in PRECISIONS.items():
        began = time.perf_counter()
        with engine.attached(model, folder, precision):
            embeds[name], has_recipe = embed_collection(model, recipes, None, progress=True)
        seconds = time.perf_counter() - began
        results = evaluate_embeddings(embeds[name], has_recipe, bags=bags, recipe_field=model.fitted.recipe_vector)
        out[name] = {"seconds": round(seconds, 1), "r1": {d: round(r["r1"], 4) for d, r in results.items()}}
        if name != "torch":
            gaps = {}
            for field in ("image", "title", "recipe"):
                rows = has_recipe if field == "recipe" else torch.ones_like(has_recipe)
                cos = torch.nn.functional.cosine_similarity(embeds[name][field][rows], embeds["torch"][field][rows])
                gaps[field] = round(float(1 - cos.min()), 6)
            out[name]["largest_cosine_gap"] = gaps
    return out


def tower(model_dir: str, recipes, repeats: int) -> dict:
    """A served photo query's model time, one photo at a time as the app runs it (one thread):
    torch end to end; the backbone's graph with the heads in torch (what the app runs); the
    backbone and the heads in ONE graph. Median ms over `repeats` photos of the sample."""
    from model import engine, load_pretrained

    model = load_pretrained(model_dir).eval()
    torch.set_num_threads(1)
    photos = [model.pixel_values([r.open_image()]) for r in random.Random(1).sample(recipes, repeats)]

    class PhotoTower(torch.nn.Module):  # pixels -> the searched unit vector
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model.embed_image_features(self.model.image_encoder.torch_forward(pixels))

    folder = Path(tempfile.mkdtemp(prefix="bench-engine-tower-"))
    one = folder / "photo-tower.onnx"
    example = (engine.example_pixels(model.config),)
    engine.export_graph(PhotoTower(), example, ["pixels"], one, "bench", "fp32")
    one_graph = engine.Graph(one, {}, threads=1)
    out = {"model": model_dir, "photos": repeats, "threads": 1}

    def median_ms(run) -> float:
        for pixels in photos[:3]:  # warm-up: the first calls allocate
            run(pixels)
        times = []
        for pixels in photos:
            began = time.perf_counter()
            run(pixels)
            times.append(time.perf_counter() - began)
        return round(1000 * sorted(times)[len(times) // 2], 2)

    with torch.inference_mode():
        out["torch end to end"] = median_ms(model.encode_image)
        with engine.attached(model, folder, {"image": "fp32", "text": "fp32"}, text=False):
            out["backbone graph, heads in torch (served)"] = median_ms(model.encode_image)
            features = model.image_features(photos[0])
            out["heads alone, torch"] = median_ms(lambda _: model.embed_image_features(features))
        out["backbone and heads in one graph"] = median_ms(one_graph)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/epicurious"))
    parser.add_argument("--model", help="a trained model folder: adds the val parity table")
    parser.add_argument("--quick", action="store_true", help="a few rows and repeats, no parity")
    parser.add_argument("--bags", type=int, default=10)
    parser.add_argument("--tower", action="store_true", help="only a photo query's model time (needs --model)")
    parser.add_argument(
        "--photo-presets", nargs="+", default=["default"], help="time these presets' photo backbones too (lite2)"
    )
    args = parser.parse_args(argv)
    from pipeline.read import load_recipes
    from pipeline.splits import select_split

    recipes = load_recipes(args.data, progress=False)
    full = [r for r in recipes if r.has_recipe]
    started = load_average()
    if args.tower:
        result = {"load_start": started, **tower(args.model, select_split(recipes, "val"), 60)}
        path = write_result("engine_tower", {**result, "load_end": load_average()})
        print(result, f"\nwrote {path}")
        return 0
    size = (8, 16, 2) if args.quick else (32, 128, 5)
    result = {
        "load_start": started,
        "throughput": throughput(full, *size, tuple(dict.fromkeys(["default", *args.photo_presets]))),
    }
    if args.model and not args.quick:
        result["model"] = args.model
        result["parity"] = parity(args.model, select_split(recipes, "val"), args.bags)
    result["load_end"] = load_average()
    # Other presets' photo passes go to a file of their own: engine.json keeps its parity table.
    extra = [name for name in args.photo_presets if name != "default"]
    name = "engine_quick" if args.quick else "_".join(["engine", *extra])
    path = write_result(name, result)
    for key, value in result["throughput"].items():
        print(f"{key}: {value}")
    for name, row in result.get("parity", {}).items():
        print(name, row)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
