"""Retrieval quality against the CPU minutes it costs: each step of the quality ladder,
trained with `python -m train` on the sample, scored on its test split.

    python benchmarks/bench_quality.py [--data DIR] [--quick] [--only STEP ...]

Each step is one `python -m train` run with the flags shown, sharing train's feature
cache (--cache-dir): a step's training time is measured on its run. A step's cost is what
it would take from nothing: that training time plus the extraction of every cache entry it
reads (text features; the plain photo crops or a set of views), priced at extraction
rates measured here on a slice of the collection (photos and recipe texts per second) times
the entry's item count, so the ladder needs no hour of cold extraction per step.
Choices were made on val (each run selects its epoch on val); the test split is only
reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, machine, run_timed, write_result
from benchmarks.quick import QUICK_ROWS
from model.protocol import BAGS, POOL, RECIPE_POOL

# name -> flags of `python -m train`, in the order each lever was added. Every step names
# every lever, so a step means the same whatever the current defaults are.
BASE = ["--epochs", "20", "--backbone-lr", "3e-5"]
POOLED, LSTM = ["--recipe-encoder", "pooled"], ["--recipe-encoder", "lstm"]
TUNED = [*BASE, "--views", "4", "--ingredient-weight", "0.1", "--finetune-top", "3"]
STEPS = {
    "frozen heads": [*BASE, *POOLED, "--views", "1", "--ingredient-weight", "0", "--finetune-top", "0"],
    "+ 4 cached augmented views": [*BASE, *POOLED, "--views", "4", "--ingredient-weight", "0", "--finetune-top", "0"],
    "+ ingredient-word loss": [*BASE, *POOLED, "--views", "4", "--ingredient-weight", "0.1", "--finetune-top", "0"],
    "+ top 3 photo blocks fine-tuned": [*TUNED, *POOLED],
    "+ LSTM recipe encoder": [*TUNED, *LSTM],
}


def flag(flags: list[str], name: str, default: str) -> str:
    return flags[flags.index(name) + 1] if name in flags else default


def measure_rates(recipes: list, sample: int = 256) -> dict:
    """Items per second of each extraction kind on a slice of the collection (cold, no cache)."""
    from model import Retriever, RetrieverConfig
    from pipeline.features import extract_text_features, extract_views
    from pipeline.lines import extract_line_features

    model = Retriever(RetrieverConfig()).eval()
    full = [r for r in recipes if r.has_recipe][:sample]
    rates = {}
    for kind, items in (
        ("plain_photo", [(r, 0) for r in recipes[:sample]]),
        ("augmented_photo", [(r, 1) for r in recipes[:sample]]),
    ):
        extract_views(model, items[:32], 3, progress=False)  # warm-up: first-batch costs are not per-item costs
        start = time.perf_counter()
        extract_views(model, items, 3, progress=False)
        rates[kind] = len(items) / (time.perf_counter() - start)
    start = time.perf_counter()
    extract_text_features(model, full, progress=False)  # titles and recipes of these rows
    rates["recipe_with_title"] = len(full) / (time.perf_counter() - start)
    start = time.perf_counter()
    extract_text_features(model, [r for r in recipes if not r.has_recipe][:sample], progress=False)
    rates["title_only"] = sample / (time.perf_counter() - start)
    start = time.perf_counter()
    extract_line_features(model, full, progress=False)  # one vector per ingredient line and sentence
    rates["recipe_lines"] = len(full) / (time.perf_counter() - start)  # full recipes a second
    return rates


def extraction_minutes(flags: list[str], rates: dict, counts: dict) -> float:
    """What the cache entries this step reads cost to extract from nothing."""
    views = int(flag(flags, "--views", "1"))
    text = counts["full"] / rates["recipe_with_title"] + counts["title_only"] / rates["title_only"]
    if flag(flags, "--recipe-encoder", "pooled") != "pooled":
        text += counts["full"] / rates["recipe_lines"]
    photos = counts["rows"] / rates["plain_photo"] + counts["train"] * (views - 1) / rates["augmented_photo"]
    return (text + photos) / 60


def run_step(name: str, flags: list[str], data: str, work: Path, cache: Path, extra: list[str]) -> dict:
    out = work / name.strip("+ ").replace(" ", "_")
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "train",
        "--data",
        data,
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        *flags,
        *extra,
    ]
    print(f"{name}: {' '.join(command[1:])}", flush=True)
    wall = run_timed(command, work / f"{out.name}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "name": name,
        "measured": {k: v for k, v in machine().items() if k in ("date", "commit")},
        "flags": flags,
        "command": " ".join(["python", *command[1:]]),
        "wall_seconds": wall,
        "training_minutes": metrics["seconds"]["training"] / 60,
        "best_epoch": metrics["best_epoch"],
        "best_val_score": metrics["best_val_score"],
        "recipe_vector": metrics["recipe_vector"],
        "out": str(out),
        "test": json.loads((out / "eval_test.json").read_text()),
        # eval_test.json uses the query expansion training chose on val; the plain queries' figures:
        "test_plain": json.loads((out / "eval_test_plain.json").read_text()),
        "query_expansion": metrics.get("query_expansion"),
    }


def plot(steps: list[dict], path: Path) -> None:
    from train.plots import save_figure  # first: it sets the Agg backend pyplot then uses

    # isort: split
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for direction, label in (
        ("image_to_recipe", f"image→recipe ({RECIPE_POOL}-pair bags)"),
        ("title_to_image", f"title→image ({POOL:,}-pair bags)"),
    ):
        xs = [s["cost_minutes"] for s in steps]
        ys = [s["test"][direction]["r1"] for s in steps]
        ax.plot(xs, ys, "o-", label=label)
    for s in steps:
        ax.annotate(
            s["name"],
            (s["cost_minutes"], s["test"]["image_to_recipe"]["r1"]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlabel("CPU minutes from nothing (2 cores: features + training)")
    ax.set_ylabel("test R@1")
    ax.set_title("Quality against training cost, Epicurious sample")
    ax.grid(alpha=0.3)
    ax.margins(x=0.2)
    ax.legend(loc="center right")
    save_figure(fig, path, dpi=120)


def main() -> None:
    from pipeline.features import DEFAULT_CACHE
    from pipeline.read import load_recipes
    from pipeline.splits import split_of

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--only", nargs="*", choices=list(STEPS), help="steps to run (default: all)")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"the first {QUICK_ROWS} usable rows, 3 epochs: checks the ladder runs, scores mean nothing",
    )
    p.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="train's feature cache (shared with python -m train)"
    )
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "bench-quality")
    p.add_argument(
        "--reprice",
        action="store_true",
        help="only re-measure the extraction rates (e.g. on a quieter machine) and re-price the steps "
        "of the last results/quality.json; training is not re-run",
    )
    args = p.parse_args()
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    extra = ["--limit", str(QUICK_ROWS), "--epochs", "3"] if args.quick else []
    recipes = load_recipes(args.data, progress=False)[: QUICK_ROWS if args.quick else None]
    counts = {
        "rows": len(recipes),
        "full": sum(r.has_recipe for r in recipes),
        "title_only": sum(not r.has_recipe for r in recipes),
        "train": sum(split_of(r.id) == "train" for r in recipes),
    }
    started = time.time()
    load_before = os.getloadavg()[0]
    rates = measure_rates(recipes, sample=64 if args.quick else 256)
    rates_load = {"before": load_before, "after": os.getloadavg()[0]}
    print(
        "extraction rates (items/s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in rates.items())
        + f"; load average {rates_load['before']:.1f} -> {rates_load['after']:.1f}",
        flush=True,
    )
    name = "quality_quick" if args.quick else "quality"
    if args.reprice:
        previous = json.loads((RESULTS / f"{name}.json").read_text())
        steps, started = previous["steps"], time.time() - previous["bench_minutes"] * 60
    else:
        steps = [
            run_step(n, flags, args.data, work, args.cache_dir, extra)
            for n, flags in STEPS.items()
            if not args.only or n in args.only
        ]
        if args.only and (RESULTS / f"{name}.json").is_file():  # --only re-runs those steps in the stored ladder
            fresh = {s["name"]: s for s in steps}
            before = json.loads((RESULTS / f"{name}.json").read_text())
            kept = {s["name"]: s for s in before["steps"]}
            for s in kept.values():  # a kept step keeps the date and commit it was trained at
                s.setdefault("measured", {k: before[k] for k in ("date", "commit")})
            steps = [fresh.get(n) or kept[n] for n in STEPS if n in fresh or n in kept]
    for step in steps:
        step["extraction_minutes"] = extraction_minutes(step["flags"], rates, counts)
        step["cost_minutes"] = step["extraction_minutes"] + step["training_minutes"]
    # The default is the best step on val: its R@K curves, K = 1..50, on the test split.
    from benchmarks.bench_train import recall_plot

    best = max(steps, key=lambda s: s["best_val_score"])
    recall_plot(
        args.data,
        Path(best["out"]),
        args.cache_dir,
        "recall_at_k_default_quick" if args.quick else "recall_at_k_default",
        QUICK_ROWS if args.quick else None,
    )
    for s in steps:
        t = s["test"]
        print(
            f"{s['name']:<34} {s['cost_minutes']:6.1f} min  im→rec R@1 {t['image_to_recipe']['r1']:.3f} "
            f"R@10 {t['image_to_recipe']['r10']:.3f} MedR {t['image_to_recipe']['medr']:.1f}  "
            f"title→im R@1 {t['title_to_image']['r1']:.3f}",
            flush=True,
        )
    plot(steps, ROOT / "benchmarks" / f"{name}_vs_minutes.png")
    write_result(
        name,
        {
            "data": args.data,
            "protocol": f"test split; {BAGS} bags of {RECIPE_POOL} pairs (image→recipe, recipe→image), "
            f"{BAGS} bags of {POOL:,} (title→image, image→title); epochs and recipe vector "
            "chosen on val",
            "cost": "extraction of every cache entry a step reads, at the measured rates, plus its measured training",
            "extraction_rates_per_second": rates,
            "load_average_while_measuring_rates": rates_load,
            "counts": counts,
            "bench_minutes": (time.time() - started) / 60,
            "steps": steps,
        },
    )


if __name__ == "__main__":
    main()
