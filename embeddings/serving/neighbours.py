""" "More like this one": the recipes nearest a recipe a person picked among the results,
found from that recipe's own stored vectors, not from the query that led to it.

The query is normalize(recipe's vector + its photo's vector) (the title's vector where a
row has no recipe), searched on the field photo searches use, the recipe itself left out:
both what the dish is made of and how it looks pull the neighbours.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F


def neighbour_query(index, row: int, field: str) -> np.ndarray:
    """The unit query vector of one row's own vectors (see the module docstring)."""
    text = index.row_vector(field if index.has_recipe[row] else "title", row)
    photo = index.row_vector("image", row)
    return F.normalize(text + photo, dim=0).numpy()


def recipe_neighbours(index, row: int, field: str, k: int, rows: np.ndarray | None = None) -> list:
    """The k nearest rows with a recipe (Hits, best first), `row` itself left out."""
    allowed = index.has_recipe.copy() if rows is None else np.asarray(rows, dtype=bool).copy()
    allowed[row] = False
    return index.search(neighbour_query(index, row, field), field, k, rows=allowed)


__all__ = ["neighbour_query", "recipe_neighbours"]
