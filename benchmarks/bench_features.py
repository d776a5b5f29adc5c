"""Feature extraction throughput of the default backbones: recipe texts/s and titles/s
(all-MiniLM-L6-v2) beside photos/s (EfficientNet-Lite0), each the median of repeats.

    python benchmarks/bench_features.py                  # 256 rows a repeat, 3 repeats
    python benchmarks/bench_features.py --quick          # 8 rows, 2 repeats -> features_quick.json

Each figure times pipeline/features.py's own extractors (extract_text_features, and
extract_views on the plain crop, view 0) over a fixed random draw of the sample (of its
first 120 usable rows with --quick), so lengths follow the sample's; the same draw is
timed every repeat, after one untimed warm-up on other rows, so the spread is the
machine's, not the data's. A recipe row costs its title plus two
passes (ingredients, instructions) of up to 256 tokens; a title row only the title.
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm

from benchmarks.common import ROOT, load_average, spread, write_result
from benchmarks.quick import QUICK_ROWS


def rate(extract, rows: list, repeats: int, what: str) -> dict:
    """Rows per second of `extract(rows)`, one value per repeat."""
    rates = []
    for _ in tqdm(range(repeats), desc=what):
        began = time.perf_counter()
        extract(rows)
        rates.append(len(rows) / (time.perf_counter() - began))
    return {"rows": len(rows), "repeats": repeats, **spread(rates, "_per_s", 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--rows", type=int, default=256, help="rows timed per repeat, per kind")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"8 rows of the first {QUICK_ROWS}, 2 repeats; written to features_quick.json",
    )
    args = p.parse_args()
    rows, repeats = (8, 2) if args.quick else (args.rows, args.repeats)

    import torch

    from model import Retriever, RetrieverConfig
    from pipeline.features import extract_text_features, extract_views
    from pipeline.read import load_recipes

    def extract_photos(batch):
        return extract_views(model, [(r, 0) for r in batch], top=0, progress=False)

    recipes = load_recipes(args.data, progress=False)[: QUICK_ROWS if args.quick else None]
    rng = random.Random(0)
    warmup = 4 if args.quick else 32
    full = rng.sample([r for r in recipes if r.has_recipe], rows + warmup)
    titles = rng.sample([r for r in recipes if not r.has_recipe], rows)
    photos = rng.sample(recipes, rows + warmup)
    model = Retriever(RetrieverConfig()).eval()
    load_start = load_average()
    extract_text_features(model, full[rows:], progress=False)  # warm-up: allocator, thread pool, tokenizer
    extract_photos(photos[rows:])
    text = lambda batch: extract_text_features(model, batch, progress=False)  # noqa: E731
    figures = {
        "torch_threads": torch.get_num_threads(),
        "recipe_rows": rate(text, full[:rows], repeats, "recipe texts"),
        "title_rows": rate(text, titles, repeats, "titles"),
        "photos": rate(extract_photos, photos[:rows], repeats, "photos"),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "cpu_cores": os.cpu_count(),
    }
    for name, label in (("recipe_rows", "recipe texts"), ("title_rows", "titles"), ("photos", "photos")):
        f = figures[name]
        print(
            f"{label:>13}: {f['median_per_s']:.1f}/s median of {repeats} "
            f"(min {f['min_per_s']:.1f}, max {f['max_per_s']:.1f}) over {f['rows']} rows"
        )
    print(f"load average (1, 5, 15 min): {load_start} at start, {figures['load_average_end']} at end")
    write_result("features_quick" if args.quick else "features", {"data": args.data, "quick": args.quick, **figures})


if __name__ == "__main__":
    main()
