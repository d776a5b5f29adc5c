"""The index directory's contract: file names, manifest.json, checksums, the one error.

An index directory holds
  manifest.json           format version, model, dim, dtype, count, sha256 of every file
  embeddings.safetensors  image / title / recipe: (count, dim) unit vectors, row-aligned
  recipes.parquet         id, title, ingredients, instructions, has_recipe, content_hash,
                          thumbnail (JPEG bytes), same row order
  faiss_<field>.index     for large indexes, the trained faiss index of a searched field
                          (embeddings/serving/faiss_store.py); the manifest's "faiss" names them
  ingredient_lines.safetensors
                          for a model with a re-ranker, every row's ingredient-line vectors
                          (embeddings/serving/line_store.py); the manifest's "ingredient_lines"
                          describes it
The fused vector (title + recipe) is computed at load, not stored: it is one add and one
normalise per row, and storing it would grow the file by a third.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from model.checksum import model_fingerprint, sha256_file  # noqa: F401 (model_fingerprint: re-exported)

from .engine_graphs import graph_files

FORMAT_NAME = "recipe-index"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
EMBEDDINGS_FILE = "embeddings.safetensors"
RECIPES_FILE = "recipes.parquet"
LINES_FILE = "ingredient_lines.safetensors"
DATA_FILES = (EMBEDDINGS_FILE, RECIPES_FILE)
STORED_FIELDS = ("image", "title", "recipe")
SEARCH_FIELDS = STORED_FIELDS + ("fused",)
DTYPES = {"float16": torch.float16, "float32": torch.float32}
FUSED_RULE = "computed at load: normalize(title + recipe) on rows with a recipe, the title vector elsewhere"
REQUIRED_KEYS = ("format", "format_version", "model", "dim", "dtype", "count", "normalized", "files")


class CorruptIndexError(ValueError):
    """An index directory that cannot be trusted: a file missing, truncated or altered, or
    vectors that disagree with the manifest or with the model. The message names the file
    (or the model) and the mismatch."""


def data_files(manifest: dict) -> tuple[str, ...]:
    """Every file the manifest vouches for: the vectors, the table, any stored faiss index,
    the ingredient lines when stored, the engine graphs (embeddings/serving/engine_graphs.py)."""
    lines = (LINES_FILE,) if manifest.get("ingredient_lines") else ()
    return DATA_FILES + tuple(manifest.get("faiss", {}).get("files", {}).values()) + lines + graph_files(manifest)


def file_entries(directory: Path, names: tuple[str, ...] = DATA_FILES) -> dict:
    return {
        name: {"sha256": sha256_file(directory / name), "bytes": (directory / name).stat().st_size} for name in names
    }


FUSED_CHUNK = 65_536  # rows at a time: a million float32 rows at once would be several GB of temporaries


def fused_vectors(title: torch.Tensor, recipe: torch.Tensor, has_recipe: torch.Tensor) -> torch.Tensor:
    """FUSED_RULE, in the stored dtype: the build (for a stored faiss index) and the load
    compute the same rows from the same stored vectors. Row by row, so in chunks."""
    out = torch.empty(title.shape, dtype=title.dtype)
    for start in range(0, len(title), FUSED_CHUNK):
        rows = slice(start, start + FUSED_CHUNK)
        t = title[rows].float()
        fused = torch.nn.functional.normalize(t + recipe[rows].float(), dim=1)
        out[rows] = torch.where(has_recipe[rows, None], fused, t).to(title.dtype)
    return out


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise CorruptIndexError(
            f"{path}: missing; {directory} is not an index directory (build one with `python -m embeddings build`)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptIndexError(f"{path}: not valid JSON ({err})") from err
    missing = (
        [key for key in REQUIRED_KEYS if key not in manifest] if isinstance(manifest, dict) else list(REQUIRED_KEYS)
    )
    if missing:
        raise CorruptIndexError(f"{path}: lacks the keys {missing}")
    if manifest["format"] != FORMAT_NAME or manifest["format_version"] != FORMAT_VERSION:
        raise CorruptIndexError(
            f"{path}: format {manifest['format']!r} v{manifest['format_version']}, "
            f"this code reads {FORMAT_NAME!r} v{FORMAT_VERSION}"
        )
    if manifest["dtype"] not in DTYPES:
        raise CorruptIndexError(f"{path}: dtype {manifest['dtype']!r} is not one of {sorted(DTYPES)}")
    return manifest


def verify_files(directory: Path, manifest: dict) -> None:
    """Every data file present, of the recorded size (a cheap truncation check first),
    with the recorded sha256. The files are hashed side by side, one thread each up to
    the cores there are: hashlib drops the GIL while it hashes, and a million-row index
    is 9 GB, ~13 s of sha256 on one core here."""
    paths = {}
    for name in data_files(manifest):
        path = Path(directory) / name
        entry = manifest["files"].get(name)
        if entry is None:
            raise CorruptIndexError(f"{directory / MANIFEST_FILE}: no checksum recorded for {name}")
        if not path.is_file():
            raise CorruptIndexError(f"{path}: missing")
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise CorruptIndexError(f"{path}: {size} bytes, the manifest says {entry['bytes']} (truncated or replaced)")
        paths[name] = path
    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), os.cpu_count() or 1))) as pool:
        actual = dict(zip(paths, pool.map(sha256_file, paths.values())))
    for name, path in paths.items():  # the first altered file in manifest order, whatever finished first
        if actual[name] != manifest["files"][name]["sha256"]:
            raise CorruptIndexError(
                f"{path}: sha256 {actual[name][:12]}… differs from the manifest's "
                f"{manifest['files'][name]['sha256'][:12]}… (altered)"
            )


def check_model(manifest: dict, model: torch.nn.Module, where: str = "index") -> None:
    """The model must be the one the vectors were made with: same dimension, same weights."""
    dim = model.config.embed_dim
    if dim != manifest["dim"]:
        raise CorruptIndexError(
            f"model mismatch: the model embeds into {dim} dimensions, the {where} holds {manifest['dim']}-d vectors"
        )
    recorded = manifest["model"].get("fingerprint")
    actual = model_fingerprint(model)
    if recorded and recorded != actual:
        raise CorruptIndexError(
            f"model mismatch: the {where} was built with model {manifest['model'].get('source')!r} "
            f"(weights {recorded[:12]}…), this model's weights are {actual[:12]}…"
        )
