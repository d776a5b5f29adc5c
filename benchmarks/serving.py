"""`python app.py` as a child process for the app benchmarks: start it, wait until the
page answers, read its memory from /proc, stop it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import ROOT


def process_memory_mb(pid: int) -> dict:
    """VmRSS (resident now) and VmHWM (the resident high-water mark) of a process."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {
        "rss_mb": round(int(status["VmRSS"].split()[0]) / 1024, 1),
        "peak_rss_mb": round(int(status["VmHWM"].split()[0]) / 1024, 1),
    }


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used so far, all its threads, user + system (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def served_app(
    port: int,
    log: str | Path,
    index: str | None = None,
    model: str | None = None,
    limit_s: float = 300,
    root: Path = ROOT,
):
    """Yields (server process, url, seconds from launch until the page answered). `root`: the
    checkout whose app.py is served (another one to compare an older version's figures)."""
    command = [sys.executable, "app.py", "--port", str(port)]
    command += (["--index", str(index)] if index else []) + (["--model", str(model)] if model else [])
    url = f"http://127.0.0.1:{port}/"
    with open(log, "w") as handle:
        started = time.perf_counter()
        server = subprocess.Popen(command, cwd=root, stdout=handle, stderr=subprocess.STDOUT)
        try:
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"app.py exited with {server.returncode}; see {log}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.2)
                if time.perf_counter() - started > limit_s:
                    raise SystemExit(f"app.py did not serve within {limit_s:.0f} s; see {log}")
            yield server, url, time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)


def in_turn(targets: dict, i: int) -> list:
    """The targets' items, in one order for even queries and the other for odd ones."""
    items = list(targets.items())
    return items if i % 2 == 0 else items[::-1]
