"""The one record every stage passes along, and the one hash of a row.

A Recipe is a row of a collection: a photo (a file or its bytes), its title, and when the
collection has them its ingredient lines and instruction steps. Rows with neither are
title-only rows; they still train photo<->title.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .parallel import parallel_map


@dataclass
class Recipe:
    id: str  # unique per photo: the photo's file name without extension
    title: str
    ingredients: list[str] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)
    image_path: str | None = None  # a photo on disk, or ...
    image_bytes: bytes | None = None  # ... its encoded bytes (datasets sources)
    partition: str | None = None  # the source's own split (Recipe1M), else the hash's (splits.py)

    @property
    def has_recipe(self) -> bool:
        return bool(self.ingredients or self.instructions)

    def open_image(self) -> Image.Image:
        if self.image_bytes is not None:
            return Image.open(io.BytesIO(self.image_bytes))
        return Image.open(self.image_path)

    def photo_bytes(self) -> bytes:
        if self.image_bytes is not None:
            return self.image_bytes
        return Path(self.image_path).read_bytes()


def row_hash(recipe: Recipe) -> str:
    """sha256 of everything the model reads from a row: its text fields and its photo's
    bytes (not file times: a re-copied collection keeps its hashes, an edited photo of
    the same size does not). The feature cache's keys and the index's reuse of unchanged
    rows both rest on it."""
    digest = hashlib.sha256(json.dumps([recipe.id, recipe.title, recipe.ingredients, recipe.instructions]).encode())
    digest.update(hashlib.sha256(recipe.photo_bytes()).digest())
    return digest.hexdigest()


def row_hashes(recipes: list[Recipe], progress: bool = True) -> list[str]:
    """row_hash of every row, on threads (about 1 s per 10k photos)."""
    return parallel_map(row_hash, recipes, "hashing rows", progress)


def collection_hash(recipes: list[Recipe], hashes: list[str] | None = None) -> str:
    """One hash of the rows in this order (the feature cache's data key)."""
    hashes = row_hashes(recipes, progress=False) if hashes is None else hashes
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def parse_list(value, newline_split: bool) -> list[str]:
    """A list field as stored in CSVs and datasets: a real list, a Python-list literal
    ("['1 cup flour', ...]", parsed safely with literal_eval), or plain text (one item a line)."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return []
    if isinstance(value, (list, tuple)):
        items = value
    else:
        text = str(value).strip()
        if not text:
            return []
        items = None
        if text.startswith("["):
            try:
                parsed = ast.literal_eval(text)
                items = parsed if isinstance(parsed, (list, tuple)) else None
            except (ValueError, SyntaxError):
                items = None
        if items is None:
            items = text.split("\n") if newline_split else [text]
    return [str(item).strip() for item in items if str(item).strip()]
