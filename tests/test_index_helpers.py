"""Helpers for the embeddings tests (no tests here): indexes written straight from random
vectors, so search behaviour is tested without a model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from embeddings.building.build import index_manifest, write_index_files
from pipeline.records import Recipe, row_hash


def jpeg_bytes(colour=(200, 40, 40), size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def synthetic_recipes(n: int, title_only: int = 0) -> list[Recipe]:
    """n rows; the first `title_only` have no ingredients or instructions."""
    photo = jpeg_bytes()
    return [
        Recipe(
            id=f"r{i:04d}",
            title=f"dish {i}",
            ingredients=[] if i < title_only else [f"{i} cups flour"],
            instructions=[] if i < title_only else [f"bake {i} minutes"],
            image_bytes=photo,
        )
        for i in range(n)
    ]


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_synthetic_index(
    directory: Path,
    n: int = 300,
    dim: int = 32,
    title_only: int = 50,
    dtype: str = "float32",
    seed: int = 0,
    faiss: str = "auto",
) -> dict[str, np.ndarray]:
    """An index of random unit vectors (recipe rows zero where there is no recipe).
    Returns the float32 vectors written."""
    recipes = synthetic_recipes(n, title_only)
    vectors = {field: unit_rows(n, dim, seed + k) for k, field in enumerate(("image", "title", "recipe"))}
    vectors["recipe"][:title_only] = 0.0
    write_index(directory, recipes, vectors, dtype, faiss)
    return vectors


def write_index(
    directory: Path, recipes: list[Recipe], vectors: dict[str, np.ndarray], dtype: str = "float32", faiss: str = "auto"
) -> None:
    """An index folder holding exactly these rows and vectors ("image", "title", "recipe": (n, D) unit rows);
    `faiss`: the faiss index stored beside them (embeddings/serving/faiss_store.py)."""
    dim = vectors["image"].shape[1]
    model = {"source": "synthetic", "revision": None, "fingerprint": "0" * 64, "preset": "none"}
    thumbnail = {"max_side": 192, "quality": 70, "format": "JPEG"}
    Path(directory).mkdir(parents=True, exist_ok=True)
    write_index_files(
        Path(directory),
        vectors,
        recipes,
        [row_hash(r) for r in recipes],
        [r.image_bytes for r in recipes],
        index_manifest(model, dim, dtype, recipes, thumbnail, "synthetic"),
        faiss,
    )
