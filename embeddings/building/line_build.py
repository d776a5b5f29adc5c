"""Computing the index's ingredient_lines.safetensors at build time (embeddings/serving/line_store.py
says what the file holds): Retriever.ingredient_line_features of every row; or the rows'
lines copied from the index a re-build replaces; or, for a first build, read from the
training cache's lines entry when it holds this collection under these settings.

Exactness: a transformer's float32 output for a line moves in its last bits with the
batch it runs in (the padding, the kernels' blocking), so after the float16 rounding a
line computed here, in the cache, or on the fly for a query's K candidates can differ by
one float16 step in some values (MiniLM: about half the lines, at most ~5e-4). The
on-the-fly path varies so between queries itself; the cache's lines are the very values
the re-ranker trained on. On the tests' tiny backbone all three agree bit for bit.
"""

from __future__ import annotations

import sys

import torch
from tqdm import tqdm

from model.recipe_lines import RaggedLines
from pipeline.features import FeatureCache
from pipeline.lines import LINE_BATCH, line_order
from pipeline.records import Recipe

from ..serving.line_store import line_settings


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


def cached_ingredient_lines(model, recipes: list[Recipe], cache_dir, progress: bool) -> RaggedLines | None:
    """The training cache's ingredient lines of `recipes`, in their order, when the cache
    already holds a lines entry for this collection and these settings (its key says so);
    None otherwise: making the entry here would embed every method sentence too."""
    if cache_dir is None:
        return None
    cache = FeatureCache(cache_dir, recipes, progress)
    path = cache.lines_path(model)
    if path is None or not path.is_file():
        return None
    print(f"ingredient lines: read from the feature cache ({path.name})", file=sys.stderr)
    return cache.lines(model)["ingredients"].compact()


def build_ingredient_lines(
    model, recipes: list[Recipe], old_rows: list, old, progress: bool, cache_dir=None
) -> RaggedLines:
    """Every row's lines: copied from the previous index `old` for a reused row (old_rows[i]
    its row there, None for a new one) when it stored lines under the same settings;
    with no row reused, read from the feature cache at `cache_dir` when it has them;
    computed otherwise."""
    if all(row is None for row in old_rows):
        cached = cached_ingredient_lines(model, recipes, cache_dir, progress)
        if cached is not None:
            return RaggedLines.from_counts(cached.flat.to(torch.float16).contiguous(), cached.counts)
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
