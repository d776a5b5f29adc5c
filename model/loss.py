"""Masked multi-pair InfoNCE: pure functions, no state. `masked_pairs` is the masking every
pair loss shares (InfoNCE here, AdaMine in adamine.py, the cosine pair loss in cosine_pairs.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MODALITY_PAIRS = (("image", "title"), ("image", "recipe"), ("title", "recipe"))


def clip_loss(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned normalised embeddings a, b of shape (N, D):
    row i of a should pick row i of b among all N, and the other way round."""
    if a.shape != b.shape:
        raise ValueError(f"clip_loss needs aligned embeddings, got {tuple(a.shape)} and {tuple(b.shape)}")
    logits = logit_scale.exp() * a @ b.T  # (N, N)
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def multi_pair_loss(
    embeds: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
    logit_scale: torch.Tensor,
    pairs: tuple[tuple[str, str], ...] = MODALITY_PAIRS,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Average of the symmetric InfoNCE over every pair of modalities (six directional terms).

    embeds:  modality -> (B, D) normalised embeddings (rows of absent modalities are ignored)
    present: modality -> (B,) bool, whether the row has that modality; a pair's term uses
             only rows that have both, so title-only rows still train image-title.
    A pair with fewer than two such rows in the batch has no negatives and is left out.
    """
    terms = {name: clip_loss(a, b, logit_scale) for name, a, b, _ in masked_pairs(embeds, present, pairs)}
    return mean_of_terms(terms)


def masked_pairs(
    embeds: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
    pairs: tuple[tuple[str, str], ...] = MODALITY_PAIRS,
):
    """(name, a, b, rows) for each pair of modalities with at least two rows that have both:
    a, b are those rows' embeddings, rows the (B,) bool mask that picked them (to pick the
    same rows of per-row labels). Fewer than two rows: no negatives, the pair is left out."""
    for x, y in pairs:
        if x not in embeds or y not in embeds:
            continue
        rows = present[x] & present[y]
        if int(rows.sum()) >= 2:
            yield f"{x}_{y}", embeds[x][rows], embeds[y][rows], rows


def mean_of_terms(terms: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """(the terms' mean, {name: value}); refused when no pair had two rows."""
    if not terms:
        raise ValueError("no modality pair has two rows in this batch; the batch is too small")
    total = torch.stack(list(terms.values())).mean()
    return total, {name: float(value.detach()) for name, value in terms.items()}
