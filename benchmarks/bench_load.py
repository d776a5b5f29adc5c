"""Load run: the served app under 16 concurrent users, through its public API.

    python benchmarks/bench_load.py                      # 500 mixed queries, concurrency 16
    python benchmarks/bench_load.py --quick              # 24 queries, concurrency 4: a smoke run -> load_quick.json

Starts `python app.py --index ... --port N` on 127.0.0.1, then sends photo queries
(/photo_to_recipe, photos of the sample), title queries (/title_to_recipe) and recipe
queries (/recipe_to_photo), titles and recipes read from the sample's CSV, in a shuffled
mix, from `--concurrency` threads. Each thread owns one gradio_client.Client: a shared
client multiplexes every job over one event stream of one session, a path the app's
users never take (a browser tab is one session), while one client per thread is 16
visitors. Reports errors, p50/p99 latency per kind and overall, throughput, and the
server's resident memory (VmRSS, VmHWM from /proc) before and after. The clients run on
the same cores as the server, so the figures include their cost.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.common import SAMPLE, TOP_K, load_average, percentiles_ms, shown, write_result  # noqa: E402
from benchmarks.serving import process_cpu_seconds, process_memory_mb, served_app  # noqa: E402
from pipeline.read import KAGGLE_CSV, KAGGLE_IMAGES  # noqa: E402
from pipeline.records import parse_list  # noqa: E402

KINDS = ("photo", "title", "recipe")


def make_queries(data: Path, count: int, seed: int) -> list[tuple[str, tuple]]:
    """`count` (kind, arguments) pairs, kinds in equal shares, shuffled; photos, titles and
    recipes each drawn at random from the sample."""
    rng = random.Random(seed)
    table = pd.read_csv(data / KAGGLE_CSV, dtype=str, keep_default_na=False)
    photos = sorted((data / KAGGLE_IMAGES).glob("*.jpg"))
    recipes = [(parse_list(i, True), parse_list(s, True)) for i, s in zip(table.Ingredients, table.Instructions)]
    recipes = [r for r in recipes if r[0] or r[1]]
    titles = [t for t in table.Title if t.strip()]
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    rng.shuffle(kinds)
    out = []
    for kind in kinds:
        if kind == "photo":
            out.append((kind, (str(rng.choice(photos)),)))
        elif kind == "title":
            out.append((kind, (rng.choice(titles),)))
        else:
            ingredients, instructions = rng.choice(recipes)
            out.append((kind, ("\n".join(ingredients), "\n".join(instructions))))
    return out


def ask(client, kind: str, arguments: tuple):
    from gradio_client import handle_file

    if kind == "photo":
        return client.predict(handle_file(arguments[0]), TOP_K, api_name="/photo_to_recipe")
    if kind == "title":
        return client.predict(arguments[0], TOP_K, api_name="/title_to_recipe")
    return client.predict(*arguments, TOP_K, api_name="/recipe_to_photo")


def answered(answer) -> bool:
    """The app's five outputs, with as many results as asked for."""
    return isinstance(answer, (list, tuple)) and len(answer) == 5 and len(answer[1]) == TOP_K


def run_load(url: str, queries: list, concurrency: int) -> tuple[list[dict], float]:
    """Every query once, `concurrency` at a time; (one record per query, wall seconds)."""
    from gradio_client import Client

    # Clients are made before the clock starts: connecting is not part of a query.
    clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(concurrency)]
    todo: queue.Queue = queue.Queue()
    for item in enumerate(queries):
        todo.put(item)
    records: list[dict] = []
    lock = threading.Lock()
    bar = tqdm(total=len(queries), desc="load queries", unit="q")
    start = threading.Barrier(concurrency + 1)

    def worker(client):
        start.wait()
        while True:
            try:
                position, (kind, arguments) = todo.get_nowait()
            except queue.Empty:
                return
            began = time.perf_counter()
            try:
                error = None if answered(ask(client, kind, arguments)) else "fewer results than asked for"
            except Exception as caught:  # every failure is counted, whatever raised it
                error = f"{type(caught).__name__}: {str(caught)[:200]}"
            record = {"position": position, "kind": kind, "seconds": time.perf_counter() - began, "error": error}
            with lock:
                records.append(record)
                bar.update()

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    bar.close()
    for client in clients:
        client.close()
    return sorted(records, key=lambda r: r["position"]), wall


def summarise(records: list[dict], wall: float) -> dict:
    ok = [r for r in records if not r["error"]]
    out = {
        "queries": len(records),
        "errors": len(records) - len(ok),
        "wall_s": round(wall, 2),
        "throughput_qps": round(len(ok) / wall, 2),
        "overall": percentiles_ms([r["seconds"] for r in ok]),
    }
    for kind in KINDS:
        mine = [r["seconds"] for r in ok if r["kind"] == kind]
        out[kind] = percentiles_ms(mine) if mine else {"count": 0}
    out["error_examples"] = sorted({r["error"] for r in records if r["error"]})[:5]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", default="artifacts/index", help="index folder for app.py (default: artifacts/index)")
    p.add_argument("--model", help="model for app.py (default: the one the index names)")
    p.add_argument(
        "--data",
        type=Path,
        default=SAMPLE,
        help="the Kaggle-layout sample the queries come from",
    )
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--port", type=int, default=7873)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log", default="/tmp/bench_load_server.log", help="the served app's output")
    p.add_argument("--quick", action="store_true", help="24 queries at concurrency 4; written to load_quick.json")
    p.add_argument("--app", type=Path, default=ROOT, help="the checkout whose app.py is served (default: this one)")
    p.add_argument("--save-as", help="results file name (default: load, or load_quick with --quick)")
    args = p.parse_args()
    count = 24 if args.quick else args.queries
    if args.quick:  # every client is a session the server sets up: four exercise concurrency as well as sixteen
        args.concurrency = 4
    queries = make_queries(args.data, count, args.seed)
    load_start = load_average()
    with served_app(args.port, args.log, args.index, args.model, root=args.app) as (server, url, serving_s):
        before = process_memory_mb(server.pid)
        # CPU seconds of the server and of this process (the load generator, on the same
        # cores): how much of the machine each query costs, whoever waits for whom.
        server_cpu, client_cpu = process_cpu_seconds(server.pid), process_cpu_seconds(os.getpid())
        records, wall = run_load(url, queries, args.concurrency)
        server_cpu = process_cpu_seconds(server.pid) - server_cpu
        client_cpu = process_cpu_seconds(os.getpid()) - client_cpu
        after = process_memory_mb(server.pid)
    figures = {
        "concurrency": args.concurrency,
        "top_k": TOP_K,
        "index": args.index,
        "app": shown(args.app),
        "start_to_serving_s": round(serving_s, 1),
        **summarise(records, wall),
        "server_cpu_s": round(server_cpu, 2),
        "client_cpu_s": round(client_cpu, 2),
        "server_cpu_ms_per_query": round(1000 * server_cpu / len(records), 1),
        "client_cpu_ms_per_query": round(1000 * client_cpu / len(records), 1),
        "server_memory_before_mb": before,
        "server_memory_after_mb": after,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "cpu_cores": os.cpu_count(),
        "note": "clients and server share the machine's cores; latency is client-side, upload included, "
        "result files not downloaded",
    }
    print(
        f"{figures['queries']} queries at concurrency {args.concurrency}: {figures['errors']} errors, "
        f"{figures['throughput_qps']} queries/s over {figures['wall_s']} s"
    )
    for kind in (*KINDS, "overall"):
        m = figures[kind]
        if m.get("count"):
            print(f"  {kind:>8}: p50 {m['p50_ms']:.0f} ms  p99 {m['p99_ms']:.0f} ms  ({m['count']} answered)")
    print(
        f"CPU per query: server {figures['server_cpu_ms_per_query']} ms, "
        f"load generator {figures['client_cpu_ms_per_query']} ms "
        f"(wall {1000 * figures['wall_s'] / figures['queries']:.0f} ms per query on {os.cpu_count()} cores)"
    )
    print(
        f"server RSS {before['rss_mb']:.0f} MB before, {after['rss_mb']:.0f} MB after; "
        f"high-water mark {after['peak_rss_mb']:.0f} MB"
    )
    print(f"load average (1, 5, 15 min): {load_start} at start, {figures['load_average_end']} at end")
    for example in figures["error_examples"]:
        print(f"  error: {example}")
    write_result(args.save_as or ("load_quick" if args.quick else "load"), figures)


if __name__ == "__main__":
    main()
