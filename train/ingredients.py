"""Ingredient words as labels: the seeds' semantic regularisation.

A contrastive pair says only "this photo goes with this recipe". Which foods the recipe
lists is more signal from the same pair: a multi-label head predicts them from the
photo's and the recipe's embeddings, so dishes that share ingredients land near each
other even when they never meet in a batch.
"""

from __future__ import annotations

import re
from collections import Counter

import torch

from model.words import singular
from pipeline.records import Recipe

# Quantities, units, preparations and filler: words that name no food.
NOT_FOOD = set(
    """
a about add additional all and any as at bag baby bunch can cans chopped coarse coarsely cold cored crushed cube cubed
cubes cup cups cut dash diced divided dried drained each extra finely fine firm for fresh freshly from good grated
ground halved handful heaping hot in inch into is jar juiced kosher large lb lbs leaves lengthwise light lightly
long medium minced more or ounce ounces optional oz package packed peeled pieces pinch plus pound pounds quartered
room serving sifted size slice sliced slices small softened stick sticks taste tbsp teaspoon teaspoons temperature
thick thin thinly to torn trimmed tsp tablespoon tablespoons the very warm whole with without of on such such as
cut into inches cm g ml about more needed if preferably very well rinsed stemmed seeded pitted toasted room-temperature
removed crosswise melted frozen wedge wedges sprig sprigs stem stems flake flakes unsalted all-purpose extra-virgin
total sea heavy dry black white red green ripe raw store-bought homemade low-sodium reduced-sodium
""".split()
)


WORD = re.compile(r"[a-z][a-z-]+")


def ingredient_words(lines: list[str]) -> set[str]:
    words = set()
    for line in lines:
        line = re.sub(r"\(.*?\)", " ", line.lower())  # "(about 2 ounces)" is never the food
        words.update(singular(w) for w in WORD.findall(line) if w not in NOT_FOOD)
    return words


def build_vocabulary(recipes: list[Recipe], size: int = 300, min_count: int = 2) -> list[str]:
    """The `size` most frequent ingredient words over the recipes given (the training rows)."""
    counts = Counter(w for r in recipes if r.has_recipe for w in ingredient_words(r.ingredients))
    # Ties go by the word, not by first appearance: words come out of sets, whose order
    # follows Python's per-process string hash, so every process (every torchrun rank, and
    # a rerun) would otherwise order tied words, and so the label columns, its own way.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [w for w, c in ranked[:size] if c >= min_count]


def label_matrix(recipes: list[Recipe], vocabulary: list[str]) -> torch.Tensor:
    """(N, K) multi-hot float labels; all-zero rows for title-only recipes."""
    index = {w: i for i, w in enumerate(vocabulary)}
    labels = torch.zeros(len(recipes), len(vocabulary))
    for row, recipe in enumerate(recipes):
        for word in ingredient_words(recipe.ingredients) if recipe.has_recipe else ():
            if word in index:
                labels[row, index[word]] = 1.0
    return labels
