"""Embed a recipe collection into an index directory (see manifest.py for the format).

Re-running on the same target reuses every row whose id and content hash are unchanged,
when the model's weights are the same: adding rows embeds only the new rows. The new
directory is written beside the target and swapped in, so a killed run leaves the old
index (or none), never a broken one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from model import engine
from model.atomic import atomic_write_json
from pipeline.embed import embed_collection
from pipeline.features import DEFAULT_CACHE
from pipeline.parallel import parallel_map
from pipeline.read import load_recipes
from pipeline.records import Recipe, row_hashes
from pipeline.shard_files import job_key
from pipeline.world import World

from ..serving.engine_graphs import export_serving_graphs
from ..serving.faiss_store import choose_kind, describe, file_name, stored_fields, train_index, write_index
from ..serving.hub import load_model
from ..serving.index import read_index_dir
from ..serving.line_store import lines_record, write_ingredient_lines
from ..serving.manifest import (
    DTYPES,
    EMBEDDINGS_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    FUSED_RULE,
    LINES_FILE,
    MANIFEST_FILE,
    RECIPES_FILE,
    STORED_FIELDS,
    CorruptIndexError,
    data_files,
    file_entries,
    fused_vectors,
    model_fingerprint,
)
from ..serving.thumbnail_column import THUMBNAIL_ROW_GROUP
from .line_build import build_ingredient_lines
from .shards import build_in_shards, remove_shards
from .swap import replace_dir
from .thumbnails import THUMB_MAX_SIDE, THUMB_QUALITY, make_thumbnail


@dataclass
class BuildReport:
    out_dir: Path
    count: int
    reused: int
    encoded: dict = field(default_factory=dict)  # field -> rows run through the encoder
    seconds: float = 0.0

    def __str__(self) -> str:
        rate = (self.count - self.reused) / max(self.seconds, 1e-9)
        return (
            f"{self.out_dir}: {self.count} rows ({self.reused} reused, encoded {self.encoded}) "
            f"in {self.seconds:.1f} s, {rate:.1f} new rows/s"
        )


def model_record(source: str | Path, revision: str | None, model) -> dict:
    local = Path(source).is_dir()
    return {
        "source": str(Path(source).resolve()) if local else str(source),
        "revision": revision,
        "fingerprint": model_fingerprint(model),
        "preset": model.config.preset,
    }


def previous_rows(out_dir: Path, fingerprint: str, thumbnail: dict) -> tuple[dict, object]:
    """{(id, content_hash): row} of an existing index at out_dir made by the same model,
    and that index; empty when there is none or it cannot be reused."""
    if not (out_dir / MANIFEST_FILE).is_file():
        return {}, None
    try:
        old = read_index_dir(out_dir)
    except CorruptIndexError as err:
        print(f"note: not reusing the existing index ({err}); embedding every row", file=sys.stderr)
        return {}, None
    if old.manifest["model"].get("fingerprint") != fingerprint:
        print("note: the existing index was made by another model; embedding every row", file=sys.stderr)
        return {}, None
    if old.manifest.get("thumbnail") != thumbnail:
        old._thumbnails = [None] * old.count  # thumbnail settings changed: remake them
    keys = zip(old.recipes["id"], old.content_hashes)
    return {key: row for row, key in enumerate(keys)}, old


def rows_to_index(data, recipes: list[Recipe] | None, progress: bool) -> list[Recipe]:
    """The rows a build indexes (`recipes`, or those load_recipes reads from `data`),
    refused when there are none or two share an id."""
    recipes = load_recipes(data, progress=progress) if recipes is None else recipes
    if not recipes:
        raise ValueError(f"{data}: no usable rows to index")
    ids = [r.id for r in recipes]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"{data}: row ids must be unique; repeated: {duplicates}")
    return recipes


def reused_vectors(old_rows: list[int | None], old, dim: int) -> dict[str, np.ndarray]:
    """Each stored field's (rows, dim) float32 matrix, filled where a row's vector can be
    taken from the previous index (old_rows[i]: its row there, None: to embed)."""
    vectors = {name: np.zeros((len(old_rows), dim), dtype=np.float32) for name in STORED_FIELDS}
    kept = [(i, row) for i, row in enumerate(old_rows) if row is not None]
    if kept:
        new_at, old_at = (torch.tensor(list(column)) for column in zip(*kept))
        for name in STORED_FIELDS:
            vectors[name][new_at.numpy()] = old.vectors(name)[old_at].float().numpy()
    return vectors


def build_index(
    model_source: str | Path,
    data: str | Path,
    out_dir: str | Path,
    *,
    revision: str | None = None,
    model=None,
    recipes: list[Recipe] | None = None,
    dtype: str = "float16",
    thumb_size: int = THUMB_MAX_SIDE,
    thumb_quality: int = THUMB_QUALITY,
    progress: bool = True,
    feature_cache: str | Path | None = DEFAULT_CACHE,
    faiss: str = "auto",
    world: World = World(),
    engine_precision: dict[str, str] | None | str = "auto",
) -> BuildReport:
    """Embed `data` (a collection load_recipes reads) with the model at `model_source`
    (a dir or a Hub id at `revision`; or `model`, already loaded) into `out_dir`.
    `feature_cache`: the backbone feature cache training filled (pipeline/features.py;
    None: never use it). `faiss`: the faiss index stored beside the vectors
    (embeddings/serving/faiss_store.py: "auto" by size, "none", "ivf-flat", "ivf-pq"). `world`:
    the ranks torchrun started, each embedding its share (embeddings/building/shards.py).
    `engine_precision`: the inference engine's per backbone for the build's passes and the
    served graphs written beside the vectors (model/engine.py; None: torch; "auto": the
    engine's default where onnxruntime is installed)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if engine_precision == "auto":
        engine_precision = engine.default_precision()
    choose_kind(0, faiss)  # a wrong --faiss fails now, not after the embedding
    started = time.perf_counter()
    out_dir = Path(out_dir)
    recipes = rows_to_index(data, recipes, progress)
    model = (load_model(model_source, revision) if model is None else model).eval()
    record = model_record(model_source, revision, model)
    thumbnail = {"max_side": thumb_size, "quality": thumb_quality, "format": "JPEG"}
    hashes = row_hashes(recipes, progress)
    reusable, old = previous_rows(out_dir, record["fingerprint"], thumbnail)
    old_rows = [reusable.get((r.id, h)) for r, h in zip(recipes, hashes)]
    # Training's feature cache only pays off (and only matches) when every row is new.
    cache = feature_cache if all(row is None for row in old_rows) else None
    graphs = Path(feature_cache or DEFAULT_CACHE) / "engine"
    plan = BuildPlan(out_dir, str(data), model, record, recipes, hashes, old_rows, old, cache, graphs)
    plan.engine_precision, plan.thumbnail, plan.progress = engine_precision, thumbnail, progress
    report = BuildReport(out_dir, len(recipes), len(recipes) - len(plan.fresh))
    built = embed_rows(plan, world, report)
    if built is None:
        return report  # under torchrun, rank 0 writes the index
    write_built_index(plan, *built, dtype=dtype, faiss=faiss)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class BuildPlan:
    """What one build reads and writes, worked out before any backbone runs."""

    out_dir: Path
    data: str
    model: object  # the Retriever, in eval mode
    record: dict  # the manifest's model entry (model_record)
    recipes: list[Recipe]
    hashes: list[str]
    old_rows: list[int | None]  # each row's row in the previous index, None: to embed
    old: object  # the previous index (a RecipeIndex), or None
    cache: str | Path | None  # training's feature cache, only when every row is new
    graphs: Path  # where the engine's graphs are kept
    engine_precision: dict[str, str] | None = None  # None: torch
    thumbnail: dict = field(default_factory=dict)  # {"max_side", "quality", "format"}
    progress: bool = True

    @property
    def fresh(self) -> list[int]:
        return [i for i, row in enumerate(self.old_rows) if row is None]


def embed_rows(plan: BuildPlan, world: World, report: BuildReport):
    """(vectors, thumbnails) of every row: kept from the previous index where the row is
    unchanged, made now otherwise (each rank its shard under torchrun); None on the ranks
    other than 0, which write nothing."""
    recipes, old, fresh = plan.recipes, plan.old, plan.fresh
    vectors = reused_vectors(plan.old_rows, old, plan.model.config.embed_dim)
    thumbs = (
        [old._thumbnails[row] if row is not None else None for row in plan.old_rows] if old else [None] * len(recipes)
    )
    missing = [i for i, t in enumerate(thumbs) if t is None]
    fresh_recipes, thumb_recipes = [recipes[i] for i in fresh], [recipes[i] for i in missing]
    size, quality = plan.thumbnail["max_side"], plan.thumbnail["quality"]

    def make(recipe: Recipe) -> bytes:
        return make_thumbnail(recipe, size, quality)

    # Without the feature cache every backbone runs in the build: on the engine's graphs
    # (kept with the cache's) when it is there, on every rank alike.
    with engine.attached(plan.model, plan.graphs, plan.engine_precision if plan.cache is None else None):
        if world.size > 1:  # under torchrun: each rank its shard, rank 0 merges (embeddings/building/shards.py)
            key = job_key(
                model=plan.record["fingerprint"],
                rows=[(recipes[i].id, plan.hashes[i]) for i in fresh],
                thumbs=[(recipes[i].id, plan.hashes[i]) for i in missing],
                thumbnail=plan.thumbnail,
                cache=plan.cache is not None,
                ranks=world.size,
            )
            args = (plan.model, fresh_recipes, thumb_recipes, make, plan.cache, plan.out_dir, key, world, plan.progress)
            merged = build_in_shards(*args)
            if merged is None:
                return None
            embeds, made = merged
        else:
            embeds = embed_collection(plan.model, fresh_recipes, plan.cache, plan.progress)[0] if fresh else None
    if world.size == 1:
        made = parallel_map(make, thumb_recipes, "thumbnails", plan.progress)
    if fresh:
        for name in STORED_FIELDS:
            vectors[name][fresh] = embeds[name].numpy()
    report.encoded = {"image": len(fresh), "title": len(fresh), "recipe": sum(recipes[i].has_recipe for i in fresh)}
    for i, thumb in zip(missing, made):
        thumbs[i] = thumb
    return vectors, thumbs


def write_built_index(plan: BuildPlan, vectors: dict, thumbs: list, dtype: str, faiss: str) -> None:
    """The index folder at plan.out_dir, written whole (swap.py), with the served graphs and,
    for a re-ranking model, its stored ingredient lines."""
    model, recipes = plan.model, plan.recipes
    manifest = index_manifest(plan.record, model.config.embed_dim, dtype, recipes, plan.thumbnail, plan.data)
    manifest["recipe_vector"] = model.fitted.recipe_vector  # what training chose on val (the model says so too)
    # The re-ranker's candidate lines, stored so a query never runs the text backbone
    # (embeddings/serving/line_store.py). Under torchrun rank 0 computes them all, after the
    # merge (the other ranks are done): a single build's batches, so the file is byte for byte
    # a single build's. The lines are a fraction of a build's time beside the photos.
    lines = None
    if model.reranks:  # only a re-ranking model stores lines: no text graph opened otherwise
        # Computed lines run on the engine as the cache's do, so both agree (model/engine.py).
        with engine.attached(model, plan.graphs, plan.engine_precision, image_tops=()):
            lines = build_ingredient_lines(model, recipes, plan.old_rows, plan.old, plan.progress, plan.cache)
    if lines is not None:
        manifest["ingredient_lines"] = lines_record(model, lines)

    def fill(directory: Path) -> None:
        served = export_serving_graphs(model, directory, plan.engine_precision)
        if served is not None:
            manifest["engine"] = served
        if lines is not None:
            write_ingredient_lines(directory / LINES_FILE, lines)
        write_index_files(directory, vectors, recipes, plan.hashes, thumbs, manifest, faiss, plan.progress)

    replace_dir(plan.out_dir, fill)
    remove_shards(plan.out_dir)  # none in a world of one; merged into the index otherwise


def index_manifest(model: dict, dim: int, dtype: str, recipes: list[Recipe], thumbnail: dict, data: str) -> dict:
    """Everything manifest.json says except the file checksums (added once files exist)."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": model,
        "dim": dim,
        "dtype": dtype,
        "count": len(recipes),
        "normalized": True,
        "fused": FUSED_RULE,
        "fields": {"image": len(recipes), "title": len(recipes), "recipe": sum(r.has_recipe for r in recipes)},
        "thumbnail": thumbnail,
        "data": {"source": data},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_index_files(
    directory: Path,
    vectors: dict[str, np.ndarray],
    recipes: list[Recipe],
    hashes: list[str],
    thumbnails: list[bytes],
    manifest: dict,
    faiss: str = "auto",
    progress: bool = False,
) -> None:
    """`faiss`: which faiss index to train and store per searched field (faiss_store.KINDS;
    "auto" chooses by the number of rows)."""
    torch_dtype = DTYPES[manifest["dtype"]]
    tensors = {name: torch.from_numpy(vectors[name]).to(torch_dtype).contiguous() for name in STORED_FIELDS}
    # One metadata key: safetensors writes the map in per-process hash order (line_store.py).
    save_file(tensors, str(directory / EMBEDDINGS_FILE), metadata={"format": f"{FORMAT_NAME}, {manifest['dtype']}"})
    kind = choose_kind(len(recipes), faiss)
    if kind is not None:
        has_recipe = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
        manifest = {**manifest, "faiss": store_faiss(directory, tensors, has_recipe, manifest, kind, progress)}
    write_recipes(directory / RECIPES_FILE, recipes, hashes, thumbnails)
    manifest = {**manifest, "files": file_entries(directory, data_files(manifest))}
    atomic_write_json(directory / MANIFEST_FILE, manifest)


def store_faiss(
    directory: Path,
    tensors: dict[str, torch.Tensor],
    has_recipe: torch.Tensor,
    manifest: dict,
    kind: str,
    progress: bool,
) -> dict:
    """Train a `kind` faiss index per searched field on the vectors as stored (the rows a
    load would train on), write each beside them; the manifest's record of them."""
    files, record = {}, {}
    for name in tqdm(stored_fields(manifest), desc=f"faiss {kind}", disable=not progress):
        matrix = tensors[name] if name != "fused" else fused_vectors(tensors["title"], tensors["recipe"], has_recipe)
        index = train_index(np.ascontiguousarray(matrix.float().numpy()), kind)
        files[name] = file_name(name)
        write_index(index, directory / files[name])
        record = describe(index)
    return {"kind": kind, **record, "files": files}


TABLE_CHUNK = 65_536  # rows converted to Arrow at a time: a million thumbnails are ~6 GB


def write_recipes(path: Path, recipes: list[Recipe], hashes: list[str], thumbnails) -> None:
    """recipes.parquet, a chunk of rows at a time (no second copy of every thumbnail), in
    small row groups: a thumbnail is read with its group when shown (thumbnail_column.py).
    `thumbnails`: any sequence of JPEG bytes that slices."""
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("ingredients", pa.list_(pa.string())),
            ("instructions", pa.list_(pa.string())),
            ("has_recipe", pa.bool_()),
            ("content_hash", pa.string()),
            ("thumbnail", pa.binary()),
        ]
    )
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, max(1, len(recipes)), TABLE_CHUNK):
            rows = recipes[start : start + TABLE_CHUNK]
            chunk = {
                "id": [r.id for r in rows],
                "title": [r.title for r in rows],
                "ingredients": [r.ingredients for r in rows],
                "instructions": [r.instructions for r in rows],
                "has_recipe": [r.has_recipe for r in rows],
                "content_hash": hashes[start : start + TABLE_CHUNK],
                "thumbnail": list(thumbnails[start : start + TABLE_CHUNK]),
            }
            writer.write_table(pa.table(chunk, schema=schema), row_group_size=THUMBNAIL_ROW_GROUP)
