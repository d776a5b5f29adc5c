"""Training on several processes: `torchrun --nproc-per-node N -m train ...` (the world
itself, one rank or N: pipeline/world.py).

The contrastive loss needs every negative of the global batch, so each rank's
embeddings are all-gathered (`gather_rows`) and every rank computes the same loss over
the N·b rows; gradients flow back only into the rank's own rows, and DistributedDataParallel
averages the parameters' gradients over the ranks.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from pipeline.world import World


def wrap(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around `module` in a world of several; `module` itself
    otherwise. Buffers are synced once, at the start, not before every step: every rank
    fits the same lexical features and BatchNorm keeps its pretrained statistics, so
    they never drift apart."""
    if world.size == 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)


class _GatherRows(torch.autograd.Function):
    """All-gather of row blocks of different lengths (padded to the longest for the
    collective), the gradient going back to this rank's own rows only."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, rank: int, sizes: list[int]) -> torch.Tensor:
        ctx.rank, ctx.sizes = rank, sizes
        padded = local.new_zeros((max(sizes), *local.shape[1:]))
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        start = sum(ctx.sizes[: ctx.rank])
        # Every rank computes the same global loss, so the gradient it holds for its own
        # rows is already the whole gradient of those rows. DDP then averages the ranks'
        # parameter gradients, dividing by N: multiplying by N here makes that average
        # the single-process gradient of the global batch (parameters used on the
        # gathered rows, the temperature and the ingredient head, are whole on every rank
        # and stay whole under the average).
        return grad[start : start + ctx.sizes[ctx.rank]] * len(ctx.sizes), None, None


def gather_rows(local: torch.Tensor, world: World, sizes: list[int]) -> torch.Tensor:
    """The global batch's rows (rank order) from each rank's `local` rows; `sizes` is
    World.batch_sizes of the global batch."""
    if world.size == 1:
        return local
    return _GatherRows.apply(local, world.rank, sizes)
