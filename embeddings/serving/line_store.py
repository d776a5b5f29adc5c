"""ingredient_lines.safetensors: every row's ingredient-line vectors, stored by the build of
an index whose model has a re-ranker (model/reranker.py), so a photo query's re-ranking
reads its K candidates' lines instead of running the text backbone on them (4-7 s cold
on a CPU).

The file is ragged, rows in the index's row order, laid out one after the other, as the
training cache's lines entry is (pipeline/lines.py):
  lines   (total ingredient lines, H) float16
  counts  (count,) int64   lines of each row (0 on title-only rows)
Row i's lines are lines[o : o + counts[i]], o the sum of the counts before it. The
vectors are Retriever.ingredient_line_features' (the same split, caps and float16
rounding PhotoReranker computes on the fly), so float16 holds them exactly.

The manifest's "ingredient_lines" records the file, its shape and the model settings the
lines depend on besides the weights (the manifest's fingerprint covers those): a model
whose settings differ falls back to computing lines (embeddings/serving/rerank.py).

The build computes the file (embeddings/building/line_build.py); this module only writes and reads
it, so the served app imports nothing of the feature pipeline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from model.recipe_lines import SPLITTER_VERSION, RaggedLines

from .manifest import LINES_FILE, CorruptIndexError
from .mapped import map_safetensors

# The config fields an ingredient line's vector depends on (which backbone, its token
# limit, the cap on lines): pipeline/lines.py's LINE_SETTINGS less the method's, kept
# here because the app must not import the pipeline.
INGREDIENT_LINE_SETTINGS = (
    "recipe_backbone",
    "title_backbone",
    "share_text_backbone",
    "recipe_line_max_tokens",
    "recipe_max_ingredients",
)


def line_settings(model) -> dict:
    """What the stored lines depend on besides the model's weights."""
    return {
        **{name: getattr(model.config, name) for name in INGREDIENT_LINE_SETTINGS},
        "splitter": SPLITTER_VERSION,
    }


def lines_record(model, lines: RaggedLines) -> dict:
    """The manifest's "ingredient_lines" entry."""
    return {
        "file": LINES_FILE,
        "dim": int(lines.flat.shape[1]),
        "total": int(lines.flat.shape[0]),
        "settings": line_settings(model),
    }


def write_ingredient_lines(path: Path, lines: RaggedLines) -> None:
    """The file as the module docstring lays it out (rows one after the other)."""
    save_file(
        {"lines": lines.flat.to(torch.float16).contiguous(), "counts": lines.counts.to(torch.int64).contiguous()},
        str(path),
        # One key only: safetensors writes its metadata map in hash order, which changes
        # from process to process, so two keys would make two equal builds differ in bytes.
        metadata={"format": f"ingredient-lines, splitter {SPLITTER_VERSION}"},
    )


def open_ingredient_lines(directory: Path, manifest: dict) -> RaggedLines | None:
    """The stored lines, memory-mapped (a query reads its candidates' pages only); None
    when the manifest records none (an index built before them, or for a model without a
    re-ranker). CorruptIndexError, naming the file, for one that disagrees with it."""
    record = manifest.get("ingredient_lines")
    if record is None:
        return None
    path = Path(directory) / LINES_FILE
    try:
        tensors = map_safetensors(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise CorruptIndexError(f"{path}: unreadable safetensors ({err})") from err
    flat, counts = tensors.get("lines"), tensors.get("counts")
    expected = f"lines ({record['total']}, {record['dim']}) float16 and counts ({manifest['count']},) int64"
    if (
        flat is None
        or counts is None
        or tuple(flat.shape) != (record["total"], record["dim"])
        or flat.dtype != torch.float16
        or tuple(counts.shape) != (manifest["count"],)
        or counts.dtype != torch.int64
    ):
        found = {name: (tuple(t.shape), str(t.dtype)) for name, t in tensors.items()}
        raise CorruptIndexError(f"{path}: holds {found}, the manifest says {expected}")
    counts = torch.from_numpy(np.array(counts.numpy()))  # (count,) int64: small, read whole
    if bool((counts < 0).any()) or int(counts.sum()) != record["total"]:
        raise CorruptIndexError(f"{path}: the counts add up to {int(counts.sum())}, not {record['total']} lines")
    return RaggedLines.from_counts(flat, counts)
