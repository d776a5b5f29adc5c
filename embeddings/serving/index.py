"""Read a verified index directory and search it (embeddings/serving/hub.py fetches one from the Hub)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
from PIL import Image
from safetensors import SafetensorError

from model.recipe_lines import RaggedLines

from .faiss_store import open_stored
from .line_store import open_ingredient_lines
from .manifest import (
    DTYPES,
    EMBEDDINGS_FILE,
    RECIPES_FILE,
    SEARCH_FIELDS,
    STORED_FIELDS,
    CorruptIndexError,
    check_model,
    fused_vectors,
    read_manifest,
    verify_files,
)
from .mapped import map_safetensors, read_layout, read_rows
from .search import FaissSearcher, make_searcher
from .thumbnail_column import ThumbnailColumn

RECIPE_COLUMNS = ("id", "title", "ingredients", "instructions", "has_recipe")
NORM_TOLERANCE = 1e-2  # float16 rounding moves a unit vector's norm by ~1e-3


@dataclass(frozen=True)
class Hit:
    row: int  # position in index.recipes
    id: str
    score: float  # cosine similarity


class RecipeIndex:
    """Row-aligned vectors + recipe table + thumbnails. `search` returns ranked Hits."""

    def __init__(
        self,
        directory: Path,
        manifest: dict,
        vectors: dict[str, torch.Tensor],
        table: pd.DataFrame,
        thumbnails,  # row -> JPEG bytes: a ThumbnailColumn, or a list
        content_hashes: list[str],
        backend: str = "auto",
        ingredient_lines: RaggedLines | None = None,
    ):
        self.directory = Path(directory)
        self.manifest = manifest
        self.recipes = table
        self._ids = table["id"].tolist()  # plain list: pandas' per-item access costs ~10 us a hit
        self.content_hashes = content_hashes
        self._thumbnails = thumbnails
        self._vectors = vectors  # stored fields, (count, dim) in the stored dtype
        self._has_recipe = torch.tensor(table["has_recipe"].to_numpy(dtype=bool))
        self._backend = backend
        self._searchers: dict[str, object] = {}  # field -> searcher over every row
        # Each row's ingredient-line vectors (float16, memory-mapped) for the re-ranker
        # (embeddings/serving/line_store.py); None when the folder stores none.
        self.ingredient_lines = ingredient_lines

    def column(self, name: str) -> list:
        """Every row's value of a recipe column ("ingredients", "instructions", "title", ...)."""
        return self.recipes[name].tolist()

    @property
    def has_recipe(self) -> np.ndarray:
        """(count,) bool: rows with ingredients or instructions (the others are title-only)."""
        return self._has_recipe.numpy()

    @property
    def count(self) -> int:
        return int(self.manifest["count"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def vectors(self, field: str) -> torch.Tensor:
        """(count, dim) vectors of a field, in the stored dtype. Rows without a recipe hold
        zeros in `recipe`; `fused` is normalize(title + recipe), the title alone on them."""
        if field == "fused":
            return fused_vectors(self._vectors["title"], self._vectors["recipe"], self._has_recipe)
        if field not in STORED_FIELDS:
            raise ValueError(f"field must be one of {SEARCH_FIELDS}, got {field!r}")
        return self._vectors[field]

    def _searcher(self, field: str):
        """One searcher per field over every row; filters are row masks applied in the search.
        A faiss index the folder stores is memory-mapped, not trained again."""
        if field not in self._searchers:
            stored = open_stored(self.directory, self.manifest, field, self._backend)
            if stored is None:
                self._searchers[field] = make_searcher(self.vectors(field).contiguous(), self._backend)
            else:  # its rows are read when rescored: a million fused rows are never made at once
                self._searchers[field] = FaissSearcher.stored(stored, lambda rows: self._rows(field, rows))
        return self._searchers[field]

    def _rows(self, field: str, rows: torch.Tensor) -> torch.Tensor:
        """vectors(field)[rows], computing only those rows of "fused"."""
        if field == "fused":
            title, recipe = self._vectors["title"][rows], self._vectors["recipe"][rows]
            return fused_vectors(title, recipe, self._has_recipe[rows])
        return self._vectors[field][rows]

    def row_vector(self, field: str, row: int) -> torch.Tensor:
        """One row's stored vector of a field (D,), float32; "fused" computed for that row only."""
        if field not in SEARCH_FIELDS:
            raise ValueError(f"field must be one of {SEARCH_FIELDS}, got {field!r}")
        return self._rows(field, torch.tensor([int(row)]))[0].float()

    def search(self, query_vector, field: str, k: int = 10, rows=None) -> list[Hit]:
        """Top-k rows by cosine with `query_vector` (D,), best first. `rows`: an optional
        (count,) boolean mask of the rows that may appear, applied before ranking, so k rows
        come back whenever k rows pass it. Rows lacking the field never appear: "recipe" is
        searched among rows with a recipe only ("fused" is the title vector on the others;
        pass rows=index.has_recipe for recipes only)."""
        if field not in SEARCH_FIELDS:
            raise ValueError(f"field must be one of {SEARCH_FIELDS}, got {field!r}")
        query = torch.as_tensor(np.asarray(query_vector, dtype=np.float32)).reshape(-1)
        if query.shape[0] != self.dim:
            raise ValueError(f"query has {query.shape[0]} dimensions, the index holds {self.dim}-d vectors")
        norm = float(query.norm())
        if not norm > 0 or not np.isfinite(norm):
            raise ValueError(f"query vector has norm {norm}: it must be finite and non-zero")
        allowed = self._has_recipe if field == "recipe" else None
        if rows is not None:
            mask = torch.as_tensor(np.asarray(rows, dtype=bool))
            if mask.shape != (self.count,):
                raise ValueError(f"a row mask has one entry per row ({self.count}), got shape {tuple(mask.shape)}")
            allowed = mask if allowed is None else allowed & mask
        scores, positions = self._searcher(field).search(query / norm, int(k), allowed)
        return [Hit(int(p), self._ids[p], float(s)) for s, p in zip(scores, positions)]

    def thumbnail(self, row: int) -> Image.Image:
        image = Image.open(io.BytesIO(self.thumbnail_bytes(row)))
        image.load()
        return image

    def thumbnail_bytes(self, row: int) -> bytes:
        """The row's thumbnail as stored: a JPEG file's bytes (embeddings/building/thumbnails.py)."""
        return self._thumbnails[row]

    def check_model(self, model) -> None:
        check_model(self.manifest, model)


def read_index_dir(directory: Path, backend: str = "auto", verify: bool = True) -> RecipeIndex:
    directory = Path(directory)
    manifest = read_manifest(directory)
    if verify:
        verify_files(directory, manifest)
    count, dim, dtype = manifest["count"], manifest["dim"], DTYPES[manifest["dtype"]]
    path = directory / EMBEDDINGS_FILE
    try:
        vectors = map_safetensors(path)  # memory-mapped: pages are read when rows are
    except (SafetensorError, OSError, ValueError) as err:
        raise CorruptIndexError(f"{path}: unreadable safetensors ({err})") from err
    for field in STORED_FIELDS:
        if field not in vectors:
            raise CorruptIndexError(f"{path}: no {field!r} tensor (has {sorted(vectors)})")
        tensor = vectors[field]
        if tuple(tensor.shape) != (count, dim) or tensor.dtype != dtype:
            raise CorruptIndexError(
                f"{path}: {field!r} is {tuple(tensor.shape)} {tensor.dtype}, "
                f"the manifest says ({count}, {dim}) {manifest['dtype']}"
            )
    path = directory / RECIPES_FILE
    try:
        names = pq.ParquetFile(path).schema_arrow.names
        # Thumbnails stay on disk, read a row group at a time when shown (thumbnail_column.py).
        table = pq.read_table(path, columns=[c for c in names if c != "thumbnail"])
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise CorruptIndexError(f"{path}: unreadable parquet ({err})") from err
    missing = [c for c in RECIPE_COLUMNS + ("content_hash", "thumbnail") if c not in names]
    if missing or table.num_rows != count:
        raise CorruptIndexError(
            f"{path}: {table.num_rows} rows with columns {names}; "
            f"the manifest says {count} rows (missing columns: {missing})"
        )
    # to_pylist, not to_pandas: list columns must come back as Python lists, not arrays.
    recipes = pd.DataFrame({name: table.column(name).to_pylist() for name in RECIPE_COLUMNS})
    check_norms(recipes["has_recipe"].to_numpy(dtype=bool), path.with_name(EMBEDDINGS_FILE))
    return RecipeIndex(
        directory,
        manifest,
        vectors,
        recipes,
        ThumbnailColumn(path),
        table.column("content_hash").to_pylist(),
        backend,
        open_ingredient_lines(directory, manifest),
    )


def check_norms(has_recipe: np.ndarray, path: Path, sample: int = 2048) -> None:
    """Unit rows where a field exists, zero rows in `recipe` where it does not (on a sample of
    rows, so a million-row index loads fast; read from the file, not through the map)."""
    count = len(has_recipe)
    rows = (
        np.unique(np.linspace(0, count - 1, num=min(count, sample)).astype(np.int64))
        if count
        else np.zeros(0, np.int64)
    )
    layout = read_layout(path)
    for field in STORED_FIELDS:
        norms = np.linalg.norm(read_rows(path, layout[field], rows).astype(np.float32), axis=1)
        expected = has_recipe[rows].astype(np.float32) if field == "recipe" else np.ones(len(rows), np.float32)
        bad = np.nonzero(np.abs(norms - expected) > NORM_TOLERANCE)[0]
        if len(bad):
            row = int(rows[bad[0]])
            raise CorruptIndexError(
                f"{path}: {field!r} row {row} has norm {norms[bad[0]]:.3f}, expected {expected[bad[0]]:.0f}"
            )
