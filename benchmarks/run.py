"""`make bench`: run every benchmark, then write benchmarks/RESULTS.md from their JSON.

    python -m benchmarks.run [--quick] [--only train ablations index app]

Each benchmark writes benchmarks/results/<name>.json with the command that made it; the
report below only formats those files, so every number in RESULTS.md is printed by code.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from benchmarks.common import ROOT
from benchmarks.report import write_report

STEPS = {
    "train": (["benchmarks/bench_train.py"], ["--quick"]),
    "ablations": (["benchmarks/bench_ablations.py"], ["--quick"]),
    "index": (["benchmarks/bench_index.py", "--part", "build", "--part", "dtype", "--part", "sample-search", "--part", "synthetic"],
              None),
    "app": (["benchmarks/bench_app.py"], None),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller runs (under 5 minutes in all), for development")
    p.add_argument("--only", nargs="*", choices=sorted(STEPS), help="run only these (default: all)")
    p.add_argument("--data", help="collection (default: ../shared/data/epicurious)")
    p.add_argument("--model", help="trained model folder for the index/app benchmarks")
    p.add_argument("--index", help="index folder for the app benchmark")
    args = p.parse_args()
    for name in args.only or list(STEPS):
        command, quick = STEPS[name]
        if args.quick and quick is None:
            print(f"skipping {name} in --quick mode (it has no small version)")
            continue
        extra = list(quick or []) if args.quick else []
        if args.data and name in ("train", "ablations"):
            extra += ["--data", args.data]
        if args.index and name == "app":
            extra += ["--index", args.index]
        if args.model and name == "index":
            extra += ["--model", args.model]
        print(f"== {name}: {' '.join(command + extra)}", flush=True)
        subprocess.run([sys.executable, *command, *extra], cwd=ROOT, check=True)
    print(f"written {write_report().relative_to(ROOT)}")


if __name__ == "__main__":
    main()
