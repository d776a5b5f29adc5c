"""`make bench`: run every benchmark, then write benchmarks/RESULTS.md from their JSON.

    python -m benchmarks.run [--quick] [--only train ablations ...] [--work DIR]

Each benchmark writes benchmarks/results/<name>.json with the command that made it; the
report below only formats those files, so every number in RESULTS.md is printed by code.
--quick runs each benchmark's smoke version (written to *_quick.json, never reported as
results; under 5 minutes in all) and skips those that have none. The wall time of each
step and of the whole run goes to benchmarks/results/run.json under "full" or "quick".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, load_average, machine
from benchmarks.report import write_report

# name -> (script in benchmarks/, its arguments, its quick arguments or None when it has no quick version)
STEPS = {
    "train": ("bench_train.py", [], ["--quick"]),
    # The quality ladder trains four configurations (about 25 minutes with a warm feature
    # cache); no quick version: even 500 rows take minutes of extraction per photo entry.
    "quality": ("bench_quality.py", [], None),
    "ablations": ("bench_ablations.py", [], ["--quick"]),
    # Eight frozen-heads trainings on eight train/val/test draws (about 8 minutes with a
    # warm feature cache); one draw says nothing about the spread, so no quick version.
    "split_noise": ("bench_split_noise.py", [], None),
    # After ablations: its row joins the ablation table. Needs mirrored-photo features of
    # val and test (minutes, once), so no quick version.
    "flip_tta": ("bench_flip_tta.py", [], None),
    # Fits query expansion into a copy of the model and scores test with and without it
    # (minutes: embeds the collection once; no quick version).
    "query_expansion": ("bench_query_expansion.py", [], None),
    "features": ("bench_features.py", [], ["--quick"]),
    "index": ("bench_index.py", ["--part", "build", "--part", "dtype", "--part", "sample-search", "--part", "synthetic"],
              ["--part", "synthetic", "--quick"]),
    "app": ("bench_app.py", [], None),
    "load": ("bench_load.py", [], ["--quick"]),
    "seed": ("bench_seed.py", [], ["--quick"]),
}
# Which options of this runner each step takes (and under which name).
PASS = {"data": ("train", "quality", "ablations", "split_noise", "query_expansion", "flip_tta", "features", "load", "seed"),
        "model": ("index", "flip_tta", "seed", "query_expansion"), "index": ("app", "load")}
WORK = {"train": "bench-train", "ablations": "lab", "split_noise": "lab-splits", "query_expansion": "bench-expansion", "index": "bench-index"}  # scratch folders under --work
# Quick runs use one torch thread. On 2 cores that other work shares, torch's two threads
# wait on each other at every op: a head-training step measured 22 ms median but 1.8 s at
# p90 with two threads, 26 ms at p90 with one (the app serves with one thread for the
# same reason, ui/search.py). Smoke runs want a predictable wall time, not peak speed.
QUICK_ENV = {"OMP_NUM_THREADS": "1"}


def step_command(name: str, args) -> list[str] | None:
    script, full, quick = STEPS[name]
    if args.quick and quick is None:
        return None
    command = [f"benchmarks/{script}", *(quick if args.quick else full)]
    for option, steps in PASS.items():
        if getattr(args, option) and name in steps:
            command += [f"--{option}", getattr(args, option)]
    if args.work and name in WORK:
        command += ["--work", str(Path(args.work) / WORK[name])]
    return command


def record(mode: str, figures: dict) -> None:
    """benchmarks/results/run.json keeps the last full and the last quick run side by side."""
    path = RESULTS / "run.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    saved[mode] = {**machine(), **figures}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller runs (under 5 minutes in all), for development")
    p.add_argument("--only", nargs="*", choices=list(STEPS), help="run only these (default: all)")
    p.add_argument("--data", help="collection (default: ../shared/data/epicurious)")
    p.add_argument("--model", help="trained model folder for the index, flip and seed benchmarks")
    p.add_argument("--index", help="index folder for the app and load benchmarks")
    p.add_argument("--work", help="scratch folder for the training, ablation and index benchmarks "
                                  "(default: each benchmark's own, under artifacts/ or /tmp)")
    args = p.parse_args()
    started, load_start, seconds = time.perf_counter(), load_average(), {}
    for name in args.only or list(STEPS):
        command = step_command(name, args)
        if command is None:
            print(f"skipping {name} in --quick mode (it has no small version)")
            continue
        print(f"== {name}: {' '.join(command)}", flush=True)
        began = time.perf_counter()
        subprocess.run([sys.executable, *command], cwd=ROOT, check=True, env={**os.environ, **(QUICK_ENV if args.quick else {})})
        seconds[name] = round(time.perf_counter() - began, 1)
    # Recorded before the report (which takes about a second) so the report can show it.
    wall = time.perf_counter() - started
    record("quick" if args.quick else "full", {
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:]), "wall_seconds": round(wall, 1),
        "step_seconds": seconds, "environment": QUICK_ENV if args.quick else {},
        "load_average_start": load_start, "load_average_end": load_average()})
    print(f"written {write_report().relative_to(ROOT)}")
    print(f"benchmarks.run{' --quick' if args.quick else ''}: {wall / 60:.1f} min ({wall:.0f} s) in all; "
          + ", ".join(f"{n} {s:.0f} s" for n, s in seconds.items()))


if __name__ == "__main__":
    main()
