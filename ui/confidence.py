"""How sure an answer is, and what a photo's dish looks like, in words a person can read:
the mappings fitted on val (model/confidence.py, train/calibration.py) applied to one
answer's scores and titles.

Each answer gets a dict (the API returns it with every result, under "answer"):
    confidence  {"first", "shown", "shown_k", "same_kind"}: probabilities, or None when the
                model has no fitted mapping for this kind of query
    looks_like  photos only: {"kind", "votes", "of", "sure", "closest_kinds"}
and sentences for the status line and the card.
"""

from __future__ import annotations

from collections import Counter

from model.confidence import CLOSEST, Confidence
from model.dish_kinds import class_index, dish_class

# Probability -> the word said before the figure; the first whose floor it reaches.
WORDS = ((0.75, "very likely"), (0.5, "likely"), (0.25, "possibly"), (0.1, "unlikely"), (0.0, "very unlikely"))
# What "right" means for each kind of query, as a person would put it.
RIGHT = {
    "image_to_recipe": ("the photo's own recipe", "the same kind of dish as the photo"),
    # Fitted on the collection's own titles typed as written (train/calibration.py): a name
    # typed otherwise scores lower and gets the lower figures, which it says.
    "title_to_recipe": ("the recipe of that name (as the collection writes it)", "the same kind of dish as that name"),
    "recipe_to_image": ("a photo of this very recipe", "a photo of the same kind of dish"),
}
NO_CONFIDENCE = "How sure: this model has no fitted estimate (refit it with python -m train.calibration)."


def in_words(p: float) -> str:
    """0.23 -> "possibly (23%)"."""
    word = next(word for floor, word in WORDS if p >= floor)
    return f"{word} ({p:.0%})"


class AnswerConfidence:
    """One model's mappings, ready for answers."""

    def __init__(self, confidence: Confidence | None):
        self.fitted = confidence
        self.kind_index = class_index(confidence.kinds) if confidence and confidence.kinds else {}

    def estimate(self, direction: str, scores: list[float], shown_k: int) -> dict | None:
        """{"first", "shown", "shown_k", "same_kind"} for an answer's scores (best first; the
        first two are read) of which `shown_k` are shown, or None."""
        fitted = self.fitted.directions.get(direction) if self.fitted else None
        if fitted is None or not scores:
            return None
        z = fitted.figure(scores)
        among = fitted.among(shown_k)
        shown_k, shown = among if among else (1, fitted.first)
        return {
            "first": round(fitted.first(z), 3),
            "shown": round(shown(z), 3),
            "shown_k": shown_k,
            "same_kind": round(fitted.same_kind(z), 3),
        }

    def kind(self, title: str) -> str | None:
        number = dish_class(title, self.kind_index) if self.kind_index else 0
        return self.fitted.kinds[number] if number else None

    def looks_like(self, titles: list[str]) -> dict | None:
        """The dish kind the closest results' titles vote for, and whether val trusts a vote
        this large: {"kind", "votes", "of", "sure", "closest_kinds"}; None without kinds."""
        if not self.kind_index or not titles:
            return None
        closest = titles[:CLOSEST]
        kinds = [self.kind(t) for t in closest]
        counts = Counter(k for k in kinds if k)
        first_seen = {k: i for i, k in reversed(list(enumerate(kinds))) if k}
        ranked = sorted(counts, key=lambda k: (-counts[k], first_seen[k]))
        least = self.fitted.looks_like.get("min_votes")
        top = ranked[0] if ranked else None
        return {
            "kind": top,
            "votes": counts[top] if top else 0,
            "of": len(closest),
            "sure": bool(top and least and counts[top] >= least),
            "closest_kinds": ranked[:3],
        }


def status_sentence(direction: str, estimate: dict | None) -> str:
    if estimate is None:
        return NO_CONFIDENCE
    own, same = RIGHT[direction]
    shown = f"among these {estimate['shown_k']}: {in_words(estimate['shown'])}; " if estimate["shown_k"] > 1 else ""
    return (
        f"How sure: the first result is {own}: {in_words(estimate['first'])}; {shown}"
        f"the first is {same}: {in_words(estimate['same_kind'])}."
    )


def looks_like_sentence(looks: dict | None) -> str:
    if not looks:
        return ""
    if looks["sure"]:
        return f"Looks like: {looks['kind']} ({looks['votes']} of the {looks['of']} closest)."
    if looks["closest_kinds"]:
        return "Not sure what dish this is; the closest kinds: " + ", ".join(looks["closest_kinds"]) + "."
    return "Not sure what dish this is."
