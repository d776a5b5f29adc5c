"""Fit query expansion through the training pairs (model/memory.py) on val.

`python -m train` does this after choosing its epoch; for a model trained before it
existed (or to refit it):

    python -m train.memory --model DIR --data DIR

embeds the training split with the model, tries each direction's (k, weight) on the val
split with the sample's protocol, keeps the best by val R@1 (weight 0, no expansion,
unless something beats it) and rewrites the model folder. The test split is never read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from model import Retriever, save_pretrained
from model.memory import DIRECTIONS
from model.saving import atomic_write_bytes

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


def fit_query_expansion(model: Retriever, train_embeds: dict, train_has_recipe: torch.Tensor, val_embeds: dict,
                        val_has_recipe: torch.Tensor, recipe_field: str, pool: int = 1000,
                        recipe_pool: int = 500) -> dict[str, dict]:
    """Store the training rows as the model's memory and choose each direction's setting on
    val. Returns {direction: {"k", "weight", "val_r1", "val_r1_plain"}} (also in the config)."""
    memory = {"image": train_embeds["image"], "title": train_embeds["title"], "recipe": train_embeds[recipe_field]}
    model.set_memory(memory, train_has_recipe, {})
    plain = evaluate_embeddings(val_embeds, val_has_recipe, pool=pool, recipe_pool=recipe_pool, recipe_field=recipe_field)
    chosen = {}
    for direction in DIRECTIONS:
        best = {"k": 0, "weight": 0.0, "val_r1": plain[direction]["r1"], "val_medr": plain[direction]["medr"]}
        for k in NEIGHBOURS:
            for weight in WEIGHTS:
                model.config.query_expansion["directions"] = {direction: {"k": k, "weight": weight}}
                queries = expanded_queries(model, val_embeds, recipe_field)
                m = evaluate_embeddings(val_embeds, val_has_recipe, pool=pool, recipe_pool=recipe_pool,
                                        recipe_field=recipe_field, queries=queries, directions=(direction,))[direction]
                if (m["r1"], -m["medr"]) > (best["val_r1"], -best["val_medr"]):
                    best = {"k": k, "weight": weight, "val_r1": m["r1"], "val_medr": m["medr"]}
        chosen[direction] = {**best, "val_r1_plain": plain[direction]["r1"], "val_medr_plain": plain[direction]["medr"]}
    model.config.query_expansion["directions"] = {d: {"k": c["k"], "weight": c["weight"]} for d, c in chosen.items()}
    return chosen


def describe(chosen: dict[str, dict]) -> str:
    return "\n".join(f"  {d}: " + (f"k {c['k']}, weight {c['weight']}: val R@1 {c['val_r1_plain']:.3f} -> {c['val_r1']:.3f}, "
                                    f"MedR {c['val_medr_plain']:.1f} -> {c['val_medr']:.1f}" if c["weight"] else
                                    f"off (val R@1 {c['val_r1_plain']:.3f}; no setting beat it)")
                     for d, c in chosen.items())


def fit_on_collection(model: Retriever, recipes: list, cache_dir: Path | None, progress: bool = True):
    """Embed a whole collection once (one feature-cache entry, the one index building reads
    too), fit the expansion on its train and val splits. Returns (chosen, embeds, has_recipe,
    split name per row); the test rows are embedded but play no part in the choice."""
    from .data import split_of
    from .evaluate import embed_collection

    embeds, has_recipe = embed_collection(model, recipes, cache_dir, progress=progress)
    split = [split_of(r.id) for r in recipes]
    part = {s: torch.tensor([x == s for x in split]) for s in ("train", "val", "test")}
    pick = lambda s: ({name: e[part[s]] for name, e in embeds.items()}, has_recipe[part[s]])  # noqa: E731
    field = model.config.extra.get("recipe_vector", "recipe")
    chosen = fit_query_expansion(model, *pick("train"), *pick("val"), recipe_field=field)
    model.config.extra["query_expansion_val"] = chosen
    return chosen, embeds, has_recipe, part


def score_test(model: Retriever, embeds: dict, has_recipe: torch.Tensor, part: dict) -> dict[str, dict]:
    """The test rows of fit_on_collection's output, scored after the choice (never used for
    it): {"expanded": ..., "plain": ...} with the sample's protocol."""
    field = model.config.extra.get("recipe_vector", "recipe")
    test = {name: e[part["test"]] for name, e in embeds.items()}
    return {kind: evaluate_embeddings(test, has_recipe[part["test"]], pool=1000, recipe_pool=500, recipe_field=field,
                                      queries=queries)
            for kind, queries in (("expanded", expanded_queries(model, test, field)), ("plain", None))}


def main(argv: list[str] | None = None) -> int:
    from model import load_pretrained

    from .data import load_recipes
    from .features import DEFAULT_CACHE

    p = argparse.ArgumentParser(prog="python -m train.memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="a model folder written by `python -m train`")
    p.add_argument("--data", required=True, help="the collection it was trained on (its train and val splits are read)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="backbone feature cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    model = load_pretrained(args.model)
    chosen, embeds, has_recipe, part = fit_on_collection(model, load_recipes(args.data, progress=not args.quiet),
                                                         args.cache_dir, progress=not args.quiet)
    save_pretrained(model, args.model)
    # The folder's test figures follow the model (the model card reads them).
    scored = score_test(model, embeds, has_recipe, part)
    for name, kind in (("eval_test.json", "expanded"), ("eval_test_plain.json", "plain")):
        atomic_write_bytes(args.model / name, json.dumps(scored[kind], indent=2).encode())
    print(f"query expansion chosen on val ({model.config.query_expansion['rows']} training rows kept):\n{describe(chosen)}\n"
          f"test split (reported, never used to choose), with expansion:\n{format_table(scored['expanded'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
