"""The processes of one run: a world of N ranks under torchrun, a world of one otherwise.

torchrun starts N copies of a command and gives each RANK, WORLD_SIZE, LOCAL_RANK and
the rendezvous address in its environment; a plain `python -m ...` has none of them and
runs as a world of one, exactly as before. Ranks talk through torch.distributed: nccl
between CUDA devices, gloo on CPUs. Training (train/distributed.py) and sharded index
building (embeddings/building/shards.py) both start here.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

# Ranks wait at a barrier while rank 0 alone evaluates, or merges a large cache entry or
# index: minutes on a large collection, which torch's 30-minute default could cut short.
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

    def runs(self, batch: int) -> bool:
        """Whether this rank runs work unit `batch` of a sharded job (round robin)."""
        return batch % self.size == self.rank

    def batch_rows(self, count: int, batch_size: int, order: list[int] | None = None) -> list[int]:
        """The rows (of `count`, visited in `order`) in the batches this rank runs: whole
        batches of the sequence one process makes, so each batch is bit for bit its own."""
        order = list(range(count)) if order is None else order
        starts = [start for number, start in enumerate(range(0, len(order), batch_size)) if self.runs(number)]
        return [row for start in starts for row in order[start : start + batch_size]]

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


def broadcast(value, world: World):
    """Rank 0's `value` (any picklable object) on every rank."""
    if world.size == 1:
        return value
    box = [value if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()
