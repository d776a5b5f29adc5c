"""The seed designs' finalist at the product's own training tier, beside today's default.

    python benchmarks/bench_default_tier.py --runs /work/runs [--seeds 0 1]

bench_seed_designs.py compares designs at the frozen-heads tier (one view, no fine-tuning),
where a row costs minutes. The default trains harder (4 cached views, the photo backbone's
top 3 blocks fine-tuned, the ingredient-word loss), so a design that wins there is also
trained the default way: `python -m train` with only its flag added, one run per variant
and seed, each in its own folder under --runs. A folder that already holds a finished run
of the same flags and data is read, not trained again (a run is most of an hour on 2
cores). Val chooses (mean R@1 over four directions, the epoch the run kept); test reports
(train's own eval_test.json, the sample's protocol).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, load_average, write_result
from model import preset

# label -> (the flags given to `python -m train`, the config they make, the training options
# they change): today's pooled recipe encoder and the finalist of the frozen-heads table that
# held over its eight paired splits (benchmarks/RESULTS.md), each trained the full way (4
# views, top 3 photo blocks fine-tuned), and the finalist trained the cheap way (the plain
# crop, frozen backbones: a third of the CPU minutes), to tell whether the full way pays.
VARIANTS = {
    "default": (["--recipe-encoder", "pooled"], {"recipe_encoder": "pooled"}, {}),
    "lstm": (["--recipe-encoder", "lstm"], {"recipe_encoder": "lstm"}, {}),
    "lstm-frozen": (
        ["--recipe-encoder", "lstm", "--views", "1", "--finetune-top", "0"],
        {"recipe_encoder": "lstm"},
        {"views": 1, "finetune_top": 0},
    ),
}
DIRECTIONS = ("image_to_recipe", "recipe_to_image", "title_to_image", "image_to_title")


def run_folder(runs: Path, label: str, seed: int) -> Path:
    return runs / (label if seed == 0 else f"{label}-seed{seed}")


def finished(folder: Path, data: str, config: dict, options: dict, seed: int) -> bool:
    """A finished run of today's training defaults with these options, config, data and
    seed, as its own files record them (metrics.json is written last)."""
    from train.loop import TrainOptions

    if not all((folder / name).is_file() for name in ("metrics.json", "eval_test.json", "config.json")):
        return False
    metrics = json.loads((folder / "metrics.json").read_text())
    made = json.loads((folder / "config.json").read_text())
    today = dataclasses.asdict(TrainOptions(seed=seed, **options))
    # An option a run does not record did not exist yet: it trained as that option's default does.
    return (
        (ROOT / metrics["data"]).resolve() == Path(data).resolve()
        and {**today, **metrics["options"]} == today
        and all(made.get(key, "pooled") == value for key, value in config.items())
    )


def train(folder: Path, data: str, flags: list[str], seed: int) -> None:
    command = [sys.executable, "-m", "train", "--data", data, "--out", str(folder), "--seed", str(seed), *flags]
    print("running: " + " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)  # its progress bars go to this terminal


def summary(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    test = json.loads((folder / "eval_test.json").read_text())
    test = test.get("test", test)
    config = json.loads((folder / "config.json").read_text())
    return {
        "folder": str(folder),
        "recipe_encoder": config.get("recipe_encoder", "pooled"),
        "seed": metrics["options"]["seed"],
        "best_epoch": metrics["best_epoch"],
        "val_score": metrics["best_val_score"],
        "test": {d: {k: test[d][k] for k in ("r1", "r10", "medr")} for d in DIRECTIONS},
        "minutes": {k: round(v / 60, 1) for k, v in metrics["seconds"].items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--runs", type=Path, default=ROOT / "artifacts" / "default-tier", help="one folder per run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--only", nargs="*", choices=sorted(VARIANTS), help="variants to run (default: all)")
    args = p.parse_args()
    load_start = load_average()
    rows = []
    for label, (flags, config, options) in VARIANTS.items():
        if args.only and label not in args.only:
            continue
        for seed in args.seeds:
            folder = run_folder(args.runs, label, seed)
            if not finished(folder, args.data, config, options, seed):
                train(folder, args.data, flags, seed)
            row = {"label": label, "flags": flags, "options": options, **summary(folder)}
            rows.append(row)
            t = row["test"]
            print(
                f"{label} seed {seed}: val {row['val_score']:.4f} (epoch {row['best_epoch']}), test im→rec R@1 "
                f"{t['image_to_recipe']['r1']:.3f}, title→im R@1 {t['title_to_image']['r1']:.3f}, "
                f"{row['minutes']['total']:.0f} min",
                flush=True,
            )
    # Rows of other variants or seeds stay from earlier invocations (each names its folder),
    # read only now: another invocation may have written while this one trained.
    stored = RESULTS / "default_tier.json"
    kept = json.loads(stored.read_text())["rows"] if stored.is_file() else []
    ran = {(row["label"], row["seed"]) for row in rows}
    rows = sorted(rows + [x for x in kept if (x["label"], x["seed"]) not in ran], key=lambda x: (x["label"], x["seed"]))
    write_result(
        "default_tier",
        {
            "data": args.data,
            "tier": "python -m train defaults: 4 cached views, top 3 photo blocks fine-tuned, ingredient-word "
            "loss 0.1, 20 epochs (patience 10), except the training options a row names",
            "protocol": "val chooses (mean R@1 of four directions, the run's best epoch); test: 10 bags of 500 "
            "pairs (recipe directions) and of 1,000 (title directions)",
            "rows": rows,
            "default_recipe_encoder": preset("default").recipe_encoder,  # what `python -m train` reads with now
            "load_average": {"start": load_start, "end": load_average()},
        },
    )


if __name__ == "__main__":
    main()
