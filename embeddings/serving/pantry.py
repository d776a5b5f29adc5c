"""Cook from what I have: the recipes that use the most of a person's ingredients and need
the fewest others.

Ranking, and why:
1. `uses`: how many of your ingredients a recipe's lines hold. It comes first because it
   is what the person asked ("use what I have"); a recipe that uses all of them is never
   ranked below one that uses fewer.
2. Among recipes that use as many, score = cosine - NEED_COST * needs, where
   - cosine: the recipe vector's similarity to your list read as a recipe by the model.
     It tells a dish your ingredients are the heart of (eggs, flour, milk -> crepes) from
     one that merely mentions them (a cake of twelve things with a splash of milk), which
     the word counts cannot.
   - needs: the recipe's ingredient lines that hold none of yours and no staple (salt,
     pepper, water, oil: ui/diets.toml), i.e. what you would have to buy. NEED_COST makes
     one more thing to buy cost about as much as the typical cosine gap between
     neighbouring results, so shorter shopping lists win close calls only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ingredients import IngredientWords, term_text

NEED_COST = 0.02
# At most this many candidates (the rows using the most of yours) are scored; a list with
# "salt" in it matches nearly every row of a large collection.
CANDIDATES = 2_000


@dataclass
class PantryMatch:
    """Reads like a search hit (row, id, score: the cosine), with what ranks it."""

    row: int
    id: str
    score: float  # cosine of the recipe vector with your list
    uses: list[str]  # your ingredients this recipe uses
    needs: list[str]  # its ingredient lines that need something you did not list
    rank_score: float  # score - NEED_COST * len(needs): orders recipes that use as many of yours


def pantry_matches(
    index,
    words: IngredientWords,
    query_vector: np.ndarray,
    yours: list[tuple[str, ...]],
    allowed: np.ndarray,
    staples: list[tuple[str, ...]],
    k: int,
    field: str = "recipe",
) -> tuple[list[PantryMatch], int]:
    """(the best k matches, how many rows use at least one of yours and pass `allowed`)."""
    holds = np.stack([words.rows_with(term) for term in yours]) if yours else np.zeros((0, words.count), bool)
    uses = holds.sum(axis=0)
    candidates = allowed & (uses > 0)
    found = int(candidates.sum())
    if found > CANDIDATES:
        # Keep the rows that use the most of yours: the CANDIDATES-th best count and above.
        floor = np.sort(uses[candidates])[::-1][CANDIDATES - 1]
        candidates &= uses >= floor
    hits = index.search(query_vector, field, int(candidates.sum()), rows=candidates) if candidates.any() else []
    matches = []
    for hit in hits:
        used = [term_text(term) for term, held in zip(yours, holds[:, hit.row]) if held]
        covered = words.lines_holding_any(hit.row, yours + staples)
        needs = [line for line, held in zip(words.raw[hit.row], covered) if not held]
        matches.append(PantryMatch(hit.row, hit.id, hit.score, used, needs, hit.score - NEED_COST * len(needs)))
    matches.sort(key=lambda m: (-len(m.uses), -m.rank_score, m.row))
    return matches[:k], found
