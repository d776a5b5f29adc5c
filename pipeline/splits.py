"""The deterministic train/val/test split: a hash of the photo name, so adding rows never
moves an existing row to another split."""

from __future__ import annotations

import hashlib

from .records import Recipe

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


def split_of(key: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """ "train", "val" or "test" for a row's key: its id (the photo name). Another key of the
    same rows (the id behind a prefix) draws another split of them (split_rows' draw)."""
    position = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0x100000000  # in [0, 1)
    if position < fractions[0]:
        return "train"
    if position < fractions[0] + fractions[1]:
        return "val"
    return "test"


def split_name(recipe: Recipe) -> str:
    """A row's split: the source's own partition where it has one (Recipe1M), else split_of its id."""
    return recipe.partition or split_of(recipe.id)


def split_rows(recipes: list[Recipe], draw: int = 0) -> dict[str, list[Recipe]]:
    """{"train": [...], "val": [...], "test": [...]}, each in collection order. draw 0 is
    the product's split; draw k > 0 another of the same rows, the split of "split{k}:" + id
    (how far a figure moves with the draw: benchmarks/RESULTS.md, split noise)."""
    if draw:
        return {name: [r for r in recipes if split_of(f"split{draw}:{r.id}") == name] for name in SPLITS}
    return {name: [r for r in recipes if split_name(r) == name] for name in SPLITS}


def select_split(recipes: list[Recipe], split: str) -> list[Recipe]:
    if split == "all":
        return list(recipes)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
    return split_rows(recipes)[split]
