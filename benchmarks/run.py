"""`make bench`: run every benchmark, then write benchmarks/RESULTS.md from their JSON.

    python -m benchmarks.run [--quick] [--only ablations app ...] [--work DIR]

Each benchmark writes benchmarks/results/<name>.json with the command that made it, and
each experiment (benchmarks/experiment.py over a variant file) appends its runs to
benchmarks/results/experiments.jsonl; the report only formats those, so every number in
RESULTS.md is printed by code.
The wall and CPU time of each step and of the whole run go to benchmarks/results/run.json
under "full".

--quick runs each benchmark's smoke version and skips those that have none: under 5
minutes in all from a fresh clone with an empty feature cache (about 3 minutes of CPU;
on cores that other work shares, the wall time grows with their load). It makes its own
inputs (benchmarks/quick.py): the first 120 usable rows of --data as a folder of their
own, a tiny model trained on them and an index built from it; every step reads those
(--model and --index are not used). Steps run one at a time, their output in
<work>/logs/. It writes only *_quick.json files (its timings to results/run_quick.json),
(experiments: *_quick.jsonl), never a stored result, RESULTS.md or the README.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, SAMPLE, load_average, machine

# The experiment runner over a variant file (benchmarks/variants/NAME.toml). Its quick
# version trains the file's first variant for 2 epochs on the quick slice: a smoke run of
# the runner and the stages, whose scores mean nothing.
EXPERIMENT = ["-m", "benchmarks.experiment"]
QUICK_EXPERIMENT = ["--set", "train.epochs=2", "--seeds", "0", "--splits", "1", "--again"]


def experiment(name: str, quick_only: str | None) -> tuple[list[str], list[str] | None]:
    full = [*EXPERIMENT, f"benchmarks/variants/{name}.toml"]
    if quick_only is None:
        return full, None
    log = RESULTS / f"experiments_{name}_quick.jsonl"
    return full, [*full, "--only", quick_only, *QUICK_EXPERIMENT, "--log", str(log)]


# name -> (the command's arguments after `python`, its quick arguments or None when it has none)
STEPS = {
    # Trains on cached frozen features: minutes a variant once the cache is warm.
    "ablations": experiment("ablations", "default"),
    # Eight split draws of five variants; one draw says nothing about the spread: no quick version.
    "split_noise": experiment("split_noise", None),
    "seed_designs": experiment("seed_designs", None),
    # The product's tier (fine-tuned photo tail, 4 views): about 40 minutes a run.
    "default_tier": experiment("default_tier", None),
    "quality": experiment("quality", None),
    "epochs": experiment("epochs", None),
    "features": (["benchmarks/bench_features.py"], ["benchmarks/bench_features.py", "--quick"]),
    "engine": (["benchmarks/bench_engine.py"], ["benchmarks/bench_engine.py", "--quick"]),
    "index": (["benchmarks/bench_index.py"], ["benchmarks/bench_index.py", "--quick"]),
    # bench_app.py --quick (5 calls per handler) runs on its own: the quick run's load step
    # already serves the app, and starting it again costs ~20 s of CPU.
    "app": (["benchmarks/bench_app.py"], None),
    "load": (["benchmarks/bench_load.py"], ["benchmarks/bench_load.py", "--quick"]),
    "large_index": (
        ["benchmarks/bench_large_index.py"],
        ["benchmarks/bench_large_index.py", "--rows", "20000", "--queries", "50", "--quick"],
    ),
    "distributed": (
        ["benchmarks/bench_distributed.py"],
        ["benchmarks/bench_distributed.py", "--limit", "300", "--epochs", "1", "--quick"],
    ),
}
EXPERIMENTS = {name for name, (full, _) in STEPS.items() if full[:2] == EXPERIMENT}
# Which options of this runner each step takes (and under which name).
PASS = {
    "data": ("features", "index", "load", "distributed", *sorted(EXPERIMENTS)),
    "model": ("index", "engine"),  # engine: its val parity table reads a trained model
    "index": ("app", "load"),
}
# Scratch folders under --work.
WORK = {
    **{name: "experiments" for name in EXPERIMENTS},
    "index": "bench-index",
    "large_index": "bench-large-index",
    "distributed": "bench-distributed",
}
# Where --quick makes its slice, model and index when no --work is given (ignored by git).
QUICK_WORK = ROOT / "artifacts" / "bench-quick"
# Quick runs use one torch thread. On 2 cores that other work shares, torch's two threads
# wait on each other at every op: a head-training step measured 22 ms median but 1.8 s at
# p90 with two threads, 26 ms at p90 with one (the app serves with one thread for the
# same reason, ui/search.py). Smoke runs want a predictable wall time, not peak speed.
QUICK_ENV = {"OMP_NUM_THREADS": "1"}


def step_command(name: str, args) -> list[str] | None:
    full, quick = STEPS[name]
    if args.quick and quick is None:
        return None
    command = list(quick if args.quick else full)
    for option, steps in PASS.items():
        if getattr(args, option) and name in steps:
            command += [f"--{option}", str(getattr(args, option))]
    if args.work and name in WORK:
        command += ["--work", str(Path(args.work) / WORK[name])]
    return command


def record(mode: str, figures: dict) -> None:
    """A full run's timings go to benchmarks/results/run.json (beside the quick run the
    report still shows from there, when no newer quick run is stored); a quick run's to
    results/run_quick.json, which git ignores like every *_quick.json."""
    path = RESULTS / ("run_quick.json" if mode == "quick" else "run.json")
    saved = json.loads(path.read_text()) if path.is_file() else {}
    saved[mode] = {**machine(), **figures}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2) + "\n")


def cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for. On cores other work
    shares, a step's wall time says how long it waited beside that work; its CPU time
    says what it costs, about its wall time on an idle machine (steps use one thread)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def timed(name: str, seconds: dict):
    """Wall and CPU seconds of the block into seconds["wall"][name] and seconds["cpu"][name]."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield
    seconds["wall"][name] = round(time.perf_counter() - wall, 1)
    seconds["cpu"][name] = round(cpu_seconds() - cpu, 1)


def run_step(name: str, command: list[str], env: dict, seconds: dict, log: Path | None = None) -> None:
    """One step in a child process from the checkout, timed into `seconds`; its output to
    `log` instead of this terminal when given. Its CPU time comes from wait4, the child's
    own and its children's."""
    print(f"== {name}: {' '.join(command)}" + (f" > {log}" if log else ""), flush=True)
    began = time.perf_counter()
    with open(log, "w") if log else nullcontext() as output:
        child = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT if log else None
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds["wall"][name] = round(time.perf_counter() - began, 1)
    seconds["cpu"][name] = round(usage.ru_utime + usage.ru_stime, 1)
    if child.returncode:
        tail = "".join(Path(log).read_text().splitlines(keepends=True)[-30:]) if log else ""
        raise SystemExit(f"{tail}\n{name} failed with exit status {child.returncode}: {' '.join(command)}")
    if log:
        print(f"== {name} done in {seconds['wall'][name]:.0f} s", flush=True)


def run_steps(names: list[str], args, seconds: dict) -> None:
    """Every step that has a version for this mode, one at a time, so no step's timings
    include another's work. A quick run first makes its model and index of the slice, and
    sends each step's output to <work>/logs/."""
    logs = args.quick_work / "logs" if args.quick else None
    if args.quick:
        from benchmarks.quick import index_command, train_command

        logs.mkdir(parents=True, exist_ok=True)
        run_step("quick_model", train_command(args.data, args.model), QUICK_ENV, seconds, logs / "quick_model.log")
        command = index_command(args.model, args.data, args.index)
        run_step("quick_index", command, QUICK_ENV, seconds, logs / "quick_index.log")
    for name in names:
        command = step_command(name, args)
        if command is None:
            print(f"skipping {name} in --quick mode (it has no small version)")
            continue
        log = logs / f"{name}.log" if logs else None
        run_step(name, [sys.executable, *command], QUICK_ENV if args.quick else {}, seconds, log)


def quick_inputs(args, seconds: dict) -> None:
    """--quick: the slice (benchmarks/quick.py), made before anything else; args.data, model
    and index then name the slice and the model and index run_steps makes from it."""
    from benchmarks.quick import QUICK_ROWS, slice_folder

    if args.model or args.index:
        print("--quick: --model and --index are not used; the quick steps read a model and an index of the slice")
    work = args.quick_work = Path(args.work) if args.work else QUICK_WORK
    with timed("quick_data", seconds):
        data = slice_folder(args.data or SAMPLE, work / "quick-data", QUICK_ROWS)
    print(f"== quick inputs: the first {QUICK_ROWS} usable rows in {data}", flush=True)
    args.data, args.model, args.index = data, work / "quick-model", work / "quick-index"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller runs (under 5 minutes in all), for development")
    p.add_argument("--only", nargs="*", choices=list(STEPS), help="run only these (default: all)")
    p.add_argument("--data", help="collection (default: ../shared/data/epicurious)")
    p.add_argument(
        "--model",
        help="trained model folder for the index benchmark (not used with --quick)",
    )
    p.add_argument("--index", help="index folder for the app and load benchmarks (not used with --quick)")
    p.add_argument(
        "--work",
        help="scratch folder for the experiments and the index benchmarks "
        "(default: each benchmark's own, under artifacts/ or /tmp; --quick's inputs: "
        f"{QUICK_WORK.relative_to(ROOT)})",
    )
    args = p.parse_args()
    started, started_cpu, load_start = time.perf_counter(), cpu_seconds(), load_average()
    seconds = {"wall": {}, "cpu": {}}
    if args.quick:
        quick_inputs(args, seconds)
    run_steps(args.only or list(STEPS), args, seconds)
    # Recorded before the report (which takes about a second) so the report can show it.
    wall, cpu = time.perf_counter() - started, cpu_seconds() - started_cpu
    record(
        "quick" if args.quick else "full",
        {
            "command": "python -m benchmarks.run " + " ".join(sys.argv[1:]),
            "wall_seconds": round(wall, 1),
            "step_seconds": seconds["wall"],
            "cpu_seconds": round(cpu, 1),
            "step_cpu_seconds": seconds["cpu"],
            "environment": QUICK_ENV if args.quick else {},
            "load_average_start": load_start,
            "load_average_end": load_average(),
        },
    )
    if args.quick:  # smoke figures are never reported: RESULTS.md and the README stay as the full runs left them
        print("RESULTS.md not rewritten (--quick); `python -m benchmarks.report` rewrites it from the stored results")
    else:
        from benchmarks.report import write_report

        print(f"written {write_report().relative_to(ROOT)}")
    print(
        f"benchmarks.run{' --quick' if args.quick else ''}: {wall / 60:.1f} min ({wall:.0f} s) in all, "
        f"{cpu:.0f} s of CPU; load average {load_start[0]:.1f} at start, {load_average()[0]:.1f} at end; "
        + ", ".join(f"{n} {s:.0f} s ({seconds['cpu'][n]:.0f} s CPU)" for n, s in seconds["wall"].items())
    )


if __name__ == "__main__":
    main()
