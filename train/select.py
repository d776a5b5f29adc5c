"""The choices a training run makes on val after the loop (which chose the epoch): the
recipe vector, query expansion (fitted through the training pairs), the re-ranker, and how
sure answers are (calibrated against every row, as the app's index will hold them).
Test rows are embedded here for the last stage, never chosen on.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch

from model import FeatureRecord, Retriever
from pipeline.embed import embed_source
from pipeline.sources import rerank_inputs

from .calibration import fit_confidence, pool_from_embeds
from .expansion import describe, fit_query_expansion
from .metrics import evaluate_embeddings
from .prepare import Prepared, RunPlace
from .rerank import report, train_reranker


@dataclass
class Selected:
    """What the save stage writes beside the model: the choices' figures and the test rows."""

    expansion: dict  # direction -> the setting chosen on val and its val figures
    rerank: dict | None  # the re-ranker's training report, None without one
    test_embeds: dict  # field -> (n, D) unit vectors of the test rows
    pool: object  # every row, for scoring the confidence on test (train/calibration.py)
    val: dict  # the chosen model's val figures (recipe vector chosen, no expansion)


def choose_recipe_vector(model: Retriever, val_embeds: dict, val_has_recipe: torch.Tensor) -> None:
    """The recipe vector: recipe text alone, or fused with the title, whichever gives the
    better mean val R@1 of image->recipe and recipe->image."""
    choice = {}
    for field in ("recipe", "fused"):
        m = evaluate_embeddings(val_embeds, val_has_recipe, recipe_field=field)
        choice[field] = (m["image_to_recipe"]["r1"] + m["recipe_to_image"]["r1"]) / 2
    model.fitted.recipe_vector = max(choice, key=choice.get)
    model.fitted.recipe_vector_val_r1 = choice


def calibration_pool(splits: dict, sources: dict, embeds: dict):
    """Every row of the collection (train, val, test), as the index built from it will hold them."""
    names = ("train", "val", "test")
    joined = {field: torch.cat([embeds[n][field] for n in names]) for field in ("image", "title", "recipe")}
    has_recipe = torch.cat([sources[n].has_recipe for n in names])
    titles = [r.title for n in names for r in splits[n]]
    return pool_from_embeds(joined, has_recipe, titles, [n for n in names for _ in splits[n]])


def select_on_val(run: Prepared, place: RunPlace, device: torch.device) -> Selected:
    """The trained model's choices on val, made in place on run.model (rank 0 only)."""
    model, sources = run.model.eval(), run.sources
    progress = place.progress
    val_embeds = embed_source(model, sources["val"], device)
    choose_recipe_vector(model, val_embeds, sources["val"].has_recipe)
    # Query expansion through the training pairs, each direction's setting chosen on val.
    train_embeds = embed_source(model, sources["train"], device)
    expansion = fit_query_expansion(
        model,
        train_embeds,
        sources["train"].has_recipe,
        val_embeds,
        sources["val"].has_recipe,
        recipe_field=model.fitted.recipe_vector,
    )
    print(f"query expansion chosen on val:\n{describe(expansion)}", file=sys.stderr)
    rerank = None
    if model.has_reranker:
        started = time.time()
        options = run.options
        inputs = rerank_inputs(model, run.splits, sources, options.finetune_top, place.cache_dir, progress)
        rerank = train_reranker(model, sources, inputs, device, options.rerank_epochs, options.seed, progress)
        rerank["seconds"] = round(time.time() - started, 1)
        report(rerank)
        del inputs
    # How the backbone features were made, so evaluation and index building can reuse the cache.
    model.fitted.features = FeatureRecord(run.options.finetune_top, run.options.views, run.options.live)
    test_embeds = embed_source(model, sources["test"], device)
    # How sure answers are, fitted on val against every row (the index the app will search).
    pool = calibration_pool(run.splits, sources, {"train": train_embeds, "val": val_embeds, "test": test_embeds})
    fit_confidence(model.cpu(), pool)  # the model stays on the CPU for saving (train/save.py)
    val = evaluate_embeddings(val_embeds, sources["val"].has_recipe, recipe_field=model.fitted.recipe_vector)
    return Selected(expansion, rerank, test_embeds, pool, val)
