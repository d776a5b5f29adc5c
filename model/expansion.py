"""Query expansion through the training pairs.

A retriever trained on a few thousand pairs places a new title or recipe only roughly
near the photos it matches. The training pairs themselves say more: the training titles
nearest a query title came with photos, and those photos show what such a dish looks
like. Expansion borrows them: the query's k nearest training neighbours in its own
modality (softmax-weighted by similarity) lend the mean of their partner-modality
vectors, and the query becomes normalize(q + weight * borrowed). One (k, weight) per
direction is chosen on val (train/expansion.py); weight 0 leaves a direction as it was.

The expansion rows are the training rows' own unit vectors (float16 buffers in model.safetensors),
so a saved model carries it to evaluation and to the app. Measured on the Epicurious
sample: benchmarks/RESULTS.md, "Query expansion through the training pairs".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Softmax temperature over the neighbours' cosine similarities: 0.05 lets the closest few
# dominate (uniform weights over k scored lower on val in every direction, 2026-11-25).
TEMPERATURE = 0.05


def expand_queries(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    k: int,
    weight: float,
    temperature: float = TEMPERATURE,
) -> torch.Tensor:
    """queries (B, D), keys/values (M, D) row-aligned unit vectors -> expanded unit queries (B, D)."""
    if weight == 0 or k <= 0 or keys.shape[0] == 0:
        return queries
    keys, values = keys.to(queries.dtype), values.to(queries.dtype)
    top = (queries @ keys.T).topk(min(k, keys.shape[0]), dim=1)  # (B, k)
    lend = torch.softmax(top.values / temperature, dim=1)
    borrowed = F.normalize((lend.unsqueeze(-1) * values[top.indices]).sum(dim=1), dim=-1)
    return F.normalize(queries + weight * borrowed, dim=-1)
