"""Helpers every benchmark shares: timing, peak memory, where results go, how they print."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = ROOT.parent / "shared" / "data" / "epicurious"  # the default data, beside the checkout
SAMPLE_PHOTOS = SAMPLE / "Food Images" / "Food Images"
TOP_K = 8  # the app's default number of results


def command_line() -> str:
    """The command that reproduces this run, as a person would type it."""
    module = Path(sys.argv[0]).resolve()
    launched = getattr(sys, "orig_argv", [])
    if "-m" in launched[:-1]:  # `python -m benchmarks.experiment ...` is shown as typed
        shown = f"python -m {launched[launched.index('-m') + 1]}"
    else:
        try:
            shown = f"python {module.relative_to(ROOT)}"
        except ValueError:
            shown = f"python {sys.argv[0]}"
    return " ".join([shown, *map(shlex.quote, sys.argv[1:])])


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    """Resident memory of this process now (peak_rss_mb is its high-water mark)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def shown(path) -> str:
    """A path as results show it: relative to the checkout when inside it or in the shared
    folder beside it (no home or worktree names in committed JSON)."""
    absolute = Path(path).absolute()
    if absolute.is_relative_to(ROOT):
        return str(absolute.relative_to(ROOT))
    if absolute.is_relative_to(ROOT.parent / "shared"):
        return str(Path("..") / absolute.relative_to(ROOT.parent))
    return str(path)


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on these cores (another engineer's
    training) slows every timing, so each benchmark stores this at its start and end."""
    return [round(x, 2) for x in os.getloadavg()]


def spread(values, unit: str = "", digits: int = 3) -> dict:
    """Median with min, max and every value: how far repeats of one measurement disagree."""
    import numpy as np

    values = [float(v) for v in values]
    return {
        f"median{unit}": round(float(np.median(values)), digits),
        f"min{unit}": round(min(values), digits),
        f"max{unit}": round(max(values), digits),
        "values": [round(v, digits) for v in values],
    }


def median(values) -> float | None:
    import numpy as np

    return round(float(np.median(values)), 1) if len(values) else None


def p90(values) -> float | None:
    import numpy as np

    return round(float(np.percentile(values, 90)), 1) if len(values) else None


def percentiles_ms(seconds) -> dict:
    """p10/p50/p90/p99 (and the count) of a list of durations in seconds, as milliseconds."""
    import numpy as np

    ms = 1000 * np.asarray(seconds, dtype=float)
    return {
        "p10_ms": round(float(np.percentile(ms, 10)), 2),
        "p50_ms": round(float(np.median(ms)), 2),
        "p90_ms": round(float(np.percentile(ms, 90)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "count": int(len(ms)),
    }


def machine() -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
    }


def model_trained_by(folder) -> str | None:
    """The `python -m train` command that trains the model in `folder` again, from its saved
    settings (train/flags.command_for): what a result names it by, since the folder is one
    machine's. None when `folder` holds no trained model (a Hub id, an untrained model)."""
    path = Path(folder)
    if not (path / "metrics.json").is_file():
        return None
    from train.flags import command_for
    from train.run_config import saved_run

    return command_for(saved_run(path), data=json.loads((path / "metrics.json").read_text())["data"])


def write_result(name: str, payload: dict) -> Path:
    """benchmarks/results/<name>.json, with the command and the machine it ran on (and,
    where it measured a model folder, the command that trains that model)."""
    # Imported here: `model` loads torch, which the report and the runner never need.
    from model.atomic import atomic_write_json

    payload = {"command": command_line(), **machine(), **payload}
    if isinstance(payload.get("model"), str) and (made := model_trained_by(payload["model"])):
        payload["model_trained_by"] = made
    path = atomic_write_json(RESULTS / f"{name}.json", payload)  # a killed run leaves the previous file whole
    print(f"\nwritten {path.relative_to(ROOT)}; reproduce with: {payload['command']}")
    return path
