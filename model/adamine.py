"""AdaMine's loss (Carvalho et al., "Cross-Modal Retrieval in the Cooking Context",
SIGIR 2018): bidirectional triplets with a margin over in-batch negatives, cosine
similarity, no temperature, at two levels, with adaptive mining.

Adaptive mining: each level's triplet costs are summed and divided by the number of
triplets whose cost is non-zero, not by all of them. Early on nearly every triplet
violates the margin and the level is a plain average over all negatives; as training
satisfies most of them the same sum is spread over the few still violated, so the hard
negatives keep a full-sized gradient instead of being drowned in zeros: a curriculum from
all negatives to the hard ones, with no schedule to tune.

Levels: instance (row i's other modality is the positive, every other row a negative)
and semantic (the positive is another row of i's dish class, the negatives rows of other
classes; background rows, class 0, are no anchor, positive or negative). Combined per
pair of modalities as instance + λ·semantic, where λ adapts (`semantic_lambda`).
"""

from __future__ import annotations

import torch

from .loss import MODALITY_PAIRS, masked_pairs, mean_of_terms


def adaptive_mean(costs: torch.Tensor) -> torch.Tensor:
    """Sum of hinge costs over the number of non-zero ones (0 when none is)."""
    active = int((costs > 0).sum())
    return costs.sum() / max(1, active)


def active_share(costs: torch.Tensor) -> float:
    """The share of triplets that still violate the margin (0 for no triplet)."""
    return float((costs > 0).float().mean()) if costs.numel() else 0.0


def instance_costs(sim: torch.Tensor, margin: float) -> torch.Tensor:
    """Hinge costs of every instance triplet of both directions, flattened.
    sim: (N, N) cosine similarities, row i of a against row j of b; the diagonal holds
    the positives. a_i -> (b_i, b_j): margin - s_ii + s_ij; b_j -> (a_j, a_i): margin - s_jj + s_ij."""
    positive = sim.diagonal()
    off_diagonal = ~torch.eye(len(sim), dtype=torch.bool, device=sim.device)
    a_anchored = (margin - positive[:, None] + sim)[off_diagonal]
    b_anchored = (margin - positive[None, :] + sim)[off_diagonal]
    return torch.cat([a_anchored, b_anchored]).clamp(min=0)


def semantic_costs(sim: torch.Tensor, classes: torch.Tensor, margin: float) -> torch.Tensor:
    """Hinge costs of the semantic triplets anchored in sim's rows (pass sim.T for the
    other direction), flattened. Each anchor of a dish class (not 0) takes as positive the
    first other row of its class in the batch (AdaMine took the first too: the batch order
    is random) and as negatives every row of another class that is not background."""
    named = classes != 0
    same = (classes[:, None] == classes[None, :]) & named[:, None]
    same.fill_diagonal_(False)
    has_positive = same.any(dim=1)
    positive = sim.gather(1, same.float().argmax(dim=1, keepdim=True))  # (N, 1): first True
    negative = named[None, :] & (classes[:, None] != classes[None, :]) & has_positive[:, None]
    return (margin - positive + sim)[negative].clamp(min=0)


def semantic_lambda(start: float, instance_share: float, semantic_share: float, instance_count: int) -> float:
    """λ of one step: start · (semantic share of active triplets / instance share), at most 1.

    Adaptive mining makes each level's value independent of how many of its triplets still
    violate the margin: left alone, a level whose triplets are nearly all satisfied would
    pull as hard as one with most still violated. The semantic labels come from title words
    (train/dish_classes.py) and are noisy, so its last few violators are often mislabelled
    rows; weighting each level by its share of active triplets keeps the balance to what
    each still has to learn. At the start both shares are ~1 (random embeddings violate a
    0.3 margin everywhere), so λ starts at `start`. Capped at 1 so the semantic level never
    outweighs the instance level, the one retrieval is scored on. The shares are counts,
    not differentiated, and come from the step's global batch alone: no state to resume."""
    floor = 1.0 / max(1, instance_count)  # at least one active instance triplet: no division by 0
    return min(1.0, start * semantic_share / max(instance_share, floor))


def adamine_loss(
    embeds: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
    classes: torch.Tensor | None,
    margin: float,
    semantic_weight: float,
    pairs: tuple[tuple[str, str], ...] = MODALITY_PAIRS,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over the modality pairs of instance + λ·semantic (masked as multi_pair_loss is).
    classes: (B,) dish class of each row (0 background), or None / semantic_weight 0 for the
    instance level alone."""
    terms: dict[str, torch.Tensor] = {}
    stats: dict[str, float] = {}
    for name, a, b, rows in masked_pairs(embeds, present, pairs):
        sim = a @ b.T
        instance = instance_costs(sim, margin)
        terms[name] = adaptive_mean(instance)
        stats[f"{name}_instance_active"] = active_share(instance)
        if classes is None or not semantic_weight:
            continue
        labels = classes[rows]
        semantic = torch.cat([semantic_costs(sim, labels, margin), semantic_costs(sim.T, labels, margin)])
        weight = semantic_lambda(semantic_weight, active_share(instance), active_share(semantic), instance.numel())
        terms[name] = terms[name] + weight * adaptive_mean(semantic)
        stats[f"{name}_semantic_active"] = active_share(semantic)
        stats[f"{name}_lambda"] = weight
    total, values = mean_of_terms(terms)
    return total, {**values, **stats}
