"""A recipe as lines: its ingredient lines and its method's sentences, what the sequence
recipe encoders (model/recipe_encoders.py) read, one text-backbone vector per line.

The split is the one definition every path uses: the feature cache (pipeline/lines.py),
training, index building and Retriever.encode_recipe at serving time, so a recipe gets
the same lines, and so the same vector, wherever it is embedded.

RaggedLines holds a variable number of vectors per row without padding (how the cache
stores them); RecipeLines is one padded batch of them, with the counts that say which
positions are real, and what the recipe head reads beside them (title, lexical features).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import torch

# Bump when split_lines would split any recipe differently: it is part of the cache key.
SPLITTER_VERSION = 1
# A sentence ends at . ! or ? followed by white space and then a capital, a digit or an
# opening quote/bracket: "Add 1 tsp. salt" and "about 2 in. wide" stay whole (the next
# word is lower case), "Bake 10 min. Serve." splits in two.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_HAS_LETTER = re.compile(r"[^\W\d_]")


def split_sentences(instructions: list[str]) -> list[str]:
    """The method's sentences in order: each instruction (a paragraph or a numbered step)
    split at sentence ends; pieces with no letter ("1.", "--") dropped."""
    sentences = []
    for paragraph in instructions:
        for line in paragraph.splitlines():
            sentences += [s.strip() for s in _SENTENCE_END.split(line)]
    return [s for s in sentences if _HAS_LETTER.search(s)]


def split_lines(
    ingredients: list[str], instructions: list[str], max_ingredients: int, max_steps: int
) -> tuple[list[str], list[str]]:
    """(ingredient lines, method sentences) of one recipe, blank ones dropped, each list
    cut to its cap (the first lines kept: a recipe's main ingredients and first steps
    come first)."""
    lines = [line.strip() for line in ingredients if _HAS_LETTER.search(line)]
    return lines[:max_ingredients], split_sentences(instructions)[:max_steps]


@dataclass
class RaggedLines:
    """Rows of variable numbers of (H,) vectors: row i is flat[offsets[i] : offsets[i] + counts[i]].
    Selecting rows (`select`) keeps `flat` and indexes the offsets and counts, so a
    reordered or split collection shares one tensor."""

    flat: torch.Tensor  # (total lines, H)
    offsets: torch.Tensor  # (N,) int64
    counts: torch.Tensor  # (N,) int64

    @classmethod
    def from_counts(cls, flat: torch.Tensor, counts: torch.Tensor) -> "RaggedLines":
        """Rows laid out one after the other in `flat`, row i holding counts[i] vectors."""
        counts = counts.to(torch.int64)
        offsets = torch.cumsum(counts, 0) - counts
        if int(counts.sum()) != len(flat):
            raise ValueError(f"ragged lines: counts add up to {int(counts.sum())}, the flat tensor has {len(flat)}")
        return cls(flat, offsets, counts)

    def __len__(self) -> int:
        return len(self.counts)

    def select(self, rows: torch.Tensor) -> "RaggedLines":
        return RaggedLines(self.flat, self.offsets[rows], self.counts[rows])

    def compact(self) -> "RaggedLines":
        """The rows laid out one after the other in a flat of their own (only their lines:
        what a file stores, or a few rows gathered from a memory-mapped flat)."""
        spans = [torch.arange(o, o + c) for o, c in zip(self.offsets.tolist(), self.counts.tolist())]
        index = torch.cat(spans) if spans else torch.zeros(0, dtype=torch.int64)
        return RaggedLines.from_counts(self.flat[index], self.counts)

    def padded(self, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """((B, M, H) float32, zeros past each row's count; (B,) counts) of `rows` (all
        when None). M is the longest row's count and at least 1, so an all-empty batch
        still has a position for the encoders to read (and replace by their empty vector)."""
        picked = self if rows is None else self.select(rows)
        counts = picked.counts
        width = max(1, int(counts.max())) if len(counts) else 1
        position = torch.arange(width)
        real = position[None, :] < counts[:, None]  # (B, M)
        out = torch.zeros(len(counts), width, self.flat.shape[1], dtype=torch.float32)
        if real.any():
            index = (picked.offsets[:, None] + position[None, :])[real]
            out[real] = self.flat[index].float()
        return out, counts


@dataclass
class RecipeLines:
    """One padded batch of recipes for a sequence recipe encoder: per-line text-backbone
    vectors of the ingredient lines and the method's sentences, and what is merged with
    them before the recipe head: the title's backbone vector (B, H_title) and the recipe's
    lexical features (B, L)."""

    ingredients: torch.Tensor  # (B, M_i, H), zeros past ingredient_counts
    ingredient_counts: torch.Tensor  # (B,) int64, on the CPU (packing reads them there)
    steps: torch.Tensor  # (B, M_s, H)
    step_counts: torch.Tensor  # (B,)
    title: torch.Tensor  # (B, H_title); zeros when no title is known (a typed-in recipe)
    lexical: torch.Tensor  # (B, L); (B, 0) when the model has no lexical features

    def __len__(self) -> int:
        return len(self.ingredient_counts)

    def to(self, device: torch.device | str) -> "RecipeLines":
        """The tensors on `device`; the counts stay on the CPU, where packing needs them."""
        return replace(
            self,
            ingredients=self.ingredients.to(device),
            steps=self.steps.to(device),
            title=self.title.to(device),
            lexical=self.lexical.to(device),
        )


def padded_batch(
    ingredient_lines: RaggedLines,
    step_lines: RaggedLines,
    title: torch.Tensor,
    lexical: torch.Tensor,
    rows: torch.Tensor | None = None,
) -> RecipeLines:
    """A RecipeLines batch of `rows` (all when None) of the two ragged parts, on the CPU
    (move it with .to(device)); `title` and `lexical` are those rows' already."""
    ingredients, ingredient_counts = ingredient_lines.padded(rows)
    steps, step_counts = step_lines.padded(rows)
    return RecipeLines(ingredients, ingredient_counts, steps, step_counts, title.cpu(), lexical.cpu())
