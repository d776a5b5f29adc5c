"""Training on two gloo processes against one, with the same global batch: training rows
a second in the steps (val evaluation and feature extraction left out), and how close
the two runs' loss curves are.

    python benchmarks/bench_distributed.py                      # sample, first 2,000 rows, 3 epochs
    python benchmarks/bench_distributed.py --limit 0 --epochs 2 # every row (the cache fill takes long)

A first one-epoch run fills the feature cache (its time is not counted); then one
process trains with --batch-size 2b (torch's threads: every core) and
`torchrun --standalone --nproc-per-node 2` with --batch-size b (one thread each, as
torchrun sets). On a 2-core machine the two processes share the cores the one process
had: the ratio says what the gather and the gradient exchange cost, not a speed-up a
second machine would give. Figures go to benchmarks/results/distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from benchmarks.common import SAMPLE, load_average, spread, write_result  # noqa: E402


def train(command: list[str], env: dict, log: Path) -> tuple[float, str]:
    """Run a training command to its end: (wall seconds, its stderr), failing loudly."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    log.write_text(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed; see {log}")
    return time.perf_counter() - started, done.stderr


def rows_per_second(out: Path, train_rows: int) -> dict:
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    return {
        "rows_per_s": spread([train_rows / e["step_seconds"] for e in epochs], digits=1),
        "train_loss": [round(e["train_loss"], 5) for e in epochs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SAMPLE)
    parser.add_argument("--limit", type=int, default=2000, help="first N usable rows (0: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="per process: the global batch is twice this")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="write results to distributed_quick.json")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="distributed-"))
    work.mkdir(parents=True, exist_ok=True)
    common = ["--data", str(args.data), "--epochs", str(args.epochs), "--quiet", "--device", "cpu"]
    common += ["--limit", str(args.limit)] if args.limit else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("OMP_NUM_THREADS", None)  # one process: torch's default, every core
    python = [sys.executable, "-m", "train"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "train"]
    shown_data = "../shared/data/epicurious" if args.data == SAMPLE else str(args.data)  # no home paths in results
    result = {"load_average_start": load_average(), "data": shown_data, "limit": args.limit}

    warm = [*common, "--out", str(work / "warm"), "--batch-size", str(2 * args.batch_size), "--epochs", "1"]
    result["cache_fill_seconds"] = round(train([*python, *warm], env, work / "warm.log")[0], 1)
    one = [*common, "--out", str(work / "one"), "--batch-size", str(2 * args.batch_size)]
    seconds, log = train([*python, *one], env, work / "one.log")
    train_rows = int(re.search(r"train: (\d+) rows", log).group(1))
    result["train_rows"] = train_rows
    result["one_process"] = {"global_batch": 2 * args.batch_size, "wall_s": round(seconds, 1)}
    result["one_process"].update(rows_per_second(work / "one", train_rows))
    two = [*common, "--out", str(work / "two"), "--batch-size", str(args.batch_size)]
    seconds, log = train([*torchrun, *two], env, work / "two.log")
    assert f"world size 2, global batch {2 * args.batch_size}" in log
    result["two_processes"] = {"global_batch": 2 * args.batch_size, "wall_s": round(seconds, 1)}
    result["two_processes"].update(rows_per_second(work / "two", train_rows))
    median = {k: result[k]["rows_per_s"]["median"] for k in ("one_process", "two_processes")}
    result["ratio_two_to_one"] = round(median["two_processes"] / median["one_process"], 3)
    result["load_average_end"] = load_average()
    write_result("distributed_quick" if args.quick else "distributed", result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
