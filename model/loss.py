"""Masked multi-pair InfoNCE: pure functions, no state."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MODALITY_PAIRS = (("image", "title"), ("image", "recipe"), ("title", "recipe"))


def hard_negative_logits(logits: torch.Tensor, beta: float) -> torch.Tensor:
    """Reweight each row's negatives by exp(beta * logit), normalised to mean 1 over the
    row's negatives (Robinson et al. 2021, "Contrastive learning with hard negative
    samples"): near-misses count more, easy negatives less. The weights are constants
    (detached); in log space they add to the negatives' logits. beta = 0 is plain InfoNCE."""
    if beta == 0:
        return logits
    n = logits.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=logits.device)
    scaled = (beta * logits.detach()).masked_fill(eye, float("-inf"))
    log_weights = scaled - (torch.logsumexp(scaled, dim=1, keepdim=True) - math.log(max(1, n - 1)))
    return logits + log_weights.masked_fill(eye, 0.0)


def clip_loss(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor, hard_negatives: float = 0.0) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned normalised embeddings a, b of shape (N, D):
    row i of a should pick row i of b among all N, and the other way round.
    `hard_negatives`: beta of hard_negative_logits (0: off)."""
    if a.shape != b.shape:
        raise ValueError(f"clip_loss needs aligned embeddings, got {tuple(a.shape)} and {tuple(b.shape)}")
    logits = logit_scale.exp() * a @ b.T  # (N, N)
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(hard_negative_logits(logits, hard_negatives), target)
            + F.cross_entropy(hard_negative_logits(logits.T, hard_negatives), target)) / 2


def multi_pair_loss(
    embeds: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
    logit_scale: torch.Tensor,
    pairs: tuple[tuple[str, str], ...] = MODALITY_PAIRS,
    hard_negatives: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Average of the symmetric InfoNCE over every pair of modalities (six directional terms).

    embeds:  modality -> (B, D) normalised embeddings (rows of absent modalities are ignored)
    present: modality -> (B,) bool, whether the row has that modality; a pair's term uses
             only rows that have both, so title-only rows still train image-title.
    A pair with fewer than two such rows in the batch has no negatives and is left out.
    hard_negatives: beta of the hard-negative reweighting (0: plain InfoNCE).
    """
    terms: dict[str, torch.Tensor] = {}
    for x, y in pairs:
        if x not in embeds or y not in embeds:
            continue
        rows = present[x] & present[y]
        if int(rows.sum()) >= 2:
            terms[f"{x}_{y}"] = clip_loss(embeds[x][rows], embeds[y][rows], logit_scale, hard_negatives)
    if not terms:
        raise ValueError("no modality pair has two rows in this batch; the batch is too small")
    total = torch.stack(list(terms.values())).mean()
    return total, {name: float(value.detach()) for name, value in terms.items()}
