"""The last stage of a training run: the model folder (weights, config, the choices made
on val), its test figures (reported, never chosen on), the run's metrics and curves, and,
with --push-to-hub, its index built and published beside it."""

from __future__ import annotations

import dataclasses
import sys
import time

import torch

from embeddings.building.build import build_index
from embeddings.building.publish import publish
from model import save_pretrained
from model.atomic import atomic_write_json

from .calibration import describe as describe_confidence
from .calibration import score as score_confidence
from .expansion import score_test
from .metrics import format_table
from .plots import plot_curves
from .prepare import Prepared, RunPlace
from .select import Selected


def save_run(run: Prepared, result: dict, selected: Selected, place: RunPlace, device: torch.device) -> None:
    """Write the model folder at place.out and its test figures; `result`: train_model's."""
    model = run.model
    save_pretrained(model, place.out)
    confidence = score_confidence(model, selected.pool)
    atomic_write_json(place.out / "confidence_test.json", confidence)
    print(
        f"how sure answers are (fitted on val), on the test split:\n{describe_confidence(confidence)}", file=sys.stderr
    )
    model.to(device)
    test = score_test(model, selected.test_embeds, run.sources["test"].has_recipe)
    finished = time.time()
    metrics = {
        "data": str(place.data),
        "options": dataclasses.asdict(run.options),
        "preset": run.model.config.preset,
        "best_epoch": result["best_epoch"],
        "best_val_score": result["best_score"],
        "val": selected.val,  # the best epoch with the recipe vector chosen, no query expansion
        "selection": "best epoch by mean val R@1 over four directions; test never used for a choice",
        "recipe_vector": model.fitted.recipe_vector,
        "query_expansion": selected.expansion,
        "rerank": selected.rerank,
        "seconds": {
            "features": run.extracted - run.started,
            **run.feature_seconds,
            "training": finished - run.extracted,
            "total": finished - run.started,
        },
        "epochs": result["history"],
    }
    atomic_write_json(place.out / "metrics.json", metrics)
    atomic_write_json(place.out / "eval_test.json", test["expanded"])
    atomic_write_json(place.out / "eval_test_plain.json", test["plain"])  # no expansion
    plot_curves(result["history"], place.out / "curves.png", result["best_epoch"])
    (place.out / "checkpoint.pt").unlink(missing_ok=True)  # the model folder is the result now
    print(
        f"best epoch {result['best_epoch']} (val score {result['best_score']:.3f}); recipe vector: "
        f"{model.fitted.recipe_vector}; {finished - run.started:.0f} s in all"
    )
    print("test split (reported, never used to choose), with query expansion:\n" + format_table(test["expanded"]))


def publish_run(place: RunPlace, repo: str) -> None:
    """Train -> index -> Hub in one go (--push-to-hub): the index sits beside the model folder."""
    index_dir = place.out.parent / f"{place.out.name}-index"
    build_index(place.out, place.data, index_dir, progress=place.progress)
    published = publish(place.out, index_dir, repo)
    print(f"published {published['repo']} at {published['commit']}\n{published['preload']}")
