"""Why this match: which words of the query, and which of the recipe's ingredients the
query most likely shows, so a person can judge a result.

A photo query: the model's ingredient head (trained to predict a recipe's ingredient words
from its photo's embedding, train/ingredients.py) gives each word of its vocabulary a
probability; the words it finds likely that a recipe's lines hold are marked. A typed
query: its own words, where the recipe's title or ingredient lines hold them.
"""

from __future__ import annotations

from html import escape

import torch

from model.words import LETTERS, singular, words

# A word the head gives at least this probability is "likely shown" (the head's outputs
# are per-word sigmoids; most words of a dish score under 0.1, its main ones 0.3-0.9).
LIKELY = 0.25
MOST_SHOWN = 12  # the head's most likely words considered per photo


def photo_ingredients(model, image_embedding: torch.Tensor) -> dict[str, float]:
    """{word: probability} of the ingredient words the photo most likely shows; empty for a
    model trained without the ingredient head."""
    vocabulary = model.fitted.ingredient_vocab
    if not vocabulary or not hasattr(model, "ingredient_head"):
        return {}
    with torch.no_grad():
        probabilities = torch.sigmoid(model.ingredient_head(image_embedding.unsqueeze(0)))[0]
    top = torch.topk(probabilities, min(MOST_SHOWN, len(vocabulary)))
    return {vocabulary[i]: float(p) for p, i in zip(top.values, top.indices) if p >= LIKELY}


def query_words(text: str) -> set[str]:
    """The normalised words of a typed query, two letters or more ("a", "&" say nothing)."""
    return {word for word in words(text) if len(word) > 1}


def held_words(candidates: set[str], title: str, ingredients: list[str]) -> list[str]:
    """The candidate words the recipe's title or ingredient lines hold, in a stable order."""
    present = set(words(title))
    for line in ingredients:
        present.update(words(line))
    return sorted(candidates & present)


def mark(text: str, marked: set[str]) -> str:
    """`text` escaped, with each word whose normalised form is in `marked` in <mark>."""
    if not marked:
        return escape(text)
    out, last = [], 0
    for match in LETTERS.finditer(text):
        if singular(match.group().lower()) in marked:
            out.append(escape(text[last : match.start()]))
            out.append(f"<mark>{escape(match.group())}</mark>")
            last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)
