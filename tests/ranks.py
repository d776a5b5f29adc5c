"""Two gloo processes against one, for tests of what ranks make under torchrun."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pipeline.world import World


def _one_rank(rank: int, size: int, rendezvous: str, fill, args: tuple) -> None:
    torch.set_num_threads(1)  # as the one-process run: the same kernels, the same bits
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        fill(*args, World(rank, size))
    finally:
        dist.destroy_process_group()


def one_then_two_ranks(folder: Path, fill, *args) -> tuple[Path, Path]:
    """fill(folder / "one", *args, World()) in this process on one thread, then
    fill(folder / "two", *args, world) in each of two spawned ranks (`fill` a module-level
    function, so the ranks can import it); returns the two folders."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fill(folder / "one", *args, World())
    finally:
        torch.set_num_threads(threads)
    mp.spawn(_one_rank, args=(2, str(folder / "rendezvous"), fill, (folder / "two", *args)), nprocs=2, join=True)
    return folder / "one", folder / "two"
