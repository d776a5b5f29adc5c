"""The first stage of a training run: what the loop needs, made from a RunConfig (the
settings) and a RunPlace (where it reads and writes): the collection read and split, the
model built (its settings, and the state fitted on the training rows: dish classes,
ingredient words, lexical features) and the feature sources of each split, from the
cache or extracted now. The later stages: train/loop.py (fit), train/select.py (choices
on val), train/save.py (the model folder, test scores, the Hub).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from model import Retriever
from model.preprocess import recipe_text
from pipeline.features import DEFAULT_CACHE
from pipeline.read import load_recipes
from pipeline.sources import cached_sources, live_sources, rerank_inputs
from pipeline.splits import split_rows
from pipeline.world import World

from .loop import unfreeze_top
from .options import TrainOptions
from .row_targets import fit_row_state, row_labels
from .run_config import RunConfig


@dataclass(frozen=True)
class RunPlace:
    """Where a run reads and writes and how it reports: never part of what it trains (a
    variant of an experiment changes the RunConfig, never this)."""

    data: str  # a collection: folder or datasets Hub id (pipeline/read.py)
    out: Path  # the model folder to write
    cache_dir: Path | None = DEFAULT_CACHE  # None: extract without reading or writing the cache
    limit: int | None = None  # the first N usable rows only (smoke runs)
    progress: bool = True
    split: int = 0  # which train/val/test draw of the rows: 0 is the product's (pipeline/splits.py)


@dataclass
class Prepared:
    """Everything the later stages read: the settings, the rows, the model and its sources."""

    config: RunConfig
    splits: dict  # split name -> list[Recipe]
    model: Retriever
    sources: dict  # split name -> a feature source (pipeline/sources.py)
    trainable: list[str]  # the backbone tensors that fine-tune
    feature_seconds: dict = field(default_factory=dict)  # text and photo extraction (near 0 on a cache hit)
    started: float = 0.0  # when the run began (time.time())
    extracted: float = 0.0  # when its features were ready

    @property
    def options(self) -> TrainOptions:
        return self.config.train


def read_splits(place: RunPlace, progress: bool, world: World) -> dict:
    """The collection at place.data (its first place.limit rows), split; refused when a
    split holds too few rows to train on or choose with."""
    recipes = load_recipes(place.data, progress=progress)
    if place.limit:
        recipes = recipes[: place.limit]
    splits = split_rows(recipes, place.split)
    for name, rows in splits.items():
        if sum(r.has_recipe for r in rows) < 2 or len(rows) < 2:
            raise SystemExit(
                f"the {name} split of {place.data} has {len(rows)} rows "
                f"({sum(r.has_recipe for r in rows)} full recipes): too few to train and choose on val"
            )
    if world.is_main:
        print(
            " / ".join(f"{n}: {len(rows)} rows, {sum(r.has_recipe for r in rows)} full" for n, rows in splits.items()),
            file=sys.stderr,
        )
    return splits


def build_model(config: RunConfig, train_rows: list, world: World) -> Retriever:
    """The model to train, with the state fitted on the training rows (never val or test)."""
    options = config.train
    torch.manual_seed(options.seed)  # head initialisation (seeded before anything draws, as always)
    try:
        fitted = fit_row_state(options, train_rows)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    if fitted.dish_classes and world.is_main:
        background = float((row_labels(fitted, options, train_rows)[1] == 0).float().mean())
        print(
            f"{len(fitted.dish_classes) - 1} dish classes from the training titles; "
            f"{background:.0%} of training rows are background",
            file=sys.stderr,
        )
    try:
        model = Retriever(config.model, fitted)
    except (ValueError, OSError) as err:  # a bad config or backbone spec, weights not reachable: one line, no trace
        raise SystemExit(f"cannot build the model: {err}") from err
    fit_lexical(model, train_rows, report=world.is_main)
    return model


def fit_lexical(model: Retriever, train_recipes: list, report: bool = True) -> None:
    """Fit the model's lexical features to the training rows (titles of all, recipe texts of
    those with a recipe): never to val or test. About 15 s for the sample's 7.5k rows."""
    if not model.config.lexical_dims:
        return
    started = time.time()
    model.fit_lexical(
        [r.title for r in train_recipes],
        [recipe_text(r.ingredients, r.instructions) for r in train_recipes if r.has_recipe],
    )
    sizes = model.fitted.lexical_vocabulary
    if not report:
        return
    print(
        f"lexical features fitted on {len(train_recipes)} training rows: {sizes['title']} title terms, "
        f"{sizes['recipe']} recipe terms ({time.time() - started:.0f} s)",
        file=sys.stderr,
    )


def make_sources(model: Retriever, splits: dict, options: TrainOptions, cache_dir, progress: bool, world: World):
    """Feature sources of each split for the training mode, the unfrozen backbone tensors,
    and the seconds spent on text and on photo features (near zero on a cache hit)."""
    if options.live:
        return live_sources(model, splits), unfreeze_top(model, options.finetune_top), {}
    if options.finetune_top and not model.image_encoder.splittable:
        raise SystemExit(
            f"{model.config.image_backbone} cannot fine-tune on cached activations: add --finetune-top 0 "
            "(heads only, as the clip preset does) or --live to run it on every batch (a GPU helps)"
        )
    trainable = unfreeze_top(model, options.finetune_top, towers=("image",))
    sources, seconds = cached_sources(model, splits, options.views, options.finetune_top, cache_dir, progress, world)
    return sources, trainable, seconds


def prepare(config: RunConfig, place: RunPlace, world: World, device: torch.device) -> Prepared:
    """Rows, model and feature sources for the run `config` describes, at `place`."""
    started = time.time()
    progress = place.progress and world.is_main
    options = config.train
    if world.is_main:
        # Said even with --quiet: which world the run trains in decides its batches.
        print(f"world size {world.size}, global batch {options.batch_size * world.size}", file=sys.stderr)
    splits = read_splits(place, progress, world)
    model = build_model(config, splits["train"], world)
    # Under torchrun each rank extracts its share of the feature cache (pipeline/features.py).
    sources, trainable, seconds = make_sources(model, splits, options, place.cache_dir, progress, world)
    if trainable and world.is_main:
        print(f"fine-tuning {len(trainable)} backbone tensors on {device}", file=sys.stderr)
    if model.has_reranker:
        # Trained after the dual encoder (train/rerank.py): no gradient of it now, which DDP would wait for.
        model.reranker.requires_grad_(False)
        if world.size > 1 and place.cache_dir is not None:
            # Every rank extracts its share of the regions and lines entries now; rank 0 reads them later.
            rerank_inputs(model, splits, sources, options.finetune_top, place.cache_dir, progress, world, names=())
    return Prepared(config, splits, model, sources, trainable, seconds, started, time.time())
