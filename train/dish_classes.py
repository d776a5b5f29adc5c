"""Dish classes from the training titles, the im2recipe way: the semantic labels of the
AdaMine and cosine losses' semantic levels.

Frequent title words and pairs of neighbouring words (stopwords out) become up to
`size` classes; each title takes one of the classes it contains (model/dish_kinds.py's
rule), and a title that holds none is class 0, "background". Fitted on the training rows
only: a word seen only in val or test titles never becomes a class.

Which classes: every word and bigram found in at least `min_count` training titles, the
most frequent first (counted once per title; ties by the text, so every process agrees).
"""

from __future__ import annotations

from collections import Counter

import torch

from model.dish_kinds import BACKGROUND, class_index, dish_class, title_terms
from pipeline.records import Recipe

__all__ = ["BACKGROUND", "dish_class", "dish_labels", "fit_dish_classes", "fit_title_classes", "title_terms"]


def fit_dish_classes(recipes: list[Recipe], size: int = 300, min_count: int = 3) -> list[str]:
    """[BACKGROUND, up to `size` classes] from the titles of the recipes given (the training rows)."""
    return fit_title_classes([r.title for r in recipes], size, min_count)


def fit_title_classes(titles: list[str], size: int = 300, min_count: int = 3) -> list[str]:
    """fit_dish_classes over bare titles."""
    if size < 1:
        raise ValueError(f"--dish-classes must be at least 1, got {size}")
    counts = Counter(term for title in titles for term in {t for t, _, _ in title_terms(title)})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [BACKGROUND] + [term for term, count in ranked[:size] if count >= min_count]


def dish_labels(recipes: list[Recipe], classes: list[str]) -> torch.Tensor:
    """(N,) long: each recipe's class under `classes` (fit_dish_classes' list; 0 background)."""
    index = class_index(classes)
    return torch.tensor([dish_class(r.title, index) for r in recipes], dtype=torch.long)
