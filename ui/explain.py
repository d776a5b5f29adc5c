"""Why this match: which words of the query, and which of the recipe's ingredients the
query most likely shows, so a person can judge a result.

A photo query: the model's ingredient head (trained to predict a recipe's ingredient words
from its photo's embedding, train/ingredients.py) gives each word of its vocabulary a
probability; of the words it finds likely that a recipe's lines hold, at most MOST_NAMED
are named: staples and words that name no food left out, the rest weighed by how rare
they are across the collection (idf) and by how few of the other results hold them, so
the words named are the ones that set this recipe apart. A typed query: its own words
(function words left out), where the recipe's title or ingredient lines hold them; a
staple counts there, since it was asked for.
"""

from __future__ import annotations

import math
from html import escape

import gradio as gr
import torch

from model.dish_kinds import STOPWORDS
from model.words import LETTERS, singular, words

# A word the head gives at least this probability is "likely shown" (the head's outputs
# are per-word sigmoids; most words of a dish score under 0.1, its main ones 0.3-0.9).
LIKELY = 0.25
MOST_SHOWN = 12  # the head's most likely words considered per photo
MOST_NAMED = 5  # the photo's likely ingredients named per recipe
# In almost every recipe: naming them says nothing about why this one matched.
STAPLES = frozenset("salt pepper oil butter sugar garlic water flour ice vinegar".split())
# Words of ingredient lines (and so of the head's vocabulary) that name no food by themselves.
NOT_FOODS = frozenset(
    """
granulated brown white black red green yellow golden dark light large small medium fresh freshly
chopped ground whole dried dry extra virgin purpose kosher sea fine coarse unsalted salted cup
tablespoon teaspoon ounce pound plus more taste sliced minced diced grated peeled juice powder
baking leaf room temperature divided optional packed cut inch piece thinly finely
""".split()
)
# A word inside one of these says a staple, not the food: "olive" of "olive oil", "clove" of
# "2 garlic cloves" or "3 cloves garlic".
STAPLE_PHRASES = (("olive", "oil"), ("garlic", "clove"), ("clove", "garlic"), ("vegetable", "oil"))
# Words a typed query uses to join the ones that matter ("lemon chicken with the capers").
FUNCTION_WORDS = STOPWORDS | frozenset("some few like but not very is it this that than one two any".split())


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
    """The normalised words of a typed query, two letters or more and no function word
    ("a", "&", "and", "with" say nothing)."""
    return {word for word in words(text) if len(word) > 1 and word not in FUNCTION_WORDS}


def require_letters(text: str, what: str) -> None:
    """Refuse text with no letter to read (emoji, punctuation or numbers only) with a clear
    note rather than answering with whatever such a query lands near."""
    if not LETTERS.search(text or ""):
        raise gr.Error(
            f"The {what} has no letters to read (only emoji, numbers or symbols); please type it in words, "
            "for example \u201cchocolate cake\u201d."
        )


def only_in_staple_phrases(word: str, ingredients: list[str]) -> bool:
    """Whether the ingredient lines hold `word` only as part of a STAPLE_PHRASES phrase
    (False when they do not hold it at all: the title named it)."""
    seen = False
    for line in ingredients:
        found = words(line)
        for i, w in enumerate(found):
            if w != word:
                continue
            seen = True
            pairs = {tuple(found[i : i + 2]), tuple(found[max(0, i - 1) : i + 1])}
            if not pairs & set(STAPLE_PHRASES):
                return False
    return seen


def distinctive(
    likely: dict[str, float],
    held: list[str],
    document_frequency,
    rows: int,
    share_elsewhere: dict[str, float],
    ingredients: list[str] = (),
) -> list[str]:
    """At most MOST_NAMED of the likely words a recipe holds, no staple and no non-food,
    by probability x idf x (1 - half the share of the other results holding it), best first."""

    def weight(word: str) -> float:
        idf = math.log((1 + rows) / (1 + document_frequency(word)))
        return likely[word] * idf * (1 - 0.5 * share_elsewhere.get(word, 0.0))

    kept = [word for word in held if word not in STAPLES and word not in NOT_FOODS]
    kept = [word for word in kept if not only_in_staple_phrases(word, ingredients)]
    return sorted(kept, key=lambda word: (-weight(word), word))[:MOST_NAMED]


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


def why_maker(
    index_words, likely: dict[str, float] | None = None, typed: set[str] = frozenset(), chosen=None, others=()
):
    """The per-result explanation maker: (title, ingredients) -> {"reasons", "marked"}.
    `index_words`: the index's IngredientWords (embeddings/serving/ingredients.py).
    Marked: at most five of the words the photo most likely shows (the model's ingredient
    head; distinctive() chooses them), the typed words, and the filter's "with" words,
    wherever the recipe holds them. `others`: the answer's hits, to prefer the words
    that set one result apart from the rest."""
    likely = likely or {}
    wanted = {word for term in (chosen.with_terms if chosen else []) for word in term}
    holders = {word: 0 for word in likely}
    for hit in others:
        held = {word for line in index_words.lines[hit.row] for word in line}
        for word in held & set(likely):
            holders[word] += 1

    def why(title: str, ingredients: list[str]) -> dict:
        held = held_words(set(likely), title, ingredients)
        elsewhere = {w: max(0, holders[w] - 1) / max(1, len(others) - 1) for w in held}
        shown = distinctive(likely, held, index_words.document_frequency, index_words.count, elsewhere, ingredients)
        yours = held_words(set(typed), title, ingredients)
        reasons = []
        if shown:
            reasons.append("The photo most likely shows " + ", ".join(shown) + ": marked below.")
        if yours:
            reasons.append("Your words in this recipe: " + ", ".join(yours) + ".")
        if chosen is not None and chosen.active:
            reasons.append("Passes your filters: " + chosen.describe() + ".")
        return {"reasons": reasons, "marked": sorted(set(shown) | set(yours) | wanted)}

    return why
