"""One way to run a per-row function over many rows on threads, with a progress bar.
Decoding photos and hashing bytes release the GIL, so threads overlap them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from tqdm import tqdm

THREADS = 4


def parallel_map(function: Callable, items: list, desc: str, progress: bool = True) -> list:
    """[function(item) for item in items], in order, on THREADS threads."""
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(tqdm(pool.map(function, items), total=len(items), desc=desc, disable=not progress, leave=False))
