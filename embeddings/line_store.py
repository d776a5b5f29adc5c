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
whose settings differ falls back to computing lines (embeddings/rerank.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from tqdm import tqdm

from model.recipe_lines import SPLITTER_VERSION, RaggedLines
from pipeline.lines import LINE_BATCH, LINE_SETTINGS, line_order
from pipeline.records import Recipe

from .manifest import LINES_FILE, CorruptIndexError
from .mapped import map_safetensors


def line_settings(model) -> dict:
    """What the stored lines depend on besides the model's weights."""
    return {**{name: getattr(model.config, name) for name in LINE_SETTINGS}, "splitter": SPLITTER_VERSION}


def lines_record(model, lines: RaggedLines) -> dict:
    """The manifest's "ingredient_lines" entry."""
    return {
        "file": LINES_FILE,
        "dim": int(lines.flat.shape[1]),
        "total": int(lines.flat.shape[0]),
        "settings": line_settings(model),
    }


@torch.inference_mode()
def compute_ingredient_lines(
    model, ingredients: list[list[str]], progress: bool = True, desc: str = "ingredient lines"
) -> RaggedLines:
    """Retriever.ingredient_line_features of every row, float16, in length-sorted batches
    of LINE_BATCH lines (a batch pads to similar lengths; one call over a million rows'
    lines would not fit)."""
    split = [model.split_lines(list(row), [])[0] for row in ingredients]
    items = [line for lines in split for line in lines]
    flat = torch.zeros(len(items), model.recipe_encoder.feature_dim, dtype=torch.float16)
    order = line_order(items)
    for start in tqdm(range(0, len(order), LINE_BATCH), desc=desc, disable=not progress):
        batch = order[start : start + LINE_BATCH]
        # line_features rounds through float16 already: this cast is exact.
        flat[batch] = model.line_features([items[i] for i in batch]).cpu().to(torch.float16)
    return RaggedLines.from_counts(flat, torch.tensor([len(lines) for lines in split], dtype=torch.int64))


def build_ingredient_lines(model, recipes: list[Recipe], old_rows: list, old, progress: bool) -> RaggedLines:
    """Every row's lines: copied from the previous index `old` for a reused row (old_rows[i]
    its row there, None for a new one) when it stored lines under the same settings,
    computed otherwise."""
    stored = getattr(old, "ingredient_lines", None) if old is not None else None
    if stored is not None and old.manifest["ingredient_lines"].get("settings") != line_settings(model):
        print("note: the existing index's ingredient lines used other settings; computing them all", file=sys.stderr)
        stored = None
    todo = [i for i, row in enumerate(old_rows) if stored is None or row is None]
    computed = compute_ingredient_lines(model, [recipes[i].ingredients for i in todo], progress)
    computed_at = {row: n for n, row in enumerate(todo)}
    parts = []
    for i, row in enumerate(old_rows):
        source, at = (computed, computed_at[i]) if i in computed_at else (stored, row)
        start, count = int(source.offsets[at]), int(source.counts[at])
        parts.append(source.flat[start : start + count])
    counts = torch.tensor([len(part) for part in parts], dtype=torch.int64)
    width = computed.flat.shape[1]
    flat = torch.cat(parts) if parts else torch.zeros(0, width, dtype=torch.float16)
    return RaggedLines.from_counts(flat.to(torch.float16).contiguous(), counts)


def write_ingredient_lines(path: Path, lines: RaggedLines) -> None:
    """The file as the module docstring lays it out (rows one after the other)."""
    save_file(
        {"lines": lines.flat.to(torch.float16).contiguous(), "counts": lines.counts.to(torch.int64).contiguous()},
        str(path),
        metadata={"format": "ingredient-lines", "splitter": str(SPLITTER_VERSION)},
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
