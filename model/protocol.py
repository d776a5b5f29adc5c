"""The four retrieval directions and the evaluation protocol's sizes, in one place.

The field's protocol (im2recipe, AdaMine, H-T): B bags of N held-out pairs, every
candidate of a bag ranked against each query, MedR and R@K averaged over bags. On the
Epicurious sample the test split holds about 550 full recipes, so the recipe directions
use bags of 500 and the title directions (titles exist on every row) bags of 1,000.
train/metrics.py implements it; training, evaluation, query expansion, the model card
and the benchmarks all read these values from here.
"""

from __future__ import annotations

# direction -> (query modality, candidate modality). Recipe vectors exist only on rows
# with a recipe, so the recipe directions use only those rows.
DIRECTIONS = {
    "image_to_recipe": ("image", "recipe"),
    "recipe_to_image": ("recipe", "image"),
    "title_to_image": ("title", "image"),
    "image_to_title": ("image", "title"),
}
POOL = 1000  # pairs per bag, title directions
RECIPE_POOL = 500  # pairs per bag, recipe directions
BAGS = 10
