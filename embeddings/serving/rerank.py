"""A photo query's top K recipes re-ordered by the model's region x ingredient scorer
(model/reranker.py), for a model trained with `--rerank K`.

The index stays a dual-encoder index: the search finds the top max(k, K) rows as before,
then only the first K are re-scored (global cosine + alpha * local score) and re-ordered;
the same K rows come back, and the rows after them keep their places. A candidate's
ingredient-line vectors are read from the index folder's ingredient_lines.safetensors,
which `embeddings build` stores for a model with a re-ranker (embeddings/serving/line_store.py):
a query runs no text backbone. An index without that file (built before it, or by a
model without a re-ranker), or one stored under other line settings, falls back to
computing them with the model's text backbone from the recipe table, split as the
training cache split them (Retriever.ingredient_line_features), kept in a small
in-memory cache: a popular recipe is embedded once per process.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

import numpy as np
import torch

from model.recipe_lines import RaggedLines

from .index import Hit
from .line_store import line_settings

LINE_CACHE_ROWS = 4096  # recipes whose ingredient-line vectors are kept (~50 kB each at 32 lines of 384)


class PhotoReranker:
    """Re-ranks photo -> recipe hits of one index with one model's scorer."""

    def __init__(self, index, model, cache_rows: int = LINE_CACHE_ROWS, stored_lines: bool = True):
        """`stored_lines`: read the index's stored lines when it has them (False: always
        compute them, as for an index without them; benchmarks and tests compare the two)."""
        if not model.reranks:
            raise ValueError("this model does not re-rank (trained without --rerank, or its scorer lost on val)")
        self.index, self.model, self.k = index, model, model.config.rerank
        self.cache_rows = cache_rows
        self._lines: OrderedDict[int, torch.Tensor] = OrderedDict()  # row -> (n, H), least recently used first
        # RaggedLines over every row, or None: compute them.
        self.stored = usable_stored_lines(index, model) if stored_lines else None

    def search(self, query_vector, regions: torch.Tensor, field: str, k: int, rows=None) -> list[Hit]:
        """The index's top k for `query_vector` (RecipeIndex.search's arguments), its first
        K re-ordered by the scorer; `regions`: the query photo's (R, C) region vectors."""
        hits = self.index.search(query_vector, field, max(int(k), self.k), rows=rows)
        return self.rerank(hits, regions)[: int(k)]

    def rerank(self, hits: list[Hit], regions: torch.Tensor) -> list[Hit]:
        """`hits` with their first K re-ordered by global + alpha * local score (ties keep
        the dual encoder's order); the hits after them unchanged."""
        top = hits[: self.k]
        if len(top) < 2:
            return list(hits)
        lines = self.lines_of([hit.row for hit in top])
        global_scores = torch.tensor([hit.score for hit in top], dtype=torch.float32)
        with torch.no_grad():
            final = self.model.rerank_scores(regions, lines, global_scores).cpu()
        order = np.argsort(-final.numpy(), kind="stable")
        return [top[i] for i in order] + list(hits[self.k :])

    def lines_of(self, rows: list[int]) -> RaggedLines:
        """The ingredient-line vectors of index rows (a title-only row has none)."""
        if self.stored is not None:
            # float32, as line_features returns them: the stored float16 values are exact.
            picked = self.stored.select(torch.tensor(rows, dtype=torch.int64)).compact()
            return RaggedLines.from_counts(picked.flat.float(), picked.counts)
        return self.computed_lines_of(rows)

    def computed_lines_of(self, rows: list[int]) -> RaggedLines:
        """lines_of through the text backbone (and the in-memory cache): the fallback."""
        missing = [row for row in dict.fromkeys(rows) if row not in self._lines]
        if missing:
            ingredients = self.index.recipes["ingredients"]
            with torch.no_grad():
                computed = self.model.ingredient_line_features([list(ingredients.iat[row]) for row in missing])
            for row, start, count in zip(missing, computed.offsets.tolist(), computed.counts.tolist()):
                self._lines[row] = computed.flat[start : start + count].cpu()
        vectors = [self._lines[row] for row in rows]
        for row in rows:
            self._lines.move_to_end(row)
        while len(self._lines) > self.cache_rows:
            self._lines.popitem(last=False)
        counts = torch.tensor([len(v) for v in vectors], dtype=torch.int64)
        return RaggedLines.from_counts(torch.cat(vectors), counts)


def usable_stored_lines(index, model) -> RaggedLines | None:
    """The index's stored ingredient lines when they are what `model` would compute (the
    index checks the weights; the settings are checked here), else None."""
    stored = getattr(index, "ingredient_lines", None)
    if stored is None:
        return None
    recorded = index.manifest["ingredient_lines"].get("settings")
    if recorded != line_settings(model):
        print(
            f"note: the index's ingredient lines were stored under {recorded}, the model splits "
            f"with {line_settings(model)}: computing them per query",
            file=sys.stderr,
        )
        return None
    return stored
