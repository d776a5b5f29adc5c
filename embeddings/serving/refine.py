""" "Like this, but …": a photo query moved toward a few typed words.

The refined query is normalize((1 - w) * photo + w * words), both unit vectors in the
shared space: at w = 0 the photo alone, at w = 1 the words alone. The photo vector is the
one the photo search uses (after the model's query expansion); the words go through the
title encoder, whose inputs ("with chicken", "as a soup", "vegetarian") are short phrases
like a dish's name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Chosen on val (2026-12-02, the default model of then): the weight whose top-10 best
# balance "holds the added word" against "still among the photo's own 100 nearest"
# (harmonic mean); its test figures, and the retired study that made them
# (`git show 6ccda96:benchmarks/bench_refine.py`), are in benchmarks/RESULTS.md.
BUT_WEIGHT = 0.5
BUT_WEIGHT_MIN, BUT_WEIGHT_MAX = 0.0, 1.0


def blend(photo_query: torch.Tensor, words_query: torch.Tensor, weight: float) -> torch.Tensor:
    """normalize((1 - weight) * photo + weight * words), over the last dimension."""
    weight = float(weight)
    if not BUT_WEIGHT_MIN <= weight <= BUT_WEIGHT_MAX:
        raise ValueError(f"weight must lie in [{BUT_WEIGHT_MIN}, {BUT_WEIGHT_MAX}], got {weight}")
    mixed = (1.0 - weight) * F.normalize(photo_query, dim=-1) + weight * F.normalize(words_query, dim=-1)
    if weight < 1.0 and float(mixed.norm()) < 1e-6:
        return F.normalize(photo_query, dim=-1)  # exact opposites at w = 0.5: keep the photo
    return F.normalize(mixed, dim=-1)
