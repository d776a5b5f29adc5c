"""Backbone features, extracted once and cached on disk.

With frozen backbones the heads see the same backbone output every epoch, so the
expensive part (EfficientNet over every photo, MiniLM over every text) runs once. The
cache key covers the backbone, its weights, the preprocessing and the data it read, so
changing any of them misses the cache instead of silently reusing stale features.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from model import Retriever
from model.preprocess import recipe_text, to_rgb

from .data import Recipe, fingerprint

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recipe-retrieval" / "features"


class PhotoDataset(Dataset):
    """Decodes and preprocesses photos in DataLoader workers while the backbone runs."""

    def __init__(self, recipes: list[Recipe], transform):
        self.recipes, self.transform = recipes, transform

    def __len__(self) -> int:
        return len(self.recipes)

    def __getitem__(self, index: int) -> torch.Tensor:
        with self.recipes[index].open_image() as image:
            return self.transform(to_rgb(image))


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cache_keys(model: Retriever, recipes: list[Recipe], extra: dict | None = None,
               data: str | None = None) -> dict[str, str]:
    """Keys of the image and text entries; `extra` (e.g. a views spec) goes into the image key.
    `data`: fingerprint(recipes), when the caller already has it (it stats every photo)."""
    c = model.config
    data = data or fingerprint(recipes)
    image = {k: getattr(c, k) for k in ("image_backbone", "image_weights", "image_size", "image_resize", "image_width",
                                        "image_mean", "image_std", "image_interpolation")}
    text = {k: getattr(c, k) for k in ("title_backbone", "recipe_backbone", "share_text_backbone",
                                       "title_max_tokens", "recipe_max_tokens")}
    image_parts = {"v": 1, "image": image, "data": data, **({"extra": extra} if extra else {})}
    return {"image": _key(image_parts), "text": _key({"v": 1, "text": text, "data": data})}


@torch.inference_mode()
def extract_image_features(model: Retriever, recipes: list[Recipe], batch_size: int = 64,
                           workers: int = 1, progress: bool = True) -> torch.Tensor:
    model.eval()
    loader = DataLoader(PhotoDataset(recipes, model.preprocess), batch_size=batch_size, num_workers=workers)
    chunks = [model.image_features(batch).cpu() for batch in tqdm(loader, desc="photo features", disable=not progress)]
    return torch.cat(chunks) if chunks else torch.zeros(0, model.image_encoder.feature_dim)


@torch.inference_mode()
def extract_text_features(model: Retriever, recipes: list[Recipe], batch_size: int = 64,
                          progress: bool = True) -> dict[str, torch.Tensor]:
    """title (N, H) for every row; recipe (N, 2H), zeros on title-only rows."""
    model.eval()
    titles = []
    for start in tqdm(range(0, len(recipes), 256), desc="title features", disable=not progress):
        titles.append(model.title_features([r.title for r in recipes[start:start + 256]]).cpu())
    full = [i for i, r in enumerate(recipes) if r.has_recipe]
    recipe = torch.zeros(len(recipes), 2 * model.recipe_encoder.feature_dim)
    # Longest texts first so each batch pads to a similar length: ~2x faster than source order.
    full.sort(key=lambda i: -sum(len(s) for s in recipes[i].instructions + recipes[i].ingredients))
    for start in tqdm(range(0, len(full), batch_size), desc="recipe features", disable=not progress):
        rows = full[start:start + batch_size]
        recipe[rows] = model.recipe_features([recipes[i].ingredients for i in rows],
                                             [recipes[i].instructions for i in rows]).cpu()
    empty = torch.zeros(0, model.title_encoder.feature_dim)
    return {"title": torch.cat(titles) if titles else empty, "recipe": recipe}


def cached_tensors(path: Path, compute) -> dict[str, torch.Tensor]:
    if path.is_file():
        try:
            return load_file(str(path))
        except Exception:  # a damaged cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    tensors = {name: t.contiguous() for name, t in compute().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)  # a killed run never leaves a half-written cache entry
    return tensors


def backbone_features(model: Retriever, recipes: list[Recipe], cache_dir: Path | None = DEFAULT_CACHE,
                      batch_size: int = 64, progress: bool = True,
                      parts: tuple[str, ...] = ("image", "text"), lexical: bool = True) -> dict[str, torch.Tensor]:
    """{"image": (N, C), "title": (N, H + L), "recipe": (N, 2H + L), "has_recipe": (N,) bool}, row-aligned
    with recipes: what the heads read (L: the model's lexical features, appended unless
    `lexical` is False).

    The cache holds the collection in id order, so any order or split of the same rows
    (training, evaluation, index building) hits the same entry. Only backbone features are
    cached: the lexical ones depend on the rows the model was fitted on, and take seconds."""
    canonical = sorted(recipes, key=lambda r: r.id)
    keys = cache_keys(model, canonical)
    image = lambda: {"image": extract_image_features(model, canonical, batch_size, progress=progress)}  # noqa: E731
    text = lambda: extract_text_features(model, canonical, batch_size, progress=progress)  # noqa: E731
    compute = {"image": image, "text": text}
    features = {}
    for part in parts:  # "image" (photos) and/or "text" (titles and recipes)
        if cache_dir is None:
            features.update(compute[part]())
        else:
            features.update(cached_tensors(Path(cache_dir) / f"{part}-{keys[part]}.safetensors", compute[part]))
    position = {r.id: i for i, r in enumerate(canonical)}
    rows = torch.tensor([position[r.id] for r in recipes], dtype=torch.long)
    features = {name: tensor[rows] for name, tensor in features.items()}
    features["has_recipe"] = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
    return with_lexical(model, features, recipes) if lexical and "text" in parts else features


def fit_lexical(model: Retriever, train_recipes: list[Recipe]) -> None:
    """Fit the model's lexical features to the training rows (titles of all, recipe texts of
    those with a recipe): never to val or test. About 15 s for the sample's 7.5k rows."""
    if not model.config.lexical_dims:
        return
    started = time.time()
    model.fit_lexical([r.title for r in train_recipes],
                      [recipe_text(r.ingredients, r.instructions) for r in train_recipes if r.has_recipe])
    sizes = model.config.lexical_vocabulary
    print(f"lexical features fitted on {len(train_recipes)} training rows: {sizes['title']} title terms, "
          f"{sizes['recipe']} recipe terms ({time.time() - started:.0f} s)", file=sys.stderr)


def with_lexical(model: Retriever, features: dict[str, torch.Tensor], recipes: list[Recipe]) -> dict[str, torch.Tensor]:
    """Backbone text features with the model's lexical features appended (model/lexical.py)."""
    if not model.config.lexical_dims:
        return features
    texts = {"title": [r.title for r in recipes],
             "recipe": [recipe_text(r.ingredients, r.instructions) for r in recipes]}
    with torch.no_grad():
        lexical = {kind: model.lexical_features(kind, texts[kind]).cpu() for kind in texts}
    return {**features, **{kind: torch.cat([features[kind], lexical[kind]], dim=1) for kind in texts}}
