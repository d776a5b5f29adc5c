"""What the region x ingredient re-ranker (model/reranker.py, `--rerank K`) adds to a photo query.

    python benchmarks/bench_rerank.py --model DIR --index DIR [--data DIR] [--queries 50]
    python benchmarks/bench_rerank.py --limit 300    # an untrained default-preset model with
                                                   # rerank 20, over an index of the first 300 rows
                                                   # (latency does not depend on trained weights)

A photo query end to end, as the app serves it (one torch thread, ui/search.py): the
photo file decoded, encoded (with the re-ranker: its vector and its regions from one
backbone pass), expanded as chosen on val, searched for the top k (8, the app's default),
and with the re-ranker the top K re-ordered. Each query is timed in every way in turn, so
other work on the machine loads them alike:
  dual           the dual encoder alone (encode_photos + index.search)
  rerank_cold    re-ranked by a new PhotoReranker per query, its candidates' ingredient
                 lines read from the index's ingredient_lines.safetensors (what `embeddings
                 build` stores for a model with a re-ranker; memory-mapped, so the OS may
                 hold the pages a previous query read)
  rerank_warm    re-ranked with one PhotoReranker kept across queries, as the app keeps it,
                 after one pass over the queries (the scoring alone)
  fallback_cold  re-ranked as for an index without the stored lines: every candidate's
                 lines embedded afresh by the text backbone (a new PhotoReranker per query:
                 its line cache empty); seconds a query, so on the first FALLBACK_QUERIES only
An --index built before the lines were stored has no rerank_cold/rerank_warm from the
file: both then compute lines, as the note printed says.
Queries are the sample's val photos (pipeline/splits.py). Median and p90 per way, printed
with the command and written to benchmarks/results/rerank.json (either way: the work a
query does does not depend on the weights; the file says which model and index).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import SAMPLE, TOP_K, load_average, percentiles_ms, shown, write_result

QUICK_RERANK = 20  # the hf-icma preset's K
FALLBACK_QUERIES = 10  # the on-the-fly fallback takes seconds a query: a few give its figure


def quick_model_and_index(data: Path, limit: int, work: Path):
    """An untrained default-preset model with a re-ranker (rerank 20) and an index of the
    first `limit` rows of `data`, built in `work`."""
    from embeddings.building.build import build_index
    from embeddings.serving.hub import load_index
    from model import Retriever, RetrieverConfig, save_pretrained
    from pipeline.read import load_recipes

    # No lexical features: they need fitting on training rows, and cost ~1 ms a query either way.
    model = Retriever(RetrieverConfig(rerank=QUICK_RERANK, lexical_dims=0)).eval()
    save_pretrained(model, work / "model")
    recipes = load_recipes(data, progress=False)[:limit]
    build_index(work / "model", data, work / "index", model=model, recipes=recipes, feature_cache=None)
    return model, load_index(work / "index")


def val_photos(data: Path, count: int) -> list[Path]:
    from pipeline.read import load_recipes
    from pipeline.splits import split_name

    return [r.image_path for r in load_recipes(data, progress=False) if split_name(r) == "val" and r.image_path][:count]


def time_queries(model, index, photos: list[Path]) -> dict[str, list[float]]:
    import torch
    from PIL import Image

    from embeddings.serving.rerank import PhotoReranker

    field = model.fitted.recipe_vector
    warm = PhotoReranker(index, model)

    def dual(photo: Path):
        with Image.open(photo) as image:
            vector = model.encode_photos([image])
        query = model.expand("image_to_recipe", vector)[0].numpy()
        return index.search(query, field, TOP_K, rows=index.has_recipe)

    def reranked(photo: Path, reranker: PhotoReranker):
        with Image.open(photo) as image:
            parts = model.encode_photo_parts([image], with_regions=True)
            vector, regions = parts.vectors, parts.regions
        query = model.expand("image_to_recipe", vector)[0].numpy()
        return reranker.search(query, regions[0], field, TOP_K, rows=index.has_recipe)

    ways = {
        "dual": dual,
        "rerank_cold": lambda photo: reranked(photo, PhotoReranker(index, model)),
        "rerank_warm": lambda photo: reranked(photo, warm),
        "fallback_cold": lambda photo: reranked(photo, PhotoReranker(index, model, stored_lines=False)),
    }
    if warm.stored is None:
        print("note: the index stores no ingredient lines: rerank_cold computes them too", file=sys.stderr)
    spent: dict[str, list[float]] = {name: [] for name in ways}
    with torch.no_grad():
        dual(photos[0])  # first-call costs (allocations, lazy searchers) out of the figures
        for photo in photos:  # "warm": every candidate these queries meet already read
            reranked(photo, warm)
        for number, photo in enumerate(photos):
            names = list(ways) if number % 2 == 0 else list(reversed(ways))
            for name in names:
                if name == "fallback_cold" and number >= FALLBACK_QUERIES:
                    continue
                start = time.perf_counter()
                ways[name](photo)
                spent[name].append(time.perf_counter() - start)
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a model folder trained with --rerank K")
    parser.add_argument("--index", type=Path, help="its index folder")
    parser.add_argument("--data", type=Path, default=SAMPLE, help="where the val photos come from")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument(
        "--limit", type=int, help="no --model/--index: an untrained rerank-20 model over an index of this many rows"
    )
    args = parser.parse_args(argv)
    if (args.model is None) != (args.index is None) or (args.model is None and not args.limit):
        parser.error("give --model and --index, or --limit N for an untrained model over N rows")

    import torch

    from embeddings.serving.hub import load_index
    from model import load_pretrained

    with tempfile.TemporaryDirectory(prefix="bench-rerank-") as work:
        if args.model is None:
            model, index = quick_model_and_index(args.data, args.limit, Path(work))
        else:
            model, index = load_pretrained(args.model), load_index(args.index)
        if not model.reranks:
            raise SystemExit(f"{args.model} does not re-rank: trained without --rerank K, or its scorer lost on val")
        photos = val_photos(args.data, args.queries)
        torch.set_num_threads(1)  # as the app serves (ui/search.py)
        load_before = load_average()
        spent = time_queries(model, index, photos)
    figures = {name: percentiles_ms(seconds) for name, seconds in spent.items()}
    for name, row in figures.items():
        print(f"{name:>13}: median {row['p50_ms']:7.1f} ms   p90 {row['p90_ms']:7.1f} ms   ({row['count']} queries)")
    added = figures["rerank_warm"]["p50_ms"] - figures["dual"]["p50_ms"]
    added_cold = figures["rerank_cold"]["p50_ms"] - figures["dual"]["p50_ms"]
    print(
        f"re-ranking the top {model.config.rerank} adds {added_cold:.1f} ms per photo query cold, "
        f"{added:.1f} ms warm (medians)"
    )
    # One result file either way: the latency of re-ranking does not depend on the weights
    # (an untrained model's scorer does the same work), and "index_rows" says which index.
    write_result(
        "rerank",
        {
            "model": shown(args.model) if args.model else f"untrained default preset, rerank {QUICK_RERANK}",
            "index": shown(args.index) if args.index else f"first {args.limit} rows of {shown(args.data)}",
            "index_rows": index.count,
            "rerank_k": model.config.rerank,
            "top_k": TOP_K,
            "torch_threads": 1,
            "queries": len(photos),
            "load_average": {"start": load_before, "end": load_average()},
            "figures_ms": figures,
            "stored_lines": index.ingredient_lines is not None,
            "added_median_ms_warm": round(added, 2),
            "added_median_ms_cold": round(added_cold, 2),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
