"""Where a query's time goes, from a real browser and through the API, one query at a time.

    python benchmarks/bench_query_time.py                        # artifacts/index + its model
    python benchmarks/bench_query_time.py --index DIR [--model DIR] [--queries 30] [--no-browser]
    python benchmarks/bench_query_time.py --index DIR --before OLD   # beside an older checkout's app
    (OLD from a commit: mkdir OLD && git archive COMMIT | tar -x -C OLD)

Starts `python app.py` on 127.0.0.1 (benchmarks/serving.py), then, for title queries
(/title_to_recipe, titles of the index) and photo queries (/photo_to_recipe, photos of
the sample):
  split           Gradio's HTTP protocol spoken directly (httpx), one query at a time, timed
                  per phase: upload (POST /upload of the photo), queue (join until the
                  server says the handler starts), handler (the server's own timing of the
                  function call), response (the rest until the answer arrives: Gradio's
                  pre/postprocessing, serialisation, the event stream) and thumbnails (GET
                  of the answer's gallery files, 6 at a time as a browser fetches them)
  browser         Debian's chromium driven by Playwright (headless): a title typed, then
                  click -> every gallery image loaded and painted; a photo chosen in the
                  file input -> the same (the upload starts the search, as for a visitor)
Beside each: the server process's CPU seconds per query (utime + stime from /proc), and
the load average, since the clients share the machine's cores. With --before OLD, OLD's
app.py is served too and every query goes to both apps in turn (the order alternating),
so a machine shared with other work loads both alike.
Figures, not tests; printed with the command and written to benchmarks/results/query_time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import SAMPLE_PHOTOS, TOP_K, load_average, median, p90, shown, write_result  # noqa: E402
from benchmarks.query_time_browser import BROWSER_STEPS, CHROMIUM, in_browser  # noqa: E402
from benchmarks.serving import in_turn, process_cpu_seconds, served_app  # noqa: E402

THUMBNAIL_FETCHERS = 6  # connections a browser opens to one host


def summary(records: list[dict]) -> dict:
    """Median (and p90 of the total) of each phase, in ms."""
    out = {"count": len(records)}
    for key in records[0] if records else []:
        values = [r[key] for r in records if r[key] is not None]
        out[f"{key}_median_ms"] = median(values)
    if records:
        out["total_p90_ms"] = p90([r["total"] for r in records])
    return out


class Protocol:
    """Gradio's queue protocol (what gradio_client and the browser speak), timed."""

    def __init__(self, url: str):
        self.url = url
        self.http = httpx.Client(timeout=60)
        config = self.http.get(f"{url}config").json()
        self.fn_index = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}

    def upload(self, path: Path) -> dict:
        with open(path, "rb") as handle:
            answer = self.http.post(f"{self.url}gradio_api/upload", files={"files": (path.name, handle, "image/jpeg")})
        answer.raise_for_status()
        server_path = answer.json()[0]
        return {
            "path": server_path,
            "orig_name": path.name,
            "size": path.stat().st_size,
            "mime_type": "image/jpeg",
            "meta": {"_type": "gradio.FileData"},
        }

    def call(self, api_name: str, data: list) -> tuple[dict, dict]:
        """(phase timings in ms, the answer's output)."""
        session = uuid.uuid4().hex[:11]
        began = time.perf_counter()
        body = {"data": data, "fn_index": self.fn_index[api_name], "session_hash": session, "event_data": None}
        self.http.post(f"{self.url}gradio_api/queue/join", json=body).raise_for_status()
        starts = None
        with self.http.stream("GET", f"{self.url}gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_starts":
                    starts = time.perf_counter()
                elif message.get("msg") == "process_completed":
                    done = time.perf_counter()
                    output = message["output"]
                    break
        handler = 1000 * output.get("duration", 0.0)
        queue = 1000 * ((starts or done) - began)
        return {"queue": queue, "handler": handler, "response": 1000 * (done - (starts or began)) - handler}, output

    def thumbnails(self, output: dict) -> tuple[float, int]:
        """ms to fetch every gallery file of an answer, THUMBNAIL_FETCHERS at a time; bytes."""
        urls = [item["image"]["url"] for item in output["data"][0]]
        began = time.perf_counter()
        with ThreadPoolExecutor(THUMBNAIL_FETCHERS) as pool:
            sizes = list(pool.map(lambda u: len(self.http.get(u).content), urls))
        return 1000 * (time.perf_counter() - began), sum(sizes)


def split(protocols: dict[str, Protocol], titles: list[str], photos: list[Path]) -> dict:
    out = {label: {} for label in protocols}
    for kind, queries in (("title", titles), ("photo", photos)):
        records = {label: [] for label in protocols}
        sizes = {label: [] for label in protocols}
        for i, query in enumerate(queries):
            for label, protocol in in_turn(protocols, i):
                began = time.perf_counter()
                upload = None
                if kind == "photo":
                    file_data = protocol.upload(query)
                    upload = 1000 * (time.perf_counter() - began)
                    phases, output = protocol.call("photo_to_recipe", [file_data, TOP_K])
                else:
                    phases, output = protocol.call("title_to_recipe", [query, TOP_K])
                thumbnails, size = protocol.thumbnails(output)
                sizes[label].append(size)
                total = 1000 * (time.perf_counter() - began)
                records[label].append({"upload": upload, **phases, "thumbnails": thumbnails, "total": total})
        for label in protocols:
            out[label][kind] = {**summary(records[label]), "gallery_bytes_median": int(np.median(sizes[label]))}
    return out


def queries(index_dir: str, count: int, seed: int) -> tuple[list[str], list[Path]]:
    import pyarrow.parquet as pq

    titles = [t for t in pq.read_table(Path(index_dir) / "recipes.parquet", columns=["title"]).column(0).to_pylist()]
    rng = random.Random(seed)
    chosen_titles = rng.sample(sorted({t.strip() for t in titles if t and t.strip()}), count)
    photos = sorted(SAMPLE_PHOTOS.glob("*.jpg")) if SAMPLE_PHOTOS.is_dir() else []
    if not photos:
        raise SystemExit(f"photo queries are read from the Epicurious sample at {SAMPLE_PHOTOS}")
    return chosen_titles, rng.sample(photos, count)


def measured(pids: dict[str, int], work, *args) -> dict:
    """work(*args) -> {label: figures}, each with its server's CPU seconds; the load average
    around it beside them."""
    cpu, load = {label: process_cpu_seconds(pid) for label, pid in pids.items()}, load_average()
    figures = work(*args)
    for label, pid in pids.items():
        figures[label]["server_cpu_s"] = round(process_cpu_seconds(pid) - cpu[label], 2)
    return {**figures, "load_average": [load, load_average()]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", default="artifacts/index", help="index folder for app.py (default: artifacts/index)")
    p.add_argument("--model", help="model for app.py (default: the one the index names)")
    p.add_argument("--queries", type=int, default=30, help="title queries and photo queries, each, per client")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--port", type=int, default=7875, help="this app's port; an app --before gets the next one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("--log", default="/tmp/bench_query_time_server", help="the served apps' output: LOG.<label>.log")
    p.add_argument("--before", type=Path, help="an older checkout (or `git archive` of one) to serve beside this one")
    p.add_argument("--save-as", default="query_time", help="results file name (default: query_time)")
    args = p.parse_args()
    titles, photos = queries(args.index, args.queries + args.warmup, args.seed)
    warm_titles, titles = titles[: args.warmup], titles[args.warmup :]
    warm_photos, photos = photos[: args.warmup], photos[args.warmup :]
    apps = {"now": ROOT, **({"before": args.before} if args.before else {})}
    figures = {"queries_each": args.queries, "top_k": TOP_K, "index": args.index}
    figures["apps"] = {label: "this checkout" if root == ROOT else shown(root) for label, root in apps.items()}
    figures["load_average_start"] = load_average()
    with ExitStack() as stack:
        urls, pids = {}, {}
        for offset, (label, root) in enumerate(apps.items()):
            log = f"{args.log}.{label}.log"
            server, urls[label], _ = stack.enter_context(
                served_app(args.port + offset, log, args.index, args.model, root=root)
            )
            pids[label] = server.pid
        time.sleep(2)  # let start-up's last work settle
        idle = {label: process_cpu_seconds(pid) for label, pid in pids.items()}
        time.sleep(10)
        figures["server_idle_cpu_share"] = {
            label: round((process_cpu_seconds(pid) - idle[label]) / 10, 3) for label, pid in pids.items()
        }
        protocols = {label: Protocol(url) for label, url in urls.items()}
        split(protocols, warm_titles, warm_photos)  # the first searches build caches and warm the model
        figures["split"] = measured(pids, split, protocols, titles, photos)
        if not args.no_browser and os.path.exists(CHROMIUM):
            in_browser(urls, warm_titles, warm_photos)
            figures["browser"] = measured(pids, in_browser, urls, titles, photos)
    figures.update(load_average_end=load_average(), cpu_cores=os.cpu_count())
    report(figures)
    write_result(args.save_as, figures)


def report(figures: dict) -> None:
    n = figures["queries_each"]
    print(f"one query at a time, {n} titles and {n} photos each, to each app in turn; medians in ms")
    for label, app in figures["apps"].items():
        print(f"{label} ({app}): server idle {100 * figures['server_idle_cpu_share'][label]:.1f}% of a core")
        s = figures["split"][label]
        for kind in ("title", "photo"):
            k = s[kind]
            print(
                f"  split {kind:>5}: upload {k['upload_median_ms']}, queue {k['queue_median_ms']:.1f}, handler "
                f"{k['handler_median_ms']:.1f}, response {k['response_median_ms']:.1f}, thumbnails "
                f"{k['thumbnails_median_ms']:.1f} ({k['gallery_bytes_median']:,} bytes); "
                f"total {k['total_median_ms']:.1f} (p90 {k['total_p90_ms']:.1f})"
            )
        print(f"  split: server CPU {1000 * s['server_cpu_s'] / (2 * n):.1f} ms per query")
        if "browser" in figures:
            b = figures["browser"][label]
            for name, m in b.items():
                if isinstance(m, dict):
                    shown_steps = [k for k in BROWSER_STEPS if f"{k}_step_median_ms" in m]
                    steps = ", ".join(f"{k} +{m[f'{k}_step_median_ms']}" for k in shown_steps)
                    print(f"  browser {name}: {m['median_ms']} (p90 {m['p90_ms']}); median steps: {steps}")
            print(f"  browser: server CPU {1000 * b['server_cpu_s'] / (2 * n):.1f} ms per query")
    print(
        f"load average (1, 5, 15 min): {figures['load_average_start']} at start, {figures['load_average_end']} at end"
    )


if __name__ == "__main__":
    main()
