"""Training cost and quality of the frozen-heads pipeline on a named collection: the speed
reference (issue #2's targets: from nothing, with the cache, photos/s, memory). The
default configuration's quality and cost are measured by bench_quality.py.

    python benchmarks/bench_train.py --data ../shared/data/epicurious

Times a whole run from nothing (photo + text feature extraction, then head training),
a re-run with the feature cache, photo feature throughput, and peak memory; evaluates
the trained model on the test split with the sample's protocol.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, peak_rss_mb, run_timed, write_result

# --quick: a cold and a warm `python -m train` on this many rows (every split still holds a
# few full recipes), and this many photos timed.
QUICK_LIMIT, QUICK_PHOTOS = 60, 16


def photo_throughput(data: str, count: int, warmup: int = 64) -> float:
    """Plain-crop photo features per second through the pipeline's extractor (cold: no
    cache), after `warmup` untimed photos."""
    from model import Retriever, RetrieverConfig
    from pipeline.features import extract_views
    from pipeline.read import load_recipes

    recipes = load_recipes(data, progress=False)[: count + warmup]
    model = Retriever(RetrieverConfig()).eval()
    plain = lambda rows: extract_views(model, [(r, 0) for r in rows], top=0, progress=False)  # noqa: E731
    plain(recipes[:warmup])  # warm-up: allocator, thread pool
    start = time.perf_counter()
    plain(recipes[warmup:])
    return count / (time.perf_counter() - start)


def recall_plot(data: str, model_dir: Path, cache: Path, name: str, limit: int | None = None) -> None:
    """R@K, K = 1..50, per direction on the test split (of the first `limit` rows), as
    benchmarks/<name>.png."""
    from embeddings.serving.hub import load_model
    from model.protocol import BAGS, DIRECTIONS, POOL, RECIPE_POOL
    from pipeline.embed import embed_collection
    from pipeline.read import load_recipes
    from pipeline.splits import select_split
    from train.expansion import expanded_queries
    from train.metrics import recall_curve
    from train.plots import plot_recall_at_k

    model = load_model(str(model_dir))
    recipes = select_split(load_recipes(data, progress=False)[:limit], "test")
    embeds, has_recipe = embed_collection(model, recipes, cache, progress=False)
    field = model.fitted.recipe_vector
    queries = expanded_queries(model, embeds, field)  # as the model is used: with the expansion val chose
    curves, pools = {}, {}
    for direction, (q, c) in DIRECTIONS.items():
        uses_recipe = "recipe" in (q, c)
        rows = has_recipe if uses_recipe else has_recipe | ~has_recipe
        candidates = embeds[field if c == "recipe" else c][rows]
        pool = RECIPE_POOL if uses_recipe else POOL
        pools[direction] = min(int(rows.sum()), pool)
        curves[direction] = recall_curve(queries[direction][rows], candidates, pool=pool)
    plot_recall_at_k(
        curves, pools, ROOT / "benchmarks" / f"{name}.png", f"R@K on the Epicurious sample's test split ({BAGS} bags)"
    )


def main() -> None:
    from model.protocol import BAGS, POOL, RECIPE_POOL

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument(
        "--work", type=Path, default=ROOT / "artifacts" / "bench-train", help="scratch folder (models, cache, logs)"
    )
    p.add_argument("--photos", type=int, default=512, help="photos timed for throughput")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_LIMIT} rows, 3 epochs, {QUICK_PHOTOS} photos, test scored on those rows only: "
        "a smoke run, figures not comparable",
    )
    args = p.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    limit = QUICK_LIMIT if args.quick else None
    # Pinned to the configuration whose figures results/train.json holds (frozen backbones,
    # one plain view, 30 epochs), whatever the current defaults are.
    frozen = ["--views", "1", "--finetune-top", "0", "--ingredient-weight", "0", "--epochs", "30"]
    extra = [*frozen, "--limit", str(limit), "--epochs", "3"] if args.quick else frozen

    photos_per_s = photo_throughput(args.data, *((QUICK_PHOTOS, 8) if args.quick else (args.photos, 64)))
    cache = args.work / "cache"
    base = [sys.executable, "-m", "train", "--data", args.data, "--cache-dir", str(cache), "--quiet", *extra]
    cold = run_timed(base + ["--out", str(args.work / "cold")], args.work / "cold.log")
    warm = run_timed(base + ["--out", str(args.work / "warm")], args.work / "warm.log")
    peak = peak_rss_mb(children=True)
    if args.quick:  # the test rows of the few the run read, as training scored them: no features of the whole split
        evaluation = args.work / "cold" / "eval_test.json"
    else:
        evaluation = args.work / "eval_test.json"
        run_timed(
            [
                sys.executable,
                "-m",
                "train.evaluate",
                "--model",
                str(args.work / "cold"),
                "--data",
                args.data,
                "--split",
                "test",
                "--cache-dir",
                str(cache),
                "--json",
                str(evaluation),
                "--quiet",
            ],
            args.work / "eval.log",
        )
    test = json.loads(evaluation.read_text())
    recall_plot(args.data, args.work / "cold", cache, "recall_at_k_quick" if args.quick else "recall_at_k", limit)
    metrics = json.loads((args.work / "cold" / "metrics.json").read_text())

    print(f"photo features: {photos_per_s:.1f} photos/s (target >= 20)")
    print(
        f"whole run from nothing: {cold / 60:.1f} min (target <= 20); "
        f"with the feature cache: {warm / 60:.1f} min (target <= 3)"
    )
    print(f"peak memory of a training run: {peak / 1024:.2f} GB (target <= 6)")
    print(f"best epoch {metrics['best_epoch']} of {len(metrics['epochs'])}; recipe vector: {metrics['recipe_vector']}")
    for direction, m in test.items():
        print(
            f"  test {direction:<16} pool {m['pool']:>4} x {m['bags']} bags: MedR {m['medr']:.1f}  "
            f"R@1 {m['r1']:.3f}±{m['r1_std']:.3f}  R@5 {m['r5']:.3f}  R@10 {m['r10']:.3f}"
        )
    write_result(
        "train_quick" if args.quick else "train",
        {
            "data": args.data,
            "quick": args.quick,
            "photos_per_second": photos_per_s,
            "minutes_from_nothing": cold / 60,
            "minutes_with_cache": warm / 60,
            "peak_rss_gb": peak / 1024,
            "best_epoch": metrics["best_epoch"],
            "recipe_vector": metrics["recipe_vector"],
            "protocol": f"test split; {BAGS} bags of {RECIPE_POOL} pairs (recipe directions), {BAGS} bags of {POOL:,} "
            "(title directions); one bag of all pairs when fewer",
            "test": test,
        },
    )


if __name__ == "__main__":
    main()
