"""Training on several processes: `torchrun --nproc-per-node N -m train ...`.

torchrun starts N copies of `python -m train` and gives each RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous address in its environment; a plain `python -m train`
has none of them and runs as a world of one, exactly as before. Ranks talk through
torch.distributed: nccl between CUDA devices, gloo on CPUs.

The contrastive loss needs every negative of the global batch, so each rank's
embeddings are all-gathered (`gather_rows`) and every rank computes the same loss over
the N·b rows; gradients flow back only into the rank's own rows, and DistributedDataParallel
averages the parameters' gradients over the ranks.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

# Rank 0 extracts the feature cache while the others wait at a barrier: minutes on a
# large collection, longer than torch's 30-minute default would allow.
COLLECTIVE_TIMEOUT = datetime.timedelta(hours=4)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and evaluates."""
        return self.rank == 0

    def batch_sizes(self, rows: int) -> list[int]:
        """How a global batch of `rows` rows splits over the ranks, in rank order (sizes
        differ by one at most): every rank knows every rank's share without asking."""
        return [len(part) for part in torch.arange(rows).tensor_split(self.size)]

    def share(self, global_rows: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous part of a global batch: rank 0 the first rows, and so on,
        so the gathered batch is the global batch in its own order."""
        return global_rows.tensor_split(self.size)[self.rank]


def join(device: torch.device) -> tuple[World, torch.device]:
    """The world this process belongs to, and its device (cuda:LOCAL_RANK under torchrun
    with CUDA). Joins the process group when torchrun started several processes."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type not in ("cuda", "cpu"):
        raise SystemExit(f"distributed training runs on cuda (nccl) or cpu (gloo), not {device.type}")
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return World(rank, size), device


def leave(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def main_first(world: World):
    """Rank 0 runs the block first (it fills the feature cache), then the others, who
    find the cache filled and only read it."""
    if world.size > 1 and not world.is_main:
        dist.barrier()
    yield
    if world.size > 1 and world.is_main:
        dist.barrier()


def broadcast(value, world: World):
    """Rank 0's `value` (any picklable object) on every rank."""
    if world.size == 1:
        return value
    box = [value if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


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
