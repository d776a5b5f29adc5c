"""The one way a word of an ingredient line is normalised: lower case, letters only, singular.

Training's ingredient-word labels (train/ingredients.py), the app's ingredient filters and
"cook from what I have" (embeddings/serving/ingredients.py) all compare words through it, so
"2 large Eggs" holds the word "egg" for every one of them, and "eggplant" never does.
"""

from __future__ import annotations

import re

# Letters only (accents kept: "jalapeño", "crème"); digits, units' dots and hyphens split
# words, so "all-purpose" is "all", "purpose" and "1/2" is nothing.
LETTERS = re.compile(r"[^\W\d_]+")
# Plurals whose "es" belongs to the ending: peaches, radishes, boxes, tomatoes, potatoes.
_ES_ENDINGS = ("ches", "shes", "sses", "xes", "zes", "oes")
# Words ending in "s" that are not plurals.
_NOT_PLURAL = ("ss", "us", "is", "ous")


def singular(word: str) -> str:
    """berries -> berry, peaches -> peach, tomatoes -> tomato, eggs -> egg; glass, asparagus,
    hummus stay. Crude on purpose: both sides of every comparison go through it, so what
    matters is that a plural and its singular meet, not that the result is English."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(_ES_ENDINGS):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(_NOT_PLURAL):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """A line or a query term -> its normalised words, in order."""
    return [singular(w) for w in LETTERS.findall(text.lower())]
