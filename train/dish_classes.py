"""Dish classes from the training titles, the im2recipe way: the semantic labels of the
AdaMine and cosine losses' semantic levels.

Frequent title words and pairs of neighbouring words (stopwords out) become up to
`size` classes; each title takes one of the classes it contains, and a title that holds
none is class 0, "background". Fitted on the training rows only: a word seen only in
val or test titles never becomes a class.

Which classes: every word and bigram found in at least `min_count` training titles, the
most frequent first (counted once per title; ties by the text, so every process agrees).
Which class a title takes, among those it holds:
  1. a bigram over a single word: "ice cream" says more of the dish than "ice" or "cream";
  2. then the one that ends later in the title: English names the dish last ("chicken
     salad" is a salad, "chocolate cake" a cake);
  3. then the rarer, the more specific (ties in count go by the text, as the ranking does).
"""

from __future__ import annotations

from collections import Counter

import torch

from model.words import words
from pipeline.records import Recipe

BACKGROUND = "background"
# Function words and the words titles use to praise rather than to name a dish.
STOPWORDS = set(
    """
a an and as at by for from in into of on or over the to with without de la le au en al
my our your best easy quick simple perfect classic favorite favourite homemade ultimate
style recipe recipes way make made ingredient minute weeknight
""".split()
)
MIN_WORD_LENGTH = 3  # "s" of "mom's", stray letters


def title_terms(title: str) -> list[tuple[str, int, int]]:
    """(term, position where it ends, words in it) of a title's words and bigrams, stopwords out.
    A bigram is two neighbouring words of the title, neither a stopword."""
    kept = [(i, w) for i, w in enumerate(words(title)) if w not in STOPWORDS and len(w) >= MIN_WORD_LENGTH]
    terms = [(w, i, 1) for i, w in kept]
    terms += [(f"{w} {v}", j, 2) for (i, w), (j, v) in zip(kept, kept[1:]) if j == i + 1]
    return terms


def fit_dish_classes(recipes: list[Recipe], size: int = 300, min_count: int = 3) -> list[str]:
    """[BACKGROUND, up to `size` classes] from the titles of the recipes given (the training rows)."""
    if size < 1:
        raise ValueError(f"--dish-classes must be at least 1, got {size}")
    counts = Counter(term for r in recipes for term in {t for t, _, _ in title_terms(r.title)})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [BACKGROUND] + [term for term, count in ranked[:size] if count >= min_count]


def dish_class(title: str, index: dict[str, int]) -> int:
    """The class a title takes (the module docstring's rule), 0 when it holds none. Classes
    are ranked by count, so the rarer of two is the one with the larger index."""
    held = [(length, end, index[term]) for term, end, length in title_terms(title) if term in index]
    return max(held)[2] if held else 0


def dish_labels(recipes: list[Recipe], classes: list[str]) -> torch.Tensor:
    """(N,) long: each recipe's class under `classes` (fit_dish_classes' list; 0 background)."""
    index = {term: i for i, term in enumerate(classes) if i}
    return torch.tensor([dish_class(r.title, index) for r in recipes], dtype=torch.long)
