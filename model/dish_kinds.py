"""A dish's kind from its title, the im2recipe way: the rule behind the dish classes training
fits (train/dish_classes.py) and the app's "Looks like" line (ui/confidence.py), kept here
so both read a title alike.

A title's terms are its words and pairs of neighbouring words, stopwords out. Which class a
title takes, among the classes it holds:
  1. a bigram over a single word: "ice cream" says more of the dish than "ice" or "cream";
  2. then the one that ends later in the title: English names the dish last ("chicken
     salad" is a salad, "chocolate cake" a cake);
  3. then the rarer, the more specific (classes are ranked by count, most frequent first,
     so the rarer of two has the larger index).
A title that holds none is class 0, "background".
"""

from __future__ import annotations

from .words import words

BACKGROUND = "background"
# Function words and the words titles use to praise rather than to name a dish.
STOPWORDS = frozenset(
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


def dish_class(title: str, index: dict[str, int]) -> int:
    """The class a title takes (the module docstring's rule), 0 when it holds none.
    `index`: {class: its position in the ranked class list}, background left out."""
    held = [(length, end, index[term]) for term, end, length in title_terms(title) if term in index]
    return max(held)[2] if held else 0


def class_index(classes: list[str]) -> dict[str, int]:
    """dish_class's `index` of a ranked class list whose entry 0 is BACKGROUND."""
    return {term: i for i, term in enumerate(classes) if i}
