"""im2recipe's loss (Salvador et al., CVPR 2017): a cosine embedding loss over matching and
mismatched pairs, plus a semantic regulariser (one dish classifier shared by every
modality), as torch.nn.CosineEmbeddingLoss scores pairs.

Each row of a pair of modalities is its matching pair (cost 1 - cos) or, with probability
`mismatch_rate` (im2recipe: 0.8), a mismatched pair with another row drawn at random
(cost max(0, cos - margin)). The draws come from a generator the caller seeds, so a
resumed run and every rank of a distributed run draw the same pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .loss import MODALITY_PAIRS, masked_pairs, mean_of_terms


def mismatch_draws(rows: int, rate: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(mismatched (rows,) bool, partner (rows,) long): each row is mismatched with
    probability `rate`, its partner then another row drawn uniformly; otherwise itself."""
    own = torch.arange(rows)
    mismatched = torch.rand(rows, generator=generator) < rate
    other = (own + torch.randint(1, rows, (rows,), generator=generator)) % rows  # never the row itself
    return mismatched, torch.where(mismatched, other, own)


def cosine_pair_loss(
    a: torch.Tensor, b: torch.Tensor, mismatch_rate: float, margin: float, generator: torch.Generator
) -> torch.Tensor:
    """Mean cosine embedding loss of row-aligned unit vectors a, b (N, D), N >= 2."""
    mismatched, partner = mismatch_draws(len(a), mismatch_rate, generator)
    mismatched, partner = mismatched.to(a.device), partner.to(a.device)
    cos = (a * b[partner]).sum(dim=-1)
    return torch.where(mismatched, (cos - margin).clamp(min=0), 1 - cos).mean()


def cosine_loss(
    embeds: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
    mismatch_rate: float,
    margin: float,
    generator: torch.Generator,
    pairs: tuple[tuple[str, str], ...] = MODALITY_PAIRS,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over the modality pairs (masked as multi_pair_loss is) of cosine_pair_loss; the
    pairs draw from `generator` in MODALITY_PAIRS order."""
    terms = {
        name: cosine_pair_loss(a, b, mismatch_rate, margin, generator)
        for name, a, b, _ in masked_pairs(embeds, present, pairs)
    }
    return mean_of_terms(terms)


def semantic_regulariser(
    head: torch.nn.Module, embeds: dict[str, torch.Tensor], present: dict[str, torch.Tensor], classes: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of one dish classifier applied to every modality's embeddings, averaged
    over the modalities. Background rows (class 0) are left out, as AdaMine's reimplementation
    of im2recipe does: "no frequent title word" is no class to pull embeddings towards. A
    batch with none gives 0, still connected to the head (DDP waits for its gradient)."""
    losses = []
    for modality, vectors in embeds.items():
        logits = head(vectors[present[modality]])
        target = classes[present[modality]]
        named = target != 0
        losses.append(F.cross_entropy(logits[named], target[named]) if bool(named.any()) else 0.0 * logits.sum())
    return torch.stack(losses).mean()
