"""Stage 4 of the pipeline, the sources a training or embedding run reads: each gives,
for a batch of rows, what the heads read ("image", "title", "recipe" features).

CachedSource: backbone features from the cache (pipeline/features.py), with the lexical
features appended to the text ones; for a sequence recipe encoder, the recipe's cached
per-line features (pipeline/lines.py) padded per batch instead of its pooled ones.
Training draws one cached view per photo per step;
with `top` > 0 the image backbone's top blocks run on the cached trunk activations, so
they fine-tune at cached-feature speed.
rerank_inputs: what the region x ingredient re-ranker trains on (photo regions and
ingredient-line vectors of the training and val rows).
LiveSource: every backbone runs on every batch, with fresh augmentation in training, so
the unfrozen top blocks of every tower train (the fine-tune path, meant for a GPU).
"""

from __future__ import annotations

import time

import torch

from model import Retriever
from model.preprocess import recipe_text, to_rgb
from model.recipe_lines import RaggedLines, padded_batch

from .features import FeatureCache
from .photos import train_augmentation
from .records import Recipe
from .regions import tail_regions
from .splits import SPLITS, split_name
from .world import World


def with_lexical(model: Retriever, text: dict[str, torch.Tensor], recipes: list[Recipe]) -> dict[str, torch.Tensor]:
    """Backbone text features with the model's lexical features appended (model/lexical.py).
    Not cached: they depend on the rows the model was fitted on, and cost about 1 ms a row."""
    if not model.config.lexical_dims:
        return text
    texts = {
        "title": [r.title for r in recipes],
        "recipe": [recipe_text(r.ingredients, r.instructions) for r in recipes],
    }
    with torch.no_grad():
        lexical = {kind: model.lexical_features(kind, texts[kind]).cpu() for kind in texts}
    return {**text, **{kind: torch.cat([text[kind], lexical[kind]], dim=1) for kind in texts}}


def line_inputs(model: Retriever, cache: FeatureCache, text: dict[str, torch.Tensor]) -> dict | None:
    """What a sequence recipe encoder reads besides the heads' text features, row-aligned
    with the cache's rows: {"ingredients", "steps": RaggedLines, "title": the titles'
    backbone vectors, "lexical": the recipes' lexical features}, both cut from `text`
    (with_lexical's [backbone ; lexical] layout). None for a pooled model, which never
    pays for line features."""
    if not model.reads_lines:
        return None
    pooled = 2 * model.recipe_encoder.feature_dim
    return {
        **cache.lines(model),
        "title": text["title"][:, : model.title_encoder.feature_dim],
        "lexical": text["recipe"][:, pooled:],
    }


class CachedSource:
    """Rows `rows` of cached features: `photos` from FeatureCache.photos, `text` with the
    lexical features appended, `lines` from line_inputs (None: a pooled recipe encoder).
    `augmented`: training draws among every cached view of a photo; otherwise view 0, the
    plain crop, always."""

    def __init__(
        self,
        model: Retriever,
        photos: dict[str, torch.Tensor],
        text: dict[str, torch.Tensor],
        has_recipe: torch.Tensor,
        rows: torch.Tensor,
        top: int,
        augmented: bool,
        lines: dict | None = None,
    ):
        self.model, self.top = model, top
        name = "trunk" if top else "pooled"
        plain = photos[name][rows].unsqueeze(1)  # (n, 1, ...): view 0
        extra = photos.get(f"aug_{name}")
        # (n, V, ...): every view of the rows, view 0 first; evaluation sources keep view 0 only.
        self.images = torch.cat([plain, extra[rows]], 1) if augmented and extra is not None else plain
        self.text = {name: text[name][rows] for name in ("title", "recipe")}
        self.has_recipe = has_recipe[rows]
        self.lines = None
        if lines is not None:
            self.lines = {
                name: part.select(rows) if isinstance(part, RaggedLines) else part[rows] for name, part in lines.items()
            }

    def __len__(self) -> int:
        return len(self.has_recipe)

    @property
    def view_count(self) -> int:
        return self.images.shape[1]

    def batch(
        self, rows: torch.Tensor, device: torch.device, training: bool, views: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """`views`: the view of each row, drawn by the caller (the training loop draws an
        epoch's views from its own seeded generator, so every rank agrees on them). Without
        it, training draws from torch's stream; one view: nothing to draw (and no draw, so
        the dropout masks that follow stay as they were); evaluation reads view 0."""
        if views is not None:
            view = views
        elif training and self.view_count > 1:
            view = torch.randint(self.view_count, (len(rows),))
        else:
            view = torch.zeros(len(rows), dtype=torch.long)
        image = self.images[rows, view].to(device, torch.float32)
        if self.top:
            image = self.model.image_encoder.forward_tail(image, self.top)
        out = {"image": image, **{name: t[rows].to(device) for name, t in self.text.items()}}
        if self.lines is not None:
            lines = self.lines
            batch = padded_batch(
                lines["ingredients"], lines["steps"], lines["title"][rows], lines["lexical"][rows], rows
            )
            out["recipe"] = batch.to(device)
        return out


class LiveSource:
    def __init__(self, model: Retriever, recipes: list[Recipe]):
        self.model, self.recipes = model, recipes
        self.has_recipe = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
        self.augment = train_augmentation(model)

    def __len__(self) -> int:
        return len(self.recipes)

    def batch(
        self, rows: torch.Tensor, device: torch.device, training: bool, views: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """`views` is for cached sources; a live one augments each photo afresh as it reads it."""
        picked = [self.recipes[i] for i in rows.tolist()]
        transform = self.augment if training else self.model.preprocess
        pixels = []
        for recipe in picked:
            with recipe.open_image() as image:
                pixels.append(transform(to_rgb(image)))
        model = self.model
        return {
            "image": model.image_features(torch.stack(pixels).to(device)),
            "title": model.title_inputs([r.title for r in picked]),
            "recipe": model.recipe_inputs(
                [r.ingredients for r in picked], [r.instructions for r in picked], [r.title for r in picked]
            ),
        }


def live_sources(model: Retriever, splits: dict[str, list[Recipe]]) -> dict[str, LiveSource]:
    return {name: LiveSource(model, rows) for name, rows in splits.items()}


def cached_sources(
    model: Retriever,
    splits: dict[str, list[Recipe]],
    views: int,
    top: int,
    cache_dir,
    progress: bool = True,
    world: World = World(),
) -> tuple[dict[str, CachedSource], dict[str, float]]:
    """A CachedSource per split over one cache entry of all the rows (the training rows'
    augmented views among them), and the seconds spent on text and on photo features.
    `world`: under torchrun, every rank extracts its share of a missing entry."""
    ordered = [r for name in SPLITS for r in splits[name]]
    cache = FeatureCache(cache_dir, ordered, progress, world)
    started = time.time()
    text = with_lexical(model, cache.text(model), ordered)
    lines = line_inputs(model, cache, text)
    seconds = {"text_features": time.time() - started}
    photos = cache.photos(model, views, top, augmented={r.id for r in splits["train"]})
    seconds["photo_features"] = time.time() - started - seconds["text_features"]
    has_recipe = torch.tensor([r.has_recipe for r in ordered], dtype=torch.bool)
    bounds = torch.cumsum(torch.tensor([0] + [len(splits[name]) for name in SPLITS]), 0)
    sources = {
        name: CachedSource(
            model,
            photos,
            text,
            has_recipe,
            torch.arange(bounds[i], bounds[i + 1]),
            top,
            augmented=name == "train",
            lines=lines,
        )
        for i, name in enumerate(SPLITS)
    }
    return sources, seconds


def evaluation_source(model: Retriever, recipes: list[Recipe], cache_dir, progress: bool = True) -> CachedSource | None:
    """Plain-crop features of `recipes` from the cache, for a model trained on cached
    features (frozen backbones, or a photo tail fine-tuned on cached trunk activations):
    its frozen parts are the pretrained ones, so the cache serves them. Reads the entry
    training wrote when it is there (same rows and views), else makes a one-view entry.
    None for models trained --live with unfrozen blocks, or not trained by `python -m train`."""
    record = model.fitted.features
    if record is None or (record.live and record.finetune_top):
        return None
    cache = FeatureCache(cache_dir, recipes, progress)
    training_rows = {r.id for r in recipes if split_name(r) == "train"}
    trained_entry = cache.views_path(model, record.views, record.finetune_top, training_rows)
    if trained_entry is not None and trained_entry.is_file():
        photos = cache.photos(model, record.views, record.finetune_top, training_rows)
    else:
        photos = cache.photos(model, 1, record.finetune_top)
    text = with_lexical(model, cache.text(model), recipes)
    has_recipe = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
    rows = torch.arange(len(recipes))
    lines = line_inputs(model, cache, text)
    return CachedSource(model, photos, text, has_recipe, rows, record.finetune_top, augmented=False, lines=lines)


def rerank_inputs(
    model: Retriever,
    splits: dict[str, list[Recipe]],
    sources: dict[str, CachedSource],
    top: int,
    cache_dir,
    progress: bool = True,
    world: World = World(),
    names: tuple[str, ...] = ("train", "val"),
) -> dict[str, dict]:
    """For each split of `names`: {"regions": (n, R, C) float16 view-0 photo regions,
    "ingredients": RaggedLines of the rows' ingredient-line vectors}, row-aligned with
    `sources` (cached_sources' rows). A pretrained tail's regions come from the regions
    cache entry; a fine-tuned one's from the cached trunk through the tuned blocks.
    Under torchrun every rank must call it (each extracts its share of a missing entry)."""
    ordered = [r for name in SPLITS for r in splits[name]]
    cache = FeatureCache(cache_dir, ordered, progress, world)
    lines = cache.lines(model)["ingredients"]
    regions = None if top else cache.regions(model)
    bounds = torch.cumsum(torch.tensor([0] + [len(splits[name]) for name in SPLITS]), 0)
    out = {}
    for number, name in enumerate(SPLITS):
        if name not in names:
            continue
        rows = torch.arange(bounds[number], bounds[number + 1])
        if regions is None:
            region = tail_regions(model, sources[name].images[:, 0], top, progress)
        else:
            region = regions[rows]
        out[name] = {"regions": region, "ingredients": lines.select(rows)}
    return out
