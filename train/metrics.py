"""The field's retrieval protocol (im2recipe / AdaMine / H-T): B bags of N held-out
pairs drawn with a fixed seed; inside a bag every candidate is ranked by cosine
similarity; MedR (1-based) and R@1/5/10, averaged over bags with their spread."""

from __future__ import annotations

import numpy as np
import torch

from model.protocol import BAGS, DIRECTIONS, POOL, RECIPE_POOL

RECALL_AT = (1, 5, 10)


def ranks_of_matches(queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """queries, candidates: (n, D) unit vectors, row i of each a true pair.
    Returns the 1-based rank of candidate i for query i, shape (n,). Ties count against
    the model (a candidate scoring equal to the match ranks above it)."""
    sims = queries @ candidates.T  # (n, n) cosine
    true = sims.diagonal().unsqueeze(1)  # (n, 1)
    return (sims >= true).sum(dim=1)  # includes the match itself -> 1-based


def summarise_ranks(ranks: torch.Tensor) -> dict[str, float]:
    ranks = ranks.double()
    out = {"medr": float(np.median(ranks.numpy()))}  # the mean of the middle two for even counts
    for k in RECALL_AT:
        out[f"r{k}"] = float((ranks <= k).double().mean())
    return out


def bag_metrics(
    queries: torch.Tensor, candidates: torch.Tensor, pool: int = POOL, bags: int = BAGS, seed: int = 0
) -> dict[str, float]:
    """Mean and spread over `bags` random bags of `pool` pairs; one bag of every pair
    when there are fewer than `pool` (the returned `pool`/`bags` say what was used)."""
    n = queries.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 held-out pairs to rank, got {n}")
    if n <= pool:
        pool, bags = n, 1
    generator = torch.Generator().manual_seed(seed)
    per_bag = []
    for _ in range(bags):
        rows = torch.randperm(n, generator=generator)[:pool]
        per_bag.append(summarise_ranks(ranks_of_matches(queries[rows], candidates[rows])))
    out: dict[str, float] = {}
    for name in per_bag[0]:
        values = np.array([bag[name] for bag in per_bag])
        out[name] = float(values.mean())
        out[f"{name}_std"] = float(values.std())
    out["pool"], out["bags"] = pool, bags
    return out


def evaluate_embeddings(
    embeds: dict[str, torch.Tensor],
    has_recipe: torch.Tensor,
    pool: int = POOL,
    recipe_pool: int = RECIPE_POOL,
    bags: int = BAGS,
    seed: int = 0,
    recipe_field: str = "recipe",
    queries: dict[str, torch.Tensor] | None = None,
    directions: tuple[str, ...] = tuple(DIRECTIONS),
) -> dict[str, dict]:
    """The four directions (or `directions`) with the protocol's bags (model/protocol.py).
    embeds: image/title/recipe[/fused] (N, D)
    row-aligned; the recipe directions use only rows with a recipe and the `recipe_field`
    vector. queries: direction -> (N, D) query vectors to use instead of the plain ones
    (expanded queries, model/expansion.py)."""
    results = {}
    for direction in directions:
        q, c = DIRECTIONS[direction]
        uses_recipe = "recipe" in (q, c)
        rows = has_recipe if uses_recipe else torch.ones_like(has_recipe)
        query_field, candidate_field = (recipe_field if m == "recipe" else m for m in (q, c))
        query = queries[direction][rows] if queries and direction in queries else embeds[query_field][rows]
        size = recipe_pool if uses_recipe else pool
        results[direction] = bag_metrics(query, embeds[candidate_field][rows], pool=size, bags=bags, seed=seed)
    return results


def recall_curve(
    queries: torch.Tensor, candidates: torch.Tensor, pool: int, bags: int = BAGS, seed: int = 0, max_k: int = 50
) -> list[float]:
    """Mean R@K for K = 1..max_k over the same bags bag_metrics draws."""
    n = queries.shape[0]
    pool, bags = (n, 1) if n <= pool else (pool, bags)
    generator = torch.Generator().manual_seed(seed)
    curve = torch.zeros(max_k, dtype=torch.float64)
    for _ in range(bags):
        rows = torch.randperm(n, generator=generator)[:pool]
        ranks = ranks_of_matches(queries[rows], candidates[rows])
        curve += torch.tensor([(ranks <= k).double().mean().item() for k in range(1, max_k + 1)])
    return (curve / bags).tolist()


def format_table(results: dict[str, dict]) -> str:
    lines = [f"{'direction':<17} {'pool':>5} {'bags':>4} {'MedR':>7} {'R@1':>12} {'R@5':>12} {'R@10':>12}"]

    def cell(m: dict, k: str) -> str:
        return f"{m[k]:.3f}±{m[k + '_std']:.3f}"

    for direction, m in results.items():
        lines.append(
            f"{direction:<17} {m['pool']:>5} {m['bags']:>4} {m['medr']:>7.1f} "
            f"{cell(m, 'r1'):>12} {cell(m, 'r5'):>12} {cell(m, 'r10'):>12}"
        )
    return "\n".join(lines)
