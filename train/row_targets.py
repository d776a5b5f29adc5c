"""What the training rows themselves teach besides the pairs: the ingredient vocabulary
(the auxiliary ingredient loss, debiasing) and the dish classes (the semantic terms of
adamine and cosine), fitted on the training rows only, and each row's labels under them.
`python -m train` and the experiment runner (benchmarks/experiment.py, the same stages)
fit them here."""

from __future__ import annotations

import torch

from model import FittedState
from pipeline.records import Recipe

from .dish_classes import dish_labels, fit_dish_classes
from .ingredients import build_vocabulary, label_matrix


def fit_row_state(options, train_rows: list[Recipe]) -> FittedState:
    """A FittedState with the vocabularies `options` (TrainOptions) needs; ValueError with
    the way out when the training rows cannot give them."""
    fitted = FittedState()
    if options.ingredient_weight:
        fitted.ingredient_vocab = build_vocabulary(train_rows)
        if not fitted.ingredient_vocab:
            raise ValueError(
                "--ingredient-weight: no ingredient word occurs in two training recipes; "
                "train without it on a collection with no ingredient lists"
            )
    if options.objective().needs_dish_classes:
        fitted.dish_classes = fit_dish_classes(train_rows, options.dish_classes)
        fitted.dish_classifier = options.loss == "cosine"
        if len(fitted.dish_classes) < 3:
            raise ValueError(
                f"--loss {options.loss}: {len(fitted.dish_classes) - 1} dish classes in the training titles, too "
                "few for a semantic level (two or more needed: raise --dish-classes, or train with --semantic-weight 0)"
            )
    return fitted


def row_labels(fitted: FittedState, options, train_rows: list[Recipe]) -> tuple[torch.Tensor | None, ...]:
    """(ingredient labels (N, K) or None, dish classes (N,) or None) of the training rows."""
    labels = label_matrix(train_rows, fitted.ingredient_vocab) if options.ingredient_weight else None
    dishes = dish_labels(train_rows, fitted.dish_classes) if fitted.dish_classes else None
    return labels, dishes
