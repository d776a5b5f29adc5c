"""Ingredient words of an index's recipes: which rows hold a term, as a row mask the
search applies before ranking (RecipeIndex.search(..., rows=mask)), and which lines of
one recipe hold which terms.

A term matches a recipe when the term's words appear, in order and whole, in one of the
recipe's ingredient lines, both sides normalised by model/words.py (lower case, singular):
"egg" matches "2 large eggs" but not "eggplant"; "nut" matches "pine nuts" but not
"walnuts"; "olive oil" matches "3 tbsp extra-virgin olive oil". Rows with no ingredient
list hold no term: they never pass a "with" filter, and a "without" filter cannot vouch
for them, so it leaves them out too. A "without" term also leaves out a row whose title
holds it: "Southern Fried Chicken" made from "1 broiler-fryer" is still chicken.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from model.words import words

# A typed list splits at commas, semicolons and line breaks ("nuts, pork; shellfish").
TERM_SEPARATORS = re.compile(r"[,;\n]+")


def parse_terms(text: str) -> list[tuple[str, ...]]:
    """A typed list -> its terms as normalised word tuples, without repeats, in order."""
    terms = (tuple(words(part)) for part in TERM_SEPARATORS.split(text or ""))
    return list(dict.fromkeys(term for term in terms if term))


def term_text(term: tuple[str, ...]) -> str:
    return " ".join(term)


class IngredientWords:
    """The ingredient lines of every row of an index, as word tuples, with an inverted
    index word -> rows, so a term's rows are found without reading every line."""

    def __init__(self, ingredient_lists: list[list[str]], titles: list[str] | None = None):
        self.count = len(ingredient_lists)
        # Each row's title as one more line, read by "without" terms only (see the module docstring).
        self.titles = [tuple(words(str(title))) for title in titles] if titles is not None else None
        self.raw = ingredient_lists  # the lines as written, for showing them
        self.lines = [[tuple(words(line)) for line in lines] for lines in ingredient_lists]
        self._line_sets = [[frozenset(line) for line in lines] for lines in self.lines]
        self.has_list = np.array([bool(lines) for lines in ingredient_lists], dtype=bool)
        postings: dict[str, set[int]] = defaultdict(set)
        for row, lines in enumerate(self.lines):
            for line in lines:
                for word in line:
                    postings[word].add(row)
        self._postings = {word: np.fromiter(sorted(rows), dtype=np.int64) for word, rows in postings.items()}
        titled: dict[str, set[int]] = defaultdict(set)
        for row, title in enumerate(self.titles or []):
            for word in title:
                titled[word].add(row)
        self._title_postings = {word: np.fromiter(sorted(rows), dtype=np.int64) for word, rows in titled.items()}

    def document_frequency(self, word: str) -> int:
        """How many rows' ingredient lines hold the (normalised) word."""
        rows = self._postings.get(word)
        return 0 if rows is None else len(rows)

    def rows_named(self, term: tuple[str, ...]) -> np.ndarray:
        """(count,) bool: rows whose title holds the term (none when no titles were given)."""
        mask = np.zeros(self.count, dtype=bool)
        candidates = None
        for word in term:
            rows = self._title_postings.get(word)
            if rows is None:
                return mask
            candidates = rows if candidates is None else np.intersect1d(candidates, rows, assume_unique=True)
        for row in candidates:
            mask[row] = self.line_holds(self.titles[row], term)
        return mask

    def line_holds(self, line: tuple[str, ...], term: tuple[str, ...]) -> bool:
        n = len(term)
        return any(line[i : i + n] == term for i in range(len(line) - n + 1))

    def rows_with(self, term: tuple[str, ...]) -> np.ndarray:
        """(count,) bool: rows one of whose ingredient lines holds the term."""
        mask = np.zeros(self.count, dtype=bool)
        candidates = None  # rows holding every word of the term somewhere
        for word in term:
            rows = self._postings.get(word)
            if rows is None:
                return mask
            candidates = rows if candidates is None else np.intersect1d(candidates, rows, assume_unique=True)
        for row in candidates if len(term) > 1 else []:
            mask[row] = any(self.line_holds(line, term) for line in self.lines[row])
        if len(term) == 1:
            mask[candidates] = True
        return mask

    def mask(self, with_terms: list[tuple[str, ...]], without_terms: list[tuple[str, ...]]) -> np.ndarray | None:
        """Rows holding every `with` term and no `without` term, in a line or the title (None
        when both are empty: no filter). Rows without an ingredient list pass no filter."""
        if not with_terms and not without_terms:
            return None
        mask = self.has_list.copy()
        for term in with_terms:
            mask &= self.rows_with(term)
        for term in without_terms:
            mask &= ~(self.rows_with(term) | self.rows_named(term))
        return mask

    def lines_holding_any(self, row: int, terms: list[tuple[str, ...]]) -> list[bool]:
        """For each ingredient line of a row, whether it holds one of the terms (word sets
        first: a single-word term is one set lookup)."""
        singles = frozenset(term[0] for term in terms if len(term) == 1)
        longer = [term for term in terms if len(term) > 1]
        held = []
        for line, line_set in zip(self.lines[row], self._line_sets[row]):
            holds = not line_set.isdisjoint(singles) or any(
                line_set.issuperset(term) and self.line_holds(line, term) for term in longer
            )
            held.append(holds)
        return held

    def lines_holding(self, row: int, terms: list[tuple[str, ...]]) -> dict[int, list[tuple[str, ...]]]:
        """{line number: the terms it holds} for one row's ingredient lines."""
        found = {}
        for number, line in enumerate(self.lines[row]):
            held = [term for term in terms if self.line_holds(line, term)]
            if held:
                found[number] = held
        return found
