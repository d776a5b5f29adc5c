"""Query expansion through the training pairs (model/expansion.py), measured on trained models.

    python benchmarks/bench_query_expansion.py --model artifacts/model [--model DIR ...] [--data DIR]
    python benchmarks/bench_query_expansion.py --quick --model DIR   # first 120 rows -> query_expansion_quick.json

For each model folder (copied, never changed): embed the collection once, keep the
training rows as the memory, choose each direction's (k, weight) on val, then score the
test split with the sample's protocol (10 bags of 500 pairs for the recipe directions,
10 bags of 1,000 for the title directions) with and without expansion. Also times the
expansion of one query against the memory (what the app adds per search).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from benchmarks.common import ROOT, load_average, percentiles_ms, shown, write_result
from benchmarks.quick import QUICK_ROWS

QUICK_TIMINGS = 50


def measure(
    model_dir: Path, data: str, work: Path, cache_dir: Path | None, limit: int | None = None, timings: int = 200
) -> dict:
    import torch

    from model import load_pretrained, save_pretrained
    from pipeline.read import load_recipes
    from train.expansion import describe, fit_on_collection, score_test

    copy = work / model_dir.name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(model_dir, copy)
    model = load_pretrained(copy)
    started = time.perf_counter()
    chosen, parts = fit_on_collection(model, load_recipes(data, progress=False)[:limit], cache_dir, progress=False)
    fit_seconds = time.perf_counter() - started
    save_pretrained(model, copy)
    print(f"{shown(model_dir)}: chosen on val\n{describe(chosen)}", flush=True)
    test_embeds, test_has_recipe = parts["test"]
    scored = score_test(model, test_embeds, test_has_recipe)
    query = test_embeds["title"][:1]
    torch.set_num_threads(1)  # as the app serves (ui/search.py)
    spent = []
    for _ in range(timings):
        start = time.perf_counter()
        model.expand("title_to_image", query)
        spent.append(time.perf_counter() - start)
    return {
        "model": shown(model_dir),
        "fitted_copy": shown(copy),
        "recipe_vector": model.fitted.recipe_vector,
        "chosen_on_val": chosen,
        "memory_rows": model.fitted.query_expansion.rows,
        "fit_seconds_with_embedding": fit_seconds,
        "test_plain": scored["plain"],
        "test_expanded": scored["expanded"],
        "expand_one_query": percentiles_ms(spent),
    }


def protocol() -> str:
    from model.protocol import BAGS, POOL, RECIPE_POOL

    return (
        f"settings chosen on val; test split scored with {BAGS} bags of {RECIPE_POOL} pairs (recipe directions) "
        f"and {BAGS} bags of {POOL:,} (title directions)"
    )


def main() -> None:
    from pipeline.features import DEFAULT_CACHE

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--model", type=Path, action="append", help="trained model folder, repeatable (default: artifacts/model)"
    )
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "bench-expansion", help="where fitted copies go")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="the feature cache training filled")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"the first {QUICK_ROWS} usable rows, {QUICK_TIMINGS} timed "
        "expansions: a smoke run, written to query_expansion_quick.json",
    )
    args = p.parse_args()
    load_start = load_average()
    rows = []
    for model_dir in args.model or [ROOT / "artifacts" / "model"]:
        rows.append(
            measure(
                model_dir,
                args.data,
                args.work,
                args.cache_dir,
                QUICK_ROWS if args.quick else None,
                QUICK_TIMINGS if args.quick else 200,
            )
        )
        for direction in rows[-1]["test_plain"]:
            a, b = rows[-1]["test_plain"][direction], rows[-1]["test_expanded"][direction]
            print(
                f"  test {direction}: R@1 {a['r1']:.3f} -> {b['r1']:.3f}, R@10 {a['r10']:.3f} -> {b['r10']:.3f}, "
                f"MedR {a['medr']:.1f} -> {b['medr']:.1f}",
                flush=True,
            )
    write_result(
        "query_expansion_quick" if args.quick else "query_expansion",
        {
            "data": args.data,
            "protocol": protocol(),
            "models": rows,
            "load_average": {"start": load_start, "end": load_average()},
        },
    )


if __name__ == "__main__":
    main()
