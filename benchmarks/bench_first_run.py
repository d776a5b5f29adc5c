"""A newcomer's first `make demo`, timed: a fresh clone, an empty feature cache, every stage's
wall time until the page is served, and then until the full default replaces the quick model.

    python benchmarks/bench_first_run.py [--work /tmp/first-run] [--port 7861] [--limit-min 120]

It clones this checkout's HEAD (committed work only) into --work, with ../shared beside the
clone as a link to this checkout's, runs `make demo` there with XDG_CACHE_HOME pointing at an
empty folder, and time-stamps every line the run prints (the foreground: set-up, the quick
model, its index, the app) and the background run's log (the full model and its index).
Stages start at the first line that names them. The page counts as served when
http://127.0.0.1:PORT/ answers. The run ends when the app says it serves the full model;
then the app and the background run are stopped. Other work on the machine slows every
stage: the load average is sampled each minute and stored beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import ROOT, load_average, write_result

# (stage, the first output line that starts it): in the order a first run meets them.
FOREGROUND = [
    ("set-up (venv, pinned packages)", re.compile(r"pip install")),
    ("quick model: reading the collection", re.compile(r"train\.first_run")),
    ("quick model: text features", re.compile(r"title features")),
    ("quick model: photo features (1 view)", re.compile(r"photo views")),
    ("quick model: training the heads", re.compile(r"epochs")),
    ("quick model: its index", re.compile(r"indexing the collection")),
    ("app start", re.compile(r"Quick model ready")),
]
BACKGROUND = [
    ("full model: reading the collection", re.compile(r".")),
    ("full model: per-line recipe features (its LSTMs' input)", re.compile(r"recipe line features")),
    ("full model: photo features (4 views, top 3 blocks' inputs)", re.compile(r"photo views")),
    ("full model: training", re.compile(r"epochs")),
    ("full model: its index", re.compile(r"indexing the collection")),
]
SWAPPED = re.compile(r"now serving")


class Stamps:
    """First-seen times of each stage's marker, in order, from lines fed to it."""

    def __init__(self, stages, start: float):
        self.stages, self.start, self.seen, self.next = stages, start, {}, 0
        self.lock = threading.Lock()

    def feed(self, line: str) -> None:
        with self.lock:
            # A later stage's marker may show before an earlier one's (a stage with no output).
            for i in range(self.next, len(self.stages)):
                if self.stages[i][1].search(line):
                    self.seen[self.stages[i][0]] = round(time.time() - self.start, 1)
                    self.next = i + 1
                    break


def durations(stamps: dict[str, float], end: float) -> dict[str, float]:
    names = list(stamps)
    return {
        name: round((stamps[names[i + 1]] if i + 1 < len(names) else end) - stamps[name], 1)
        for i, name in enumerate(names)
    }


def follow(path: Path, stamps: Stamps, stop: threading.Event) -> None:
    """Feed the lines appended to a file (the background run's log), as `tail -f` would."""
    while not path.exists() and not stop.is_set():
        time.sleep(1)
    with open(path, errors="replace") as handle:
        while not stop.is_set():
            chunk = handle.read()
            for line in re.split(r"[\r\n]", chunk):
                if line.strip():
                    stamps.feed(line)
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/first-run"))
    parser.add_argument("--port", type=int, default=7861)
    parser.add_argument("--limit-min", type=float, default=120, help="give up after this many minutes")
    parser.add_argument("--stop-at-page", action="store_true", help="end once the page is served (no full model)")
    parser.add_argument("--name", default="first_run", help="results/<name>.json")
    args = parser.parse_args()

    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (work / "shared").symlink_to((ROOT.parent / "shared").resolve())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True)
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(work / "cache"),  # an empty feature cache
        "RECIPE_APP_CACHE": str(work / "app-cache"),
        "GRADIO_SERVER_PORT": str(args.port),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    log = open(work / "make-demo.log", "w", buffering=1)
    start = time.time()
    foreground, background = Stamps(FOREGROUND, start), Stamps(BACKGROUND, start)
    marks: dict[str, float] = {}
    loads = [[0, *load_average()]]
    make = subprocess.Popen(
        ["make", "demo"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    stop = threading.Event()
    threading.Thread(
        target=follow, args=(clone / "artifacts" / "quick" / "full-run.log", background, stop), daemon=True
    ).start()

    def read_output() -> None:
        buffer = b""
        while chunk := make.stdout.read1(4096):
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for raw in lines:
                line = raw.decode(errors="replace")
                if line.strip():
                    log.write(f"{time.time() - start:8.1f}s {line}\n")
                    foreground.feed(line)
                    if SWAPPED.search(line) and "swapped" not in marks:
                        marks["swapped"] = round(time.time() - start, 1)

    threading.Thread(target=read_output, daemon=True).start()
    next_load = 60
    try:
        while time.time() - start < 60 * args.limit_min and "swapped" not in marks:
            if args.stop_at_page and "served" in marks:
                break
            if make.poll() is not None:
                raise SystemExit(f"make demo exited with {make.returncode}; see {work / 'make-demo.log'}")
            if "served" not in marks:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{args.port}/", timeout=2)
                    marks["served"] = round(time.time() - start, 1)
                    print(f"page served after {marks['served'] / 60:.1f} min", flush=True)
                except OSError:
                    pass
            if time.time() - start >= next_load:
                loads.append([round(time.time() - start), *load_average()])
                next_load += 60
            time.sleep(2)
    finally:
        stop.set()
        os.killpg(make.pid, signal.SIGTERM)
        subprocess.run(["make", "stop"], cwd=clone, env=env, capture_output=True)
    end = marks.get("swapped", marks.get("served") if args.stop_at_page else time.time() - start)
    status_file = clone / "artifacts" / "quick" / "full-run.json"
    status = json.loads(status_file.read_text()) if status_file.exists() else {}
    stages = durations(foreground.seen, marks.get("served", end))
    if not args.stop_at_page:
        stages.update(durations(background.seen, end))
    for name, seconds in stages.items():
        print(f"{seconds / 60:6.1f} min  {name}")
    served = marks.get("served", float("nan")) / 60
    print(
        f"page served after {served:.1f} min" + ("" if args.stop_at_page else f"; full model after {end / 60:.1f} min")
    )
    write_result(
        args.name,
        {
            "clone_commit": commit.stdout.strip(),
            "page_served_s": marks.get("served"),
            "full_model_serving_s": marks.get("swapped"),
            "stage_starts_s": {**foreground.seen, **background.seen},
            "stage_seconds": stages,
            "background_status": status,
            "load_average_each_minute": loads,
            "stopped_at_page": args.stop_at_page,
            "log": str(work / "make-demo.log"),
        },
    )


if __name__ == "__main__":
    main()
