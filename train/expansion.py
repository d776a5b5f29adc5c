"""Fit query expansion through the training pairs (model/expansion.py) on val.

`python -m train` does this after choosing its epoch; for a model trained before it
existed (or to refit it):

    python -m train.expansion --model DIR --data DIR

embeds the training split with the model, tries each direction's (k, weight) on the val
split with the sample's protocol, keeps the best by val R@1 (weight 0, no expansion,
unless something beats it) and rewrites the model folder. The test split is never read
for the choice; it is scored afterwards, and the folder's test figures rewritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from model import Retriever, load_pretrained, save_pretrained
from model.atomic import atomic_write_json
from model.protocol import DIRECTIONS
from pipeline.embed import embed_collection
from pipeline.features import DEFAULT_CACHE
from pipeline.read import load_recipes
from pipeline.splits import SPLITS, split_name

from .metrics import evaluate_embeddings, format_table

# The grid tried per direction; weight 0 (no expansion) is always a candidate.
NEIGHBOURS = (10, 30)
WEIGHTS = (0.25, 0.5, 1.0)


def expanded_queries(model: Retriever, embeds: dict[str, torch.Tensor], recipe_field: str) -> dict[str, torch.Tensor]:
    """direction -> the model's expanded query vectors for every row of `embeds`."""
    out = {}
    for direction, (query_field, _) in DIRECTIONS.items():
        plain = embeds[recipe_field if query_field == "recipe" else query_field]
        out[direction] = model.expand(direction, plain)
    return out


def fit_query_expansion(
    model: Retriever,
    train_embeds: dict,
    train_has_recipe: torch.Tensor,
    val_embeds: dict,
    val_has_recipe: torch.Tensor,
    recipe_field: str,
    **protocol,
) -> dict[str, dict]:
    """Keep the training rows as the model's expansion rows and choose each direction's
    setting on val (`protocol`: evaluate_embeddings' pool sizes, the protocol's by default).
    Returns {direction: {"k", "weight", "val_r1", "val_r1_plain", ...}}; the model's fitted
    state records the choice and these figures."""
    # Title-only rows keep a zero recipe vector: they lend and match only in the title directions.
    recipe = train_embeds[recipe_field] * train_has_recipe[:, None]
    rows = {"image": train_embeds["image"], "title": train_embeds["title"], "recipe": recipe}
    model.set_expansion_rows(rows, train_has_recipe)
    plain = evaluate_embeddings(val_embeds, val_has_recipe, recipe_field=recipe_field, **protocol)
    chosen = {}
    for direction in DIRECTIONS:
        best = {"k": 0, "weight": 0.0, "val_r1": plain[direction]["r1"], "val_medr": plain[direction]["medr"]}
        for k in NEIGHBOURS:
            for weight in WEIGHTS:
                model.set_expansion_directions({direction: {"k": k, "weight": weight}})
                queries = expanded_queries(model, val_embeds, recipe_field)
                m = evaluate_embeddings(
                    val_embeds,
                    val_has_recipe,
                    recipe_field=recipe_field,
                    queries=queries,
                    directions=(direction,),
                    **protocol,
                )[direction]
                if (m["r1"], -m["medr"]) > (best["val_r1"], -best["val_medr"]):
                    best = {"k": k, "weight": weight, "val_r1": m["r1"], "val_medr": m["medr"]}
        chosen[direction] = {**best, "val_r1_plain": plain[direction]["r1"], "val_medr_plain": plain[direction]["medr"]}
    model.set_expansion_directions(chosen)
    model.fitted.query_expansion_val = chosen
    return chosen


def describe(chosen: dict[str, dict]) -> str:
    def line(c: dict) -> str:
        if not c["weight"]:
            return f"off (val R@1 {c['val_r1_plain']:.3f}; no setting beat it)"
        return (
            f"k {c['k']}, weight {c['weight']}: val R@1 {c['val_r1_plain']:.3f} -> {c['val_r1']:.3f}, "
            f"MedR {c['val_medr_plain']:.1f} -> {c['val_medr']:.1f}"
        )

    return "\n".join(f"  {d}: {line(c)}" for d, c in chosen.items())


def score_test(model: Retriever, test_embeds: dict, test_has_recipe: torch.Tensor) -> dict[str, dict]:
    """Test rows scored after the choice (never used for it), with the protocol's bags:
    {"expanded": ..., "plain": ...}."""
    field = model.fitted.recipe_vector
    queries = {"expanded": expanded_queries(model, test_embeds, field), "plain": None}
    return {
        kind: evaluate_embeddings(test_embeds, test_has_recipe, recipe_field=field, queries=q)
        for kind, q in queries.items()
    }


def fit_on_collection(model: Retriever, recipes: list, cache_dir: Path | None, progress: bool = True):
    """Embed a whole collection once (one feature-cache entry, the one index building reads
    too) and fit the expansion on its train and val splits. Returns (chosen, {split:
    (embeds, has_recipe)}); the test rows are embedded but play no part in the choice."""
    embeds, has_recipe = embed_collection(model, recipes, cache_dir, progress=progress)
    names = [split_name(r) for r in recipes]
    parts = {}
    for split in SPLITS:
        rows = torch.tensor([name == split for name in names])
        parts[split] = ({field: e[rows] for field, e in embeds.items()}, has_recipe[rows])
    chosen = fit_query_expansion(model, *parts["train"], *parts["val"], recipe_field=model.fitted.recipe_vector)
    return chosen, parts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m train.expansion", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", type=Path, required=True, help="a model folder written by `python -m train`")
    p.add_argument("--data", required=True, help="the collection it was trained on (its train and val splits are read)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="backbone feature cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    model = load_pretrained(args.model)
    chosen, parts = fit_on_collection(
        model, load_recipes(args.data, progress=not args.quiet), args.cache_dir, progress=not args.quiet
    )
    save_pretrained(model, args.model)
    scored = score_test(model, *parts["test"])  # the folder's test figures follow the model (the card reads them)
    atomic_write_json(args.model / "eval_test.json", scored["expanded"])
    atomic_write_json(args.model / "eval_test_plain.json", scored["plain"])
    print(
        f"query expansion chosen on val ({model.fitted.query_expansion.rows} training rows kept):\n"
        f"{describe(chosen)}\ntest split (reported, never used to choose), with expansion:\n"
        f"{format_table(scored['expanded'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
