"""Retrieval quality against the CPU minutes it costs: each step of the quality ladder,
trained with `python -m train` on the sample, scored on its test split.

    python benchmarks/bench_quality.py [--data DIR] [--quick] [--only STEP ...]

Each step is one `python -m train` run with the flags shown; all share one feature cache
under artifacts/bench-quality/cache, which starts empty, so the first run that needs a
cache entry (text features, plain photo features, a set of views) pays its extraction.
A step's cost is what it would take from nothing: the measured extraction time of every
entry it reads plus its own training time. Choices were made on val (the runs select
their epoch on val); the test split is only reported.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, run_timed, write_result  # noqa: E402

# name -> flags of `python -m train`, in the order each lever was added.
STEPS = {
    "frozen heads": [],
    "+ 4 cached augmented views": ["--views", "4"],
    "+ ingredient-word loss": ["--views", "4", "--ingredient-weight", "0.1"],
    "+ top 3 photo blocks fine-tuned": ["--views", "4", "--ingredient-weight", "0.1", "--finetune-top", "3"],
}


def photo_entry(flags: list[str]) -> str:
    """Which photo cache entry a run reads: the plain crops, or a (views, top) set."""
    views = flags[flags.index("--views") + 1] if "--views" in flags else "1"
    top = flags[flags.index("--finetune-top") + 1] if "--finetune-top" in flags else "0"
    return "plain" if (views, top) == ("1", "0") else f"views={views},top={top}"


def run_step(name: str, flags: list[str], data: str, work: Path, extra: list[str], cold: dict) -> dict:
    out = work / name.strip("+ ").replace(" ", "_")
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "train", "--data", data, "--out", str(out), "--cache-dir", str(work / "cache"),
               *flags, *extra]
    print(f"{name}: {' '.join(command[1:])}", flush=True)
    wall = run_timed(command, work / f"{out.name}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    seconds = metrics["seconds"]
    # The first run that needs an entry extracts it: remember that cost for later runs.
    cold.setdefault("text", seconds["text_features"])
    cold.setdefault(photo_entry(flags), seconds["photo_features"])
    cost = cold["text"] + cold[photo_entry(flags)] + seconds["training"]
    return {"name": name, "flags": flags, "command": " ".join(["python", *command[1:]]), "wall_seconds": wall,
            "cost_minutes": cost / 60, "training_minutes": seconds["training"] / 60, "best_epoch": metrics["best_epoch"],
            "best_val_score": metrics["best_val_score"], "recipe_vector": metrics["recipe_vector"],
            "test": json.loads((out / "eval_test.json").read_text())}


def plot(steps: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for direction, label in (("image_to_recipe", "image→recipe (500-pair bags)"),
                             ("title_to_image", "title→image (1,000-pair bags)")):
        xs = [s["cost_minutes"] for s in steps]
        ys = [s["test"][direction]["r1"] for s in steps]
        ax.plot(xs, ys, "o-", label=label)
    for s in steps:
        ax.annotate(s["name"], (s["cost_minutes"], s["test"]["image_to_recipe"]["r1"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("CPU minutes from nothing (2 cores: features + training)")
    ax.set_ylabel("test R@1")
    ax.set_title("Quality against training cost, Epicurious sample")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--only", nargs="*", choices=list(STEPS), help="steps to run (default: all)")
    p.add_argument("--quick", action="store_true", help="500 rows, 3 epochs: checks the ladder runs, scores mean nothing")
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "bench-quality")
    args = p.parse_args()
    work = args.work / ("quick" if args.quick else "full")
    shutil.rmtree(work / "cache", ignore_errors=True)  # every entry's extraction is measured cold
    work.mkdir(parents=True, exist_ok=True)
    extra = ["--limit", "500", "--epochs", "3"] if args.quick else []
    cold: dict[str, float] = {}
    started = time.time()
    steps = [run_step(name, flags, args.data, work, extra, cold) for name, flags in STEPS.items()
             if not args.only or name in args.only]
    for s in steps:
        t = s["test"]
        print(f"{s['name']:<34} {s['cost_minutes']:6.1f} min  im→rec R@1 {t['image_to_recipe']['r1']:.3f} "
              f"R@10 {t['image_to_recipe']['r10']:.3f} MedR {t['image_to_recipe']['medr']:.1f}  "
              f"title→im R@1 {t['title_to_image']['r1']:.3f}", flush=True)
    name = "quality_quick" if args.quick else "quality"
    plot(steps, ROOT / "benchmarks" / f"{name}_vs_minutes.png")
    write_result(name, {"data": args.data, "protocol": "test split; 10 bags of 500 pairs (image→recipe, recipe→image), "
                        "10 bags of 1,000 (title→image, image→title); epochs and recipe vector chosen on val",
                        "cold_extraction_seconds": cold, "bench_minutes": (time.time() - started) / 60, "steps": steps})


if __name__ == "__main__":
    main()
