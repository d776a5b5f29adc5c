"""App figures: latency of each handler as the server calls it, in this process (the model
and index loaded as app.py loads them). The served app's start-up time and resident memory
are measured where it is served anyway: benchmarks/bench_load.py.

    python benchmarks/bench_app.py                           # artifacts/index + its model
    python benchmarks/bench_app.py --index DIR [--model DIR] [--repeats 40]
    python benchmarks/bench_app.py --quick --index DIR       # 5 timed calls per handler -> app_quick.json

Figures, not tests: timings depend on the machine (and on what else runs on it). Results
are printed with the command that made them and written to benchmarks/results/app.json.
Targets from the issue: photo->recipe median <= 150 ms, title->recipe median <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from benchmarks.common import SAMPLE_PHOTOS, TOP_K, peak_rss_mb, write_result  # noqa: E402


def timings(call, queries: list, warmup: int) -> dict:
    """Median and p95 in ms over `queries`, after `warmup` untimed calls."""
    for query in queries[:warmup]:
        call(query)
    spent = []
    for query in queries[warmup:]:
        start = time.perf_counter()
        call(query)
        spent.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": round(float(np.median(spent)), 1),
        "p95_ms": round(float(np.percentile(spent, 95)), 1),
        "calls": len(spent),
    }


def handler_latency(args) -> dict:
    from ui.search import RecipeSearch, configure_torch_for_serving
    from ui.startup import load

    configure_torch_for_serving()  # as app.build_demo does

    started = time.perf_counter()
    index, model, model_from = load(args.index, args.model)
    load_s = time.perf_counter() - started
    # The handlers open photo paths only inside the folders named here (in the app: Gradio's
    # upload folder); the sample's photos are read from where they are, as uploads would be.
    thumbnails = Path(tempfile.mkdtemp(prefix="bench-app-thumbnails-"))
    search = RecipeSearch(index, model, thumbnails, photo_folders=[SAMPLE_PHOTOS, thumbnails])
    n = args.repeats + args.warmup
    photos = sorted(SAMPLE_PHOTOS.glob("*.jpg"))[::97][:n] if SAMPLE_PHOTOS.is_dir() else []
    if len(photos) < n:  # no sample here: the index's own thumbnails, written to files
        photos = [search.thumbnails.path(row) for row in range(0, index.count, max(1, index.count // n))][:n]
    rows = np.linspace(0, index.count - 1, n).astype(int)
    recipe_rows = np.flatnonzero(search.has_recipe)[:: max(1, int(search.has_recipe.sum()) // n)][:n]
    table = index.recipes
    figures = {
        "index_rows": index.count,
        "model": str(model_from),
        "model_preset": index.manifest["model"].get("preset"),
        "load_index_and_model_s": round(load_s, 2),
        "photo_to_recipe": timings(lambda p: search.photo_to_recipe(str(p), TOP_K), photos, args.warmup),
        "title_to_recipe": timings(
            lambda t: search.title_to_recipe(t, TOP_K), [table.title.iat[r] for r in rows], args.warmup
        ),
        "recipe_to_photo": timings(
            lambda r: search.recipe_to_photo(
                "\n".join(table.ingredients.iat[r]), "\n".join(table.instructions.iat[r]), TOP_K
            ),
            list(recipe_rows),
            args.warmup,
        ),
        "similar_photos": timings(lambda p: search.similar_photos(str(p), TOP_K), photos[::-1], args.warmup),
        "benchmark_process_peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", help="default: $RECIPE_INDEX or artifacts/index, as app.py")
    parser.add_argument("--model", help="default: the model the index names")
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per handler")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5 timed calls per handler after 1 warm-up: a smoke run, written to app_quick.json",
    )
    parser.add_argument(
        "--result", default="app", help="results file name (RECIPE_ENGINE=torch ... --result app_torch: the baseline)"
    )
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.warmup = 5, 1
    load_before = os.getloadavg()[0]
    latency = handler_latency(args)
    import torch

    figures = {
        "torch_threads": torch.get_num_threads(),
        "top_k": TOP_K,
        **latency,
        # Other processes' load on this machine during the run: timings are only
        # comparable between runs with similar load.
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_cores": os.cpu_count(),
    }
    for name, value in figures.items():
        print(f"{name:>32}: {value}")
    write_result("app_quick" if args.quick else args.result, figures)


if __name__ == "__main__":
    main()
