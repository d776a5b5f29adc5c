"""Masked multi-pair InfoNCE: pure functions, no state."""

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
    terms: dict[str, torch.Tensor] = {}
    for x, y in pairs:
        if x not in embeds or y not in embeds:
            continue
        rows = present[x] & present[y]
        if int(rows.sum()) >= 2:
            terms[f"{x}_{y}"] = clip_loss(embeds[x][rows], embeds[y][rows], logit_scale)
    if not terms:
        raise ValueError("no modality pair has two rows in this batch; the batch is too small")
    total = torch.stack(list(terms.values())).mean()
    return total, {name: float(value.detach()) for name, value in terms.items()}
