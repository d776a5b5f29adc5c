"""Ingredient filters a visitor sets: "without" words, "with" words and diet chips, turned
into a row mask the index applies before ranking (embeddings/serving/ingredients.py matches the
words), with notes on whatever was cut or could not be read.

The diet chips' word lists live in diets.toml, with what they can and cannot promise.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from embeddings.serving.ingredients import IngredientWords, parse_terms, term_text

from . import inputs

MARKUP = re.compile(r"<[^<>]{0,200}>")  # an HTML tag: its name is no ingredient
DIETS_FILE = Path(__file__).with_name("diets.toml")
MAX_TERMS = 50  # per field: a filter of more words is a paste gone wrong, and each costs a pass over the postings
MAX_FILTER_CHARS = 2_000
DISCLAIMER = (
    "Filters match whole words in the ingredient lines, and \u201cwithout\u201d words and diet chips in the title "
    "too (\u201cegg\u201d matches \u201ceggs\u201d, not \u201ceggplant\u201d; \u201cwithout nuts\u201d also "
    "leaves out walnuts and pecans). A word list is not a dietary guarantee: check a recipe yourself for an "
    "allergy or a diet."
)


def load_diets(path: Path = DIETS_FILE) -> tuple[dict[str, dict], list[tuple[str, ...]]]:
    """({chip name: {"label", "without": [terms]}}, staple terms) from the data file."""
    data = tomllib.loads(path.read_text())
    diets = {name: {"label": d["label"], "without": parse_terms(d["without"])} for name, d in data["diets"].items()}
    return diets, parse_terms(data["staples"]["words"])


DIETS, STAPLES = load_diets()


def load_also(path: Path = DIETS_FILE) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """{typed term: the other words for it} from the data file's [also] table."""
    also = tomllib.loads(path.read_text()).get("also", {})
    return {parse_terms(word)[0]: parse_terms(names) for word, names in also.items()}


ALSO = load_also()
DIET_CHOICES = [(diet["label"], name) for name, diet in DIETS.items()]  # (shown, value) for a CheckboxGroup


@dataclass
class Filters:
    with_terms: list[tuple[str, ...]] = field(default_factory=list)
    without_terms: list[tuple[str, ...]] = field(default_factory=list)  # typed and the diets' words
    notes: list[str] = field(default_factory=list)
    diets: list[str] = field(default_factory=list)  # the chips' labels, for saying what was filtered
    typed_without: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.with_terms or self.without_terms)

    def mask(self, words: IngredientWords, has_recipe: np.ndarray) -> np.ndarray:
        """Rows with a recipe that pass every filter."""
        mask = words.mask(self.with_terms, self.without_terms)
        return has_recipe if mask is None else has_recipe & mask

    def describe(self) -> str:
        """In words: "vegetarian; with lemon; without sugar, nuts"."""
        parts = [label.lower() for label in self.diets]
        if self.with_terms:
            parts.append("with " + _some([term_text(t) for t in self.with_terms]))
        if self.typed_without:
            parts.append("without " + _some([term_text(t) for t in self.typed_without]))
        return "; ".join(parts)


def _some(words: list[str], count: int = 6) -> str:
    """The first `count` words, each cut to 40 characters, and how many more: a reply never
    quotes more than a few hundred characters of what a visitor typed."""
    listed = ", ".join(inputs.shown(word, 40) for word in words[:count])
    return listed + (f" and {len(words) - count:,} more" if len(words) > count else "")


def read_terms(text, what: str, notes: list[str]) -> list[tuple[str, ...]]:
    """A typed word list -> at most MAX_TERMS terms; what was cut or unreadable goes to notes."""
    text, more = inputs.clean_text(text, MAX_FILTER_CHARS, what)
    notes.extend(more)
    if MARKUP.search(text):
        text = MARKUP.sub(" ", text)
        notes.append(f"The {what} held markup (<\u2026>); only its words were read.")
    terms = parse_terms(text)
    if text.strip() and not terms:
        notes.append(f"The {what} had no words to match (only numbers, symbols or emoji); it was left out.")
    if len(terms) > MAX_TERMS:
        notes.append(f"The {what} named {len(terms):,} ingredients; only the first {MAX_TERMS} were used.")
        terms = terms[:MAX_TERMS]
    return terms


def diet_names(diets) -> list[str]:
    """The diets argument (None, one name, or a list of names, as the chips send) -> names;
    any other shape, from a raw API call, refused naming the argument."""
    if diets is None or diets == "":
        return []
    if isinstance(diets, str):
        return [diets]
    wrong = f"The diets must be a list of diet names ({', '.join(DIETS)})"
    if not isinstance(diets, list):
        raise gr.Error(f"{wrong}, not {inputs.kind_of(diets)}.")
    if not all(isinstance(name, str) for name in diets):
        raise gr.Error(f"{wrong}; it held {inputs.kind_of(next(n for n in diets if not isinstance(n, str)))}.")
    return diets


def read_filters(without="", must_have="", diets=None) -> Filters:
    """The three filter inputs of a tab (any of them None or empty) -> Filters."""
    notes: list[str] = []
    without_terms = read_terms(without, "\u201cwithout\u201d list", notes)
    with_terms = read_terms(must_have, "\u201cwith\u201d list", notes)
    unknown, labels, diet_terms = [], [], []
    for name in dict.fromkeys(diet_names(diets)):
        if name in DIETS:
            labels.append(DIETS[name]["label"])
            diet_terms += DIETS[name]["without"]
        else:
            unknown.append(name)
    if unknown:
        notes.append(f"Unknown diet {_some(unknown, 5)}; the diets are {', '.join(DIETS)}.")
    # What a typed word names under other words ("without chicken": nor Cornish hens).
    named = [other for term in without_terms for other in ALSO.get(term, ())]
    every = list(dict.fromkeys(without_terms + named + diet_terms))
    return Filters(with_terms, every, notes, labels, without_terms)
