"""Index building on several processes: `torchrun --nproc-per-node N -m embeddings build ...`.

Each rank embeds its share of the rows to embed: the batches b with b % N == rank among
the very batches one process makes (pipeline/embed.py), so its vectors are bit for bit
a single build's; and it makes the thumbnails of rows j % N == rank. It writes them to
a shard beside the target, `.NAME.shards/shard-R-of-N.safetensors` (written whole under
a temporary name, then renamed), and then a record of the shard's sha256 and the job's
key. Rank 0 merges: every shard checked against its record, the rows laid into one
table, and the index written as one process writes it (built beside the target, swapped
in, every file checksummed in the manifest). A shard whose record matches is not made
again: after a killed run, the same command redoes the missing shards alone.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pipeline import shard_files
from pipeline.embed import embed_part
from pipeline.parallel import parallel_map
from pipeline.records import Recipe
from pipeline.shard_files import shard_stem
from pipeline.world import World, barrier

from ..serving.manifest import STORED_FIELDS, CorruptIndexError

SHARD = "shard"  # shard-R-of-N.safetensors / .json in the shards folder


def shards_dir(out_dir: Path) -> Path:
    return Path(out_dir).parent / f".{Path(out_dir).name}.shards"


def shard_paths(folder: Path, rank: int, size: int) -> tuple[Path, Path]:
    stem = shard_stem(folder, SHARD, rank, size)
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def shard_tensors(embeds: dict, done: dict, thumbs: dict[int, bytes]) -> dict[str, torch.Tensor]:
    """A rank's rows of each field (vectors and row numbers) and its thumbnails (one byte
    string with end offsets)."""
    tensors = {}
    for field in STORED_FIELDS:
        rows = done[field].nonzero().squeeze(1)
        tensors[field], tensors[f"{field}_rows"] = embeds[field][rows], rows
    rows = sorted(thumbs)
    blob = b"".join(thumbs[row] for row in rows)
    tensors["thumb_rows"] = torch.tensor(rows, dtype=torch.int64)
    tensors["thumb_ends"] = torch.tensor([len(thumbs[row]) for row in rows], dtype=torch.int64).cumsum(0)
    tensors["thumb_bytes"] = torch.from_numpy(np.frombuffer(blob, dtype=np.uint8).copy())
    return tensors


def read_shard(folder: Path, rank: int, size: int, key: str) -> dict[str, torch.Tensor]:
    try:
        return shard_files.read_shard(shard_stem(folder, SHARD, rank, size), key)
    except ValueError as err:
        raise CorruptIndexError(str(err)) from err


def merge_shards(
    folder: Path, size: int, key: str, recipes: list[Recipe], dim: int, thumb_count: int
) -> tuple[dict[str, torch.Tensor], list[bytes]]:
    """Every shard's rows laid into (len(recipes), dim) float32 tables and the thumbnails
    into one list; refused when a row is missing (a shard of a different split)."""
    vectors = {field: torch.zeros(len(recipes), dim) for field in STORED_FIELDS}
    covered = {field: torch.zeros(len(recipes), dtype=torch.bool) for field in STORED_FIELDS}
    thumbs: list[bytes | None] = [None] * thumb_count
    for rank in range(size):
        shard = read_shard(folder, rank, size, key)
        for field in STORED_FIELDS:
            rows = shard[f"{field}_rows"]
            vectors[field][rows], covered[field][rows] = shard[field], True
        blob, ends = shard["thumb_bytes"].numpy().tobytes(), shard["thumb_ends"].tolist()
        for row, start, end in zip(shard["thumb_rows"].tolist(), [0, *ends], ends):
            thumbs[row] = blob[start:end]
    has_recipe = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
    expected = {"image": torch.ones_like(has_recipe), "title": torch.ones_like(has_recipe), "recipe": has_recipe}
    for field in STORED_FIELDS:
        if not torch.equal(covered[field], expected[field]):
            raise CorruptIndexError(f"{folder}: the shards miss some {field} rows; delete the folder and rebuild")
    if any(t is None for t in thumbs):
        raise CorruptIndexError(f"{folder}: the shards do not hold every thumbnail; delete the folder and rebuild")
    return vectors, thumbs


def build_in_shards(
    model,
    recipes: list[Recipe],
    thumb_recipes: list[Recipe],
    make_thumb: Callable[[Recipe], bytes],
    cache,
    out_dir: Path,
    key: str,
    world: World,
    progress: bool,
) -> tuple[dict[str, torch.Tensor], list[bytes]] | None:
    """This rank's shard (made unless a matching one is there), then, on rank 0, the
    merged vectors of `recipes` and thumbnails of `thumb_recipes`; None on other ranks."""
    folder = shards_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = shard_stem(folder, SHARD, world.rank, world.size)
    if shard_files.shard_is_done(stem, key):
        print(f"shard {world.rank} of {world.size}: made by an earlier run, kept", file=sys.stderr)
    else:
        embeds, done = embed_part(model, recipes, cache, progress, world)
        mine = [j for j in range(len(thumb_recipes)) if world.runs(j)]
        made = parallel_map(make_thumb, [thumb_recipes[j] for j in mine], "thumbnails", progress)
        shard_files.write_shard(stem, shard_tensors(embeds, done, dict(zip(mine, made))), key)
    barrier(world)  # every shard written before rank 0 reads them
    if not world.is_main:
        return None
    return merge_shards(folder, world.size, key, recipes, model.config.embed_dim, len(thumb_recipes))


def remove_shards(out_dir: Path) -> None:
    """Once the index is written, its shards are no longer needed."""
    shutil.rmtree(shards_dir(out_dir), ignore_errors=True)
