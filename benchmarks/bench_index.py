"""Index figures on the Epicurious sample: build speed and size, float16 vs float32 R@K,
and search latency on the sample (exact and faiss, peak RSS).

    python benchmarks/bench_index.py --part build --model artifacts/model   # seconds with train's cache, ~40 min live
    python benchmarks/bench_index.py --part dtype --part sample-search
    python benchmarks/bench_index.py --part build --limit 300 --quick      # a slice -> index_quick.json

Latency and memory against index size, on synthetic vectors as the app opens them, are
benchmarks/bench_large_index.py's (`--rows N`). The exact-against-IVF sweep over 10k, 100k
and 1M synthetic rows that chose IVF_PROBE_FRACTION (results/index.json "synthetic", the
plot search_latency_vs_size.png) was this file's `--part synthetic` until commit 6ccda96:
`git show 6ccda96:benchmarks/bench_index.py`.

Each part prints its figures with the command that made them and merges them into
benchmarks/results/index.json. Figures, not tests: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import RESULTS, SAMPLE, command_line, current_rss_mb, machine, peak_rss_mb  # noqa: E402

PARTS = ("build", "dtype", "sample-search")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", action="append", choices=PARTS, help="default: all three, in order")
    parser.add_argument("--model", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("--data", default=str(SAMPLE))
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_index"), help="where indexes are built")
    parser.add_argument("--quick", action="store_true", help="a smoke run: written to index_quick.json")
    parser.add_argument("--label", help="store a single part's figures under this key instead of the part's name")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    runners = {"build": part_build, "dtype": part_dtype, "sample-search": part_sample_search}
    results = {}
    for part in args.part or PARTS:
        figures = {**runners[part](args), "command": command_line(), **machine()}
        results[args.label if args.label and len(args.part or ()) == 1 else part] = figures
    print(json.dumps(results, indent=2))
    path = RESULTS / ("index_quick.json" if args.quick else "index.json")
    saved = json.loads(path.read_text()) if path.is_file() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**saved, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
