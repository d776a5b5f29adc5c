"""`python -m train.evaluate --model DIR --data DIR`: the field's retrieval protocol on
held-out pairs (see train/metrics.py), in all four directions.

Defaults are the Epicurious sample's protocol: 10 bags of 500 pairs for image->recipe and
recipe->image, 10 bags of 1,000 for the title directions (one bag of everything when a
split has fewer pairs; the output says the pool used).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

from embeddings.serving.hub import load_model
from model.atomic import atomic_write_json
from model.protocol import BAGS, POOL, RECIPE_POOL
from pipeline.embed import embed_collection
from pipeline.features import DEFAULT_CACHE
from pipeline.read import load_recipes
from pipeline.splits import select_split

from .expansion import expanded_queries
from .metrics import evaluate_embeddings, format_table


def score(
    model,
    recipes: list,
    cache_dir=DEFAULT_CACHE,
    field: str | None = None,
    expansion: bool = True,
    pool: int = POOL,
    recipe_pool: int = RECIPE_POOL,
    bags: int = BAGS,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict[str, dict], "torch.Tensor"]:
    """The protocol's figures of a model on these rows (as served: the recipe vector and
    query expansion chosen on val unless told otherwise), and which rows have a recipe."""
    embeds, has_recipe = embed_collection(model, recipes, cache_dir, progress=progress)
    field = field or model.fitted.recipe_vector
    queries = expanded_queries(model, embeds, field) if expansion else None
    results = evaluate_embeddings(
        embeds,
        has_recipe,
        pool=pool,
        recipe_pool=recipe_pool,
        bags=bags,
        seed=seed,
        recipe_field=field,
        queries=queries,
    )
    return results, has_recipe


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train.evaluate", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--model", required=True, help="a model folder written by `python -m train`, or a Hub id")
    p.add_argument("--revision", default=None, help="Hub revision (tag or commit) when --model is a Hub id")
    p.add_argument("--data", required=True, help="collection to score (Kaggle-layout folder or datasets source)")
    p.add_argument(
        "--split",
        default="test",
        choices=["test", "val", "train", "all"],
        help="which rows; 'all' scores a whole collection the model never saw",
    )
    p.add_argument("--pool", type=int, default=POOL, help="pairs per bag for the title directions")
    p.add_argument(
        "--recipe-pool",
        type=int,
        default=RECIPE_POOL,
        help="pairs per bag for image<->recipe (the sample has ~550 test recipes)",
    )
    p.add_argument("--bags", type=int, default=BAGS, help="number of bags")
    p.add_argument("--seed", type=int, default=0, help="seed of the bag draws")
    p.add_argument(
        "--recipe-vector",
        choices=["auto", "recipe", "fused"],
        default="auto",
        help="recipe text alone, or fused with the title; auto = what training chose on val",
    )
    p.add_argument(
        "--no-expansion",
        action="store_true",
        help="score the plain queries, without the query expansion training chose on val",
    )
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="backbone feature cache")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    model = load_model(args.model, args.revision)  # a local folder, or a Hub id through the one Hub module
    recipes = select_split(load_recipes(args.data, progress=not args.quiet), args.split)
    field = model.fitted.recipe_vector if args.recipe_vector == "auto" else args.recipe_vector
    results, has_recipe = score(
        model,
        recipes,
        args.cache_dir,
        field,
        not args.no_expansion,
        args.pool,
        args.recipe_pool,
        args.bags,
        args.seed,
        not args.quiet,
    )
    expanded = model.fitted.query_expansion.expanded_directions()
    print(
        f"{args.data} split={args.split}: {len(recipes)} rows, {int(has_recipe.sum())} full recipes; "
        f"recipe vector: {field}; query expansion: "
        f"{'off (--no-expansion)' if args.no_expansion else ', '.join(expanded) or 'none chosen'}",
        file=sys.stderr,
    )
    print(format_table(results))
    if args.json:
        atomic_write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
