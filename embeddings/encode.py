"""Batched encoding of recipes with a Retriever: photos, titles, recipe texts -> (n, D)
float32 unit vectors, with a progress bar each.

A model trained on cached features (what `python -m train` does unless --live) keeps the
pretrained weights below its trained parts, whose outputs training already cached on
disk; for such a model a full build reads that cache and runs only the trained parts.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from model import Retriever
from model.preprocess import to_rgb
from train.data import Recipe
from train.views import cached_evaluation_source

IMAGE_BATCH = 32
TEXT_BATCH = 64
RECIPE_BATCH = 16  # recipe texts run to 2 x 256 tokens: smaller batches, less padding


def _batched(
    items: list, batch_size: int, encode: Callable[[list], torch.Tensor], dim: int, desc: str, progress: bool,
    order: list[int] | None = None,
) -> np.ndarray:
    """Run `encode` over `items` in batches (visiting them in `order`, e.g. by length so a
    batch pads to similar lengths) and return rows in the original order."""
    order = list(range(len(items))) if order is None else order
    out = np.zeros((len(items), dim), dtype=np.float32)
    with tqdm(total=len(items), desc=desc, unit="row", disable=not progress) as bar, torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = encode([items[i] for i in rows]).float().cpu().numpy()
            bar.update(len(rows))
    return out


def encode_photos(model: Retriever, recipes: list[Recipe], batch_size: int = IMAGE_BATCH, progress: bool = True) -> np.ndarray:
    # Decoding + resizing a photo costs about a third of the backbone's time on a CPU:
    # threads prepare the next batch's pixels while the model runs on this one.
    def pixels(recipe: Recipe) -> torch.Tensor:
        with recipe.open_image() as photo:
            return model.preprocess(to_rgb(photo))

    pool = ThreadPoolExecutor(max_workers=2)
    try:
        def encode(batch: list[Recipe]) -> torch.Tensor:
            return model.encode_image(torch.stack(list(pool.map(pixels, batch))))

        return _batched(recipes, batch_size, encode, model.config.embed_dim, "photos", progress)
    finally:
        pool.shutdown()


def encode_titles(model: Retriever, recipes: list[Recipe], batch_size: int = TEXT_BATCH, progress: bool = True) -> np.ndarray:
    order = sorted(range(len(recipes)), key=lambda i: len(recipes[i].title))
    return _batched(
        recipes, batch_size, lambda batch: model.encode_title([r.title for r in batch]),
        model.config.embed_dim, "titles", progress, order,
    )


def encode_recipe_texts(model: Retriever, recipes: list[Recipe], batch_size: int = RECIPE_BATCH, progress: bool = True) -> np.ndarray:
    """Only pass rows that have a recipe; title-only rows get no recipe vector."""
    order = sorted(range(len(recipes)), key=lambda i: sum(map(len, recipes[i].ingredients + recipes[i].instructions)))
    return _batched(
        recipes, batch_size,
        lambda batch: model.encode_recipe([r.ingredients for r in batch], [r.instructions for r in batch]),
        model.config.embed_dim, "recipes", progress, order,
    )


def encode_rows(model: Retriever, recipes: list[Recipe], progress: bool = True, feature_cache=None) -> dict[str, np.ndarray]:
    """{"image", "title": (n, D) for every row, "recipe": (n, D), zeros on rows without one}."""
    source = cached_evaluation_source(model, recipes, feature_cache, progress) if feature_cache is not None else None
    if source is not None:
        return _heads_over_cached_features(model, source)
    vectors = {"image": encode_photos(model, recipes, progress=progress), "title": encode_titles(model, recipes, progress=progress),
               "recipe": np.zeros((len(recipes), model.config.embed_dim), dtype=np.float32)}
    with_recipe = [i for i, r in enumerate(recipes) if r.has_recipe]
    if with_recipe:
        vectors["recipe"][with_recipe] = encode_recipe_texts(model, [recipes[i] for i in with_recipe], progress=progress)
    return vectors


def _heads_over_cached_features(model: Retriever, source) -> dict[str, np.ndarray]:
    """A model trained on cached features: its frozen backbone parts are the pretrained ones,
    whose outputs the feature cache holds, so only the trained parts run (seconds, not minutes)."""
    from train.loop import embed_features

    embedded = embed_features(model, source, torch.device("cpu"))
    out = {name: embedded[name].numpy().astype(np.float32) for name in ("image", "title", "recipe")}
    out["recipe"][~source.has_recipe.numpy()] = 0.0
    return out
