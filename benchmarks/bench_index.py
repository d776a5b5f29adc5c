"""Index figures: build speed and size on the Epicurious sample, float16 vs float32 R@K,
search latency on the sample, and top-10 latency and memory against index size on 10k,
100k and 1M synthetic 512-d vectors (exact and faiss IVF, with IVF recall@10), peak RSS.

    python benchmarks/bench_index.py --part build --model artifacts/model   # seconds with train's cache, ~40 min live
    python benchmarks/bench_index.py --part dtype --part sample-search
    python benchmarks/bench_index.py --part synthetic                      # ~7 min, ~7 GB RAM at peak; writes the plot
    python benchmarks/bench_index.py --part synthetic --quick              # 10k only -> index_quick.json

Each part prints its figures with the command that made them and merges them into
benchmarks/results/index.json. Figures, not tests: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "index.json"
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000,)  # both paths (exact, IVF) at one size: seconds
PLOT = ROOT / "benchmarks" / "search_latency_vs_size.png"
SAMPLE = ROOT.parent / "shared" / "data" / "epicurious"
PARTS = ("build", "dtype", "sample-search", "synthetic", "synthetic-exact", "synthetic-ivf")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6


def part_build(args) -> dict:
    """Build float32 from scratch (timed), then the float16 index from it by re-running
    build on a copy: every row is reused, so this also times the incremental path."""
    from embeddings.building.build import build_index

    f32, f16 = args.work / "index_f32", args.work / "index_f16"
    shutil.rmtree(f32, ignore_errors=True)
    report = build_index(args.model, args.data, f32, dtype="float32", progress=not args.quiet)
    print(report, file=sys.stderr)
    shutil.rmtree(f16, ignore_errors=True)
    shutil.copytree(f32, f16)
    again = build_index(args.model, args.data, f16, dtype="float16", progress=not args.quiet)
    print(again, file=sys.stderr)
    return {
        "rows": report.count,
        "encoded": report.encoded,
        "build_seconds": round(report.seconds, 1),
        "build_rows_per_s": round(report.count / report.seconds, 1),
        "rebuild_all_reused_seconds": round(again.seconds, 1),
        "size_mb_float32": round(dir_mb(f32), 1),
        "size_mb_float16": round(dir_mb(f16), 1),
        "files_mb_float16": {f.name: round(f.stat().st_size / 1e6, 2) for f in sorted(f16.iterdir())},
    }


def part_dtype(args) -> dict:
    """The field's protocol on the test split, with the float32 vectors and with the same
    vectors rounded to float16 (queries too, as they would be stored)."""
    from embeddings import load_index
    from model.protocol import BAGS, POOL, RECIPE_POOL
    from pipeline.splits import split_of
    from train.metrics import evaluate_embeddings

    index = load_index(args.work / "index_f32")
    test = torch.tensor([split_of(i) == "test" for i in index.recipes["id"]])
    has_recipe = torch.tensor(index.recipes["has_recipe"].to_numpy(dtype=bool))[test]
    out = {"test_rows": int(test.sum()), "test_recipes": int(has_recipe.sum())}
    for dtype in ("float32", "float16"):
        embeds = {
            f: index.vectors(f)[test].to(getattr(torch, dtype)).float() for f in ("image", "title", "recipe", "fused")
        }
        results = evaluate_embeddings(embeds, has_recipe, pool=POOL, recipe_pool=RECIPE_POOL, bags=BAGS, seed=0)
        out[dtype] = {d: {k: round(v, 4) for k, v in m.items()} for d, m in results.items()}
    out["r1_change_points"] = {
        d: round(100 * abs(out["float16"][d]["r1"] - out["float32"][d]["r1"]), 3) for d in out["float32"]
    }
    # Top-1 agreement over every row as a query, whole index, each field against each.
    index16 = load_index(args.work / "index_f16")
    agree = total = 0
    for query_field, target in (("image", "recipe"), ("recipe", "image"), ("title", "image"), ("image", "title")):
        for row in range(0, index.count, max(1, index.count // 500)):
            if query_field == "recipe" and not index.recipes["has_recipe"].iat[row]:
                continue
            a = index.search(index.vectors(query_field)[row].numpy(), target, 1)[0].row
            b = index16.search(index16.vectors(query_field)[row].float().numpy(), target, 1)[0].row
            agree, total = agree + (a == b), total + 1
    out["top1_agreement"] = f"{agree}/{total}"
    return out


def time_queries(searcher_search, queries: torch.Tensor, k: int = 10) -> dict:
    """Median, 10th and 90th percentile ms per query: on a shared machine the median says
    what the code costs, the tail what the neighbours cost."""
    searcher_search(queries[0], k)  # warm-up (faiss / torch first-call costs)
    times = []
    for query in queries:
        started = time.perf_counter()
        searcher_search(query, k)
        times.append(1000 * (time.perf_counter() - started))
    return {
        "median_ms": round(float(np.median(times)), 3),
        "p10_ms": round(float(np.percentile(times, 10)), 3),
        "p90_ms": round(float(np.percentile(times, 90)), 3),
    }


def part_sample_search(args) -> dict:
    from embeddings import load_index

    before = current_rss_mb()
    index = load_index(args.work / "index_f16")
    loaded = current_rss_mb()
    rng = np.random.default_rng(0)
    rows = rng.choice(index.count, size=min(200, index.count), replace=False)
    out = {"rows": index.count, "index_rss_mb": round(loaded - before, 1)}
    for field, query_field in (("recipe", "image"), ("image", "title"), ("fused", "image")):
        queries = index.vectors(query_field)[torch.from_numpy(rows)].float()
        for backend in ("exact", "faiss-flat"):
            probe = load_index(args.work / "index_f16", backend=backend) if backend != "exact" else index

            def search(query, k, probe=probe, field=field):  # bound now: the loop moves on
                return probe.search(query.numpy(), field, k)

            out[f"{field}_{backend}_per_query"] = time_queries(search, queries)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def synthetic_data(n: int, dim: int, clusters: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors around `clusters` random centres (noise as large as the centre), like
    real embeddings that group by dish; queries drawn the same way, not in the data.
    Returned as float16 (what an index stores) to keep memory down."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(clusters, dim, generator=generator), dim=1)
    chunks = []
    for start in range(0, n + 1000, 100_000):
        size = min(100_000, n + 1000 - start)
        x = centres[torch.randint(clusters, (size,), generator=generator)]
        x = x + torch.randn(size, dim, generator=generator) / dim**0.5
        chunks.append(torch.nn.functional.normalize(x, dim=1).half())
    data = torch.cat(chunks)
    return data[:n].contiguous(), data[n:].float()


def truth_path(args) -> Path:
    return args.work / f"synthetic_truth_{args.n}.npy"


def clusters_for(args, n: int) -> int:
    """Default n/100 clusters: as many rows per cluster at every size (10,000 at 1M, as before)."""
    return args.clusters or max(1, n // 100)


def part_synthetic_exact(args) -> dict:
    from embeddings.serving.search import ExactSearcher

    baseline = current_rss_mb()  # the interpreter, torch and faiss: what any size costs
    data, queries = synthetic_data(args.n, args.dim, clusters_for(args, args.n))
    searcher = ExactSearcher(data)
    truth = np.stack([searcher.search(q, 10)[1] for q in queries[: args.queries]])
    np.save(truth_path(args), truth, allow_pickle=False)
    # Stored float16 as the index stores it; ExactSearcher searches a float32 copy below
    # FLOAT32_COPY_BYTES (faster for small matrices), so the searched dtype is recorded.
    return {
        "n": args.n,
        "dim": args.dim,
        "dtype": "float16",
        "searched_dtype": str(searcher.matrix.dtype).replace("torch.", ""),
        "clusters": clusters_for(args, args.n),
        "queries": args.queries,
        "per_query": time_queries(searcher.search, queries[: args.queries]),
        "baseline_rss_mb": round(baseline, 1),
        "rss_mb": round(current_rss_mb(), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def part_synthetic_ivf(args) -> dict:
    from embeddings.serving.faiss_store import IVF_PROBE_FRACTION
    from embeddings.serving.search import FaissSearcher

    baseline = current_rss_mb()
    data, queries = synthetic_data(args.n, args.dim, clusters_for(args, args.n))
    started = time.perf_counter()
    searcher = FaissSearcher(data, approximate=True)
    del data
    out = {
        "n": args.n,
        "dim": args.dim,
        "nlist": searcher.index.nlist,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    truth = np.load(truth_path(args), allow_pickle=False)
    queries = queries[: len(truth)]
    sweep = []
    for fraction in (1 / 256, 1 / 128, 1 / 64, 1 / 32, 1 / 16):
        nprobe = max(1, round(searcher.index.nlist * fraction))
        searcher.index.nprobe = nprobe
        found = [searcher.search(q, 10)[1] for q in queries]
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
        sweep.append(
            {"nprobe": nprobe, "recall_at_10": round(recall, 4), "per_query": time_queries(searcher.search, queries)}
        )
    out["sweep"] = sweep
    out["default_nprobe"] = max(1, math.ceil(searcher.index.nlist * IVF_PROBE_FRACTION))
    out["baseline_rss_mb"] = round(baseline, 1)
    out["rss_mb"], out["peak_rss_mb"] = round(current_rss_mb(), 1), round(peak_rss_mb(), 1)
    return out


def part_synthetic(args) -> dict:
    """Every size, exact then IVF, each in its own process so each peak RSS is its own."""
    from tqdm import tqdm

    from benchmarks.common import load_average

    out = {"load_average_start": load_average(), "sizes": {}}
    for n in tqdm(args.sizes, desc="index sizes"):
        clusters = clusters_for(args, n)
        sized = {}
        for part in ("synthetic-exact", "synthetic-ivf"):
            command = [
                sys.executable,
                __file__,
                "--part",
                part,
                "--work",
                str(args.work),
                "--n",
                str(n),
                "--dim",
                str(args.dim),
                "--clusters",
                str(clusters),
                "--queries",
                str(args.queries),
                "--no-save",
            ]
            result = subprocess.run(command, check=True, capture_output=True, text=True)
            sized[part.split("-", 1)[1]] = json.loads(result.stdout.strip().splitlines()[-1])[part]
        out["sizes"][str(n)] = sized
    out["load_average_end"] = load_average()
    plot_latency_vs_size(out["sizes"], PLOT.with_name(f"{PLOT.stem}_quick.png") if args.quick else PLOT)
    return out


def ivf_default(ivf: dict) -> dict:
    """The sweep entry at the nprobe the index uses by default."""
    return next(x for x in ivf["sweep"] if x["nprobe"] == ivf["default_nprobe"])


def plot_latency_vs_size(sizes: dict, path: Path) -> None:
    """Median top-10 latency (bars: 10th-90th percentile) and peak RSS against rows."""
    from train.plots import save_figure  # first: it sets the Agg backend pyplot then uses

    # isort: split
    import matplotlib.pyplot as plt

    ns = sorted(int(n) for n in sizes)
    fig, (ax, mem) = plt.subplots(1, 2, figsize=(10, 4))
    for label, pick, colour in (
        ("exact (torch)", lambda s: s["exact"]["per_query"], "tab:blue"),
        ("faiss IVF, default nprobe", lambda s: ivf_default(s["ivf"])["per_query"], "tab:orange"),
    ):
        stats = [pick(sizes[str(n)]) for n in ns]
        median = np.array([s["median_ms"] for s in stats])
        low = median - np.array([s.get("p10_ms", s["median_ms"]) for s in stats])
        high = np.array([s["p90_ms"] for s in stats]) - median
        ax.errorbar(ns, median, yerr=[low, high], marker="o", capsize=3, label=label, color=colour)
    for n in ns:
        recall = ivf_default(sizes[str(n)]["ivf"])["recall_at_10"]
        ax.annotate(
            f"R@10 {recall:.3f}",
            (n, ivf_default(sizes[str(n)]["ivf"])["per_query"]["median_ms"]),
            textcoords="offset points",
            xytext=(4, -12),
            fontsize=8,
            color="tab:orange",
        )
    mem.plot(
        ns, [sizes[str(n)]["exact"]["peak_rss_mb"] / 1024 for n in ns], marker="o", label="exact", color="tab:blue"
    )
    mem.plot(
        ns, [sizes[str(n)]["ivf"]["peak_rss_mb"] / 1024 for n in ns], marker="o", label="faiss IVF", color="tab:orange"
    )
    for axis, ylabel in ((ax, "ms per top-10 query (median, p10-p90)"), (mem, "peak RSS of the process (GB)")):
        axis.set_xscale("log")
        axis.set_xlabel("index rows (512-d, stored float16)")
        axis.set_ylabel(ylabel)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    ax.set_yscale("log")
    fig.suptitle("Search latency and memory against index size (synthetic, 1 query at a time)")
    save_figure(fig, path)
    print(f"written {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", action="append", choices=PARTS, required=True)
    parser.add_argument("--model", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("--data", default=str(SAMPLE))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_index"), help="where indexes are built")
    parser.add_argument("--n", type=int, default=1_000_000, help="rows of one synthetic-exact/-ivf run")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="rows at which --part synthetic measures"
    )
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=None, help="synthetic clusters (default: rows / 100)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="synthetic at 10k only, 50 queries; written to index_quick.json and a _quick plot",
    )
    parser.add_argument("--label", help="store a single part's figures under this key instead of the part's name")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--no-save", action="store_true", help="print only (used by the synthetic subprocesses)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.queries = list(QUICK_SIZES), 50
    args.work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    command = "python benchmarks/bench_index.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    runners = {
        "build": part_build,
        "dtype": part_dtype,
        "sample-search": part_sample_search,
        "synthetic": part_synthetic,
        "synthetic-exact": part_synthetic_exact,
        "synthetic-ivf": part_synthetic_ivf,
    }
    results = {}
    for part in args.part:
        figures = runners[part](args)
        figures.update(
            command=command,
            machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            date=time.strftime("%Y-%m-%d %H:%M"),
        )
        results[args.label if args.label and len(args.part) == 1 else part] = figures
    print(json.dumps(results) if args.no_save else json.dumps(results, indent=2))
    if not args.no_save:
        path = RESULTS.with_name("index_quick.json") if args.quick else RESULTS
        saved = json.loads(path.read_text()) if path.is_file() else {}
        saved.update(results)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
