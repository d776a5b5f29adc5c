"""`make demo` on a machine with no model yet: a quick model served within minutes, the
full default trained in the background and swapped in by the app when it is ready.

    python -m train.first_run --data DIR --model artifacts/model --index artifacts/index --quick artifacts/quick

1. The full index is there: nothing to do (the app serves it).
2. Else the quick model (frozen backbones, the plain crop of each photo: one backbone pass
   per photo and per recipe, then a minute of head training) and its index are made, in
   the foreground, unless already there.
3. The full default (`python -m train` with its defaults, then `embeddings build`) starts
   in the background, detached, unless it already runs: its output goes to
   <quick>/full-run.log and its progress to <quick>/full-run.json, which the app reads
   (ui/upgrade.py). Its text features come from the cache the quick run filled.
The app is then started with --index <index> --until-ready <quick>/index (Makefile).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from model.atomic import atomic_write_json

# The quick model: train/presets/quick.toml (frozen backbones, the plain crop, smaller
# photos, shorter texts in two pooled passes: half the cold wait of the default's settings).
QUICK_TRAIN = ["--preset", "quick"]
STATUS_FILE, LOG_FILE, PID_FILE = "full-run.json", "full-run.log", "full-run.pid"
STEPS = ("training the full model", "indexing the collection with it")


def ready(index: Path) -> bool:
    return (index / "manifest.json").is_file()


def running(pid_file: Path) -> bool:
    """Whether the background run a pid file names is alive (and is ours, not a reused pid)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return False
    return "train.first_run" in command


def run(command: list[str], log=None) -> None:
    """A step as a child process (its progress bars on the terminal or in the log)."""
    done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT if log else None)
    if done.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` failed (exit {done.returncode})")


def say(text: str, log=None) -> None:
    print(f"[first run] {text}", file=log or sys.stdout, flush=True)


def train_and_build(data: str, model: Path, index: Path, extra: list[str], log=None) -> None:
    if not (model / "model.safetensors").is_file():
        say(f"training {model}", log)
        run([sys.executable, "-m", "train", "--data", data, "--out", str(model), *extra], log)
    if not ready(index):
        say(f"indexing the collection with {model}", log)
        run(
            [sys.executable, "-m", "embeddings", "build", "--model", str(model), "--data", data, "--out", str(index)],
            log,
        )


def write_status(path: Path, step: int, state: str, started: float, detail: str = "") -> None:
    atomic_write_json(
        path,
        {
            "log": LOG_FILE,  # beside this file
            "steps": list(STEPS),
            "step": step,  # 0-based index into steps; len(steps) when done
            "state": state,  # "running", "done" or "failed"
            "detail": detail,
            "started": started,
            "updated": time.time(),
            "pid": os.getpid(),
        },
    )


def background(args) -> None:
    """The full run, detached from the terminal; progress in the status file for the app."""
    status, started = args.quick / STATUS_FILE, time.time()
    with open(args.quick / LOG_FILE, "a", buffering=1) as log:
        try:
            write_status(status, 0, "running", started)
            if not (args.model / "model.safetensors").is_file():
                say(f"training {args.model}", log)
                # --resume: a run stopped by `make stop` (or a reboot) goes on from its last epoch.
                run([sys.executable, "-m", "train", "--data", args.data, "--out", str(args.model), "--resume"], log)
            write_status(status, 1, "running", started)
            train_and_build(args.data, args.model, args.index, [], log)  # the model is there: builds only
            write_status(status, len(STEPS), "done", started, f"ready after {(time.time() - started) / 60:.0f} min")
        except (SystemExit, Exception) as error:  # the app shows why it keeps the quick model
            write_status(status, -1, "failed", started, f"{error}; see {args.quick / LOG_FILE}")
            raise


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m train.first_run", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", type=Path, required=True, help="where the full default model goes")
    parser.add_argument("--index", type=Path, required=True, help="where the full model's index goes")
    parser.add_argument("--quick", type=Path, required=True, help="folder of the quick model, its index and the log")
    parser.add_argument("--background", action="store_true", help=argparse.SUPPRESS)  # the detached full run
    args = parser.parse_args(argv)
    args.quick.mkdir(parents=True, exist_ok=True)
    if args.background:
        return background(args)
    if ready(args.index):
        print(f"The full model's index is ready at {args.index}.", flush=True)
        return
    started = time.time()
    print("First run: a quick model first (a few minutes), then the full one in the background.", flush=True)
    train_and_build(args.data, args.quick / "model", args.quick / "index", QUICK_TRAIN)
    print(f"Quick model ready in {(time.time() - started) / 60:.1f} min.", flush=True)
    pid_file = args.quick / PID_FILE
    if running(pid_file):
        print(f"The full run is already going (log: {args.quick / LOG_FILE}).", flush=True)
        return
    command = [sys.executable, "-m", "train.first_run", "--background"]
    command += ["--data", args.data, "--model", str(args.model), "--index", str(args.index), "--quick", str(args.quick)]
    # Its own session: Ctrl-C in the terminal stops the app, not the training (`make stop` does).
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(f"{child.pid}\n")
    print(
        "The full model trains in the background (about half an hour on 2 idle cores: benchmarks/bench_first_run.py; "
        f"log: {args.quick / LOG_FILE}; `make stop` stops it). The page switches to it by itself.",
        flush=True,
    )


if __name__ == "__main__":
    main()
