"""Train heads on cached backbone features under a variant of the defaults, in process:
the shared engine of the ablation and split-noise benchmarks (seconds per variant once
the features are cached)."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import torch

from model import FittedState, Retriever, preset
from pipeline.embed import embed_source
from pipeline.features import DEFAULT_CACHE, FeatureCache
from pipeline.read import load_recipes
from pipeline.sources import CachedSource, line_inputs, with_lexical
from pipeline.splits import SPLITS, split_of
from train.loop import TrainOptions, train_model, unfreeze_top
from train.metrics import evaluate_embeddings
from train.prepare import fit_lexical
from train.row_targets import fit_row_state, row_labels

# The ablations vary one choice of the frozen-heads pipeline these results were measured
# on (one plain view, no fine-tuning, no ingredient loss, 30 epochs), whatever the defaults.
FROZEN_HEADS = TrainOptions(epochs=30, views=1, finetune_top=0, ingredient_weight=0.0)
# ...and the pooled recipe encoder those tables' baseline row was measured with, whatever the
# preset's (a row that reads lines says so in its own config).
LAB_CONFIG = {"recipe_encoder": "pooled"}


def frozen_model(
    preset_name: str = "default", config: dict | None = None, seed: int = 0, fitted: FittedState | None = None
) -> Retriever:
    """A fresh retriever whose backbones stay frozen: only the heads (and temperature) train;
    `seed` draws the heads' initial weights; `fitted`: vocabularies fitted on training rows."""
    torch.manual_seed(seed)
    model = Retriever(dataclasses.replace(preset(preset_name), **{**LAB_CONFIG, **(config or {})}), fitted)
    unfreeze_top(model, 0)
    return model


class HeadsLab:
    """The rows of a collection (the first `limit` usable ones, or all), a train/val/test
    draw of them, and their backbone features, kept in memory per backbone setting so
    every variant after the first costs only its head training."""

    def __init__(
        self,
        data: str,
        cache_dir: Path | None = DEFAULT_CACHE,
        work: Path = Path("artifacts/lab"),
        split_salt: str = "",
        limit: int | None = None,
    ):
        self.recipes = load_recipes(data, progress=False)[:limit]
        self.resplit(split_salt)
        self.work = work
        # One cache view of the rows in collection order: a resplit only changes which rows
        # each split reads (CachedSource's `rows`), never the features or the cache entry.
        self.cache = FeatureCache(cache_dir, self.recipes, progress=False)
        self.has_recipe = torch.tensor([r.has_recipe for r in self.recipes], dtype=torch.bool)
        self._position = {r.id: i for i, r in enumerate(self.recipes)}
        self._features: dict[tuple, tuple[dict, dict]] = {}
        self._lexical: dict[tuple, tuple] = {}  # the last split's fitted lexical encoders (lexical())
        self._lexical_text: dict = {}

    def resplit(self, salt: str) -> None:
        """Draw the train/val/test split with this salt ("" = the product's split): the
        split of `salt + id`, the same hash the product applies to the bare id."""
        self.splits = {s: [r for r in self.recipes if split_of(salt + r.id) == s] for s in SPLITS}

    def backbone_features(self, model: Retriever) -> tuple[dict, dict]:
        """(text, photos): the rows' backbone features for this model's backbones, from the
        feature cache (extracted on a miss), in collection order. Memoised by the cache
        entries' paths, which name the backbone settings and the rows: variants that only
        change the heads share one load."""
        key = (self.cache.text_path(model), self.cache.views_path(model, 1, 0, None))
        if None in key:  # no cache folder: nothing names the features, so no memo either
            return self.cache.text(model), self.cache.photos(model)
        if key not in self._features:
            self._features[key] = (self.cache.text(model), self.cache.photos(model))
        return self._features[key]

    def sources(self, model: Retriever) -> dict[str, CachedSource]:
        """Cached features of every split for this model's backbones, with its lexical
        features fitted to this split's training rows (never to val or test)."""
        text, photos = self.backbone_features(model)
        text = self.lexical(model, text)
        lines = line_inputs(model, self.cache, text)  # None unless the recipe encoder reads lines
        # Frozen heads read the plain crop's pooled features (view 0), no trunk: top = 0.
        return {
            s: CachedSource(model, photos, text, self.has_recipe, self.rows(s), top=0, augmented=False, lines=lines)
            for s in SPLITS
        }

    def lexical(self, model: Retriever, text: dict) -> dict:
        """Fit the model's lexical features to this split's training rows and append them to
        `text`. The fit (a minute on the sample) and the transform depend only on the rows
        and the lexical settings, not on the variant, so a lab fits them once per split and
        gives every later variant a copy of the same fitted encoders and features."""
        if not model.config.lexical_dims:
            return text
        settings = (model.config.lexical_dims, model.config.lexical_max_terms)
        # The text features' cache entry names their backbones; none (no cache): no memo.
        source = self.cache.text_path(model)
        key = (settings, tuple(r.id for r in self.splits["train"]), str(source))
        if source is None or key not in self._lexical:
            fit_lexical(model, self.splits["train"])
            self._lexical = {key: (copy.deepcopy(model.lexical), model.fitted.lexical_vocabulary)}  # one split held
            self._lexical_text = with_lexical(model, text, self.recipes)
            return self._lexical_text
        encoders, vocabulary = self._lexical[key]
        model.lexical = copy.deepcopy(encoders)
        model.fitted.lexical_vocabulary = dict(vocabulary)
        return self._lexical_text

    def rows(self, split: str) -> torch.Tensor:
        """Positions of a split's rows in the collection order the features are in."""
        return torch.tensor([self._position[r.id] for r in self.splits[split]], dtype=torch.long)

    def train(
        self, name: str, preset_name: str = "default", config: dict | None = None, options: dict | None = None
    ) -> tuple[Retriever, dict, dict, float]:
        """One variant trained, its best val epoch loaded: (model, sources, train_model's
        result, head-training seconds). Vocabularies and labels (ingredients, dish classes)
        come from this split's training rows, as `python -m train` fits them
        (train/row_targets.py)."""
        train_options = dataclasses.replace(FROZEN_HEADS, **(options or {}))
        fitted = fit_row_state(train_options, self.splits["train"])
        if train_options.debias:
            config = {**(config or {}), "debias": True}
        model = frozen_model(preset_name, config, fitted=fitted)
        labels, dishes = row_labels(model.fitted, train_options, self.splits["train"])
        sources = self.sources(model)
        start = time.perf_counter()
        result = train_model(
            model,
            sources["train"],
            sources["val"],
            train_options,
            self.work / name,
            torch.device("cpu"),
            progress=False,
            labels=labels,
            dish_labels=dishes,
        )
        seconds = time.perf_counter() - start
        (self.work / name / "checkpoint.pt").unlink(missing_ok=True)
        model.eval()
        return model, sources, result, seconds

    def run(
        self, name: str, preset_name: str = "default", config: dict | None = None, options: dict | None = None
    ) -> dict:
        """Train one variant; choose its epoch and recipe vector on val; score val and test."""
        model, sources, result, seconds = self.train(name, preset_name, config, options)
        out = {
            "name": name,
            "config": config or {},
            "options": options or {},
            "preset": preset_name,
            "best_epoch": result["best_epoch"],
            "head_training_seconds": seconds,
            # val R@1 per epoch and direction (recipe vector, as the loop scores), for other selection rules
            "val_r1_per_epoch": {
                d: [h["val"][d]["r1"] for h in result["history"]] for d in result["history"][0]["val"]
            },
        }
        val = embed_source(model, sources["val"], torch.device("cpu"))
        test = embed_source(model, sources["test"], torch.device("cpu"))
        out.update(score(val, sources["val"].has_recipe, test, sources["test"].has_recipe))
        model.fitted.recipe_vector = out["recipe_vector"]  # what a re-ranker trained on top reads
        self.last_model, self.last_sources = model, sources
        return out

    def rerank(self, model: Retriever, sources: dict) -> dict:
        """The region x ingredient re-ranker (train/rerank.py) trained on top of a variant
        trained by run() with config rerank = K: image->recipe R@1 of the dual encoder and of
        its re-ranked top K, on val (which chose the scorer's epoch) and on test."""
        from train.rerank import PairRows, train_reranker, val_r1

        regions, lines = self.cache.regions(model), self.cache.lines(model)["ingredients"]
        inputs = {s: {"regions": regions[self.rows(s)], "ingredients": lines.select(self.rows(s))} for s in SPLITS}
        start = time.perf_counter()
        result = train_reranker(model, sources, inputs, torch.device("cpu"), progress=False)
        seconds = time.perf_counter() - start
        test = PairRows(model, sources["test"], inputs["test"], torch.device("cpu"))
        return {
            **{k: v for k, v in result.items() if k != "epochs"},
            "epochs": result["epochs"],
            "training_seconds": seconds,
            "test_image_to_recipe_r1_dual": val_r1(model, test, torch.device("cpu"), rerank=False),
            "test_image_to_recipe_r1_reranked": val_r1(model, test, torch.device("cpu")),
        }

    def run_ensemble(self, name: str, seeds: tuple[int, ...], options: dict | None = None) -> dict:
        """Heads trained with different seeds over the same frozen features, used together:
        each member's unit vectors concatenated and scaled by 1/sqrt(M), so a cosine is the
        mean of the members' cosines. Members choose their epochs on val; the ensemble's
        recipe vector is chosen on val like any variant's."""
        import torch.nn.functional as F

        members, seconds = [], 0.0
        for seed in seeds:
            model = frozen_model(seed=seed)
            sources = self.sources(model)
            start = time.perf_counter()
            train_model(
                model,
                sources["train"],
                sources["val"],
                dataclasses.replace(FROZEN_HEADS, **{**(options or {}), "seed": seed}),
                self.work / f"{name}_{seed}",
                torch.device("cpu"),
                progress=False,
            )
            seconds += time.perf_counter() - start
            (self.work / f"{name}_{seed}" / "checkpoint.pt").unlink(missing_ok=True)
            model.eval()
            members.append({s: embed_source(model, sources[s], torch.device("cpu")) for s in ("val", "test")})
        joined = {
            s: {f: F.normalize(torch.cat([m[s][f] for m in members], dim=1), dim=-1) for f in members[0][s]}
            for s in ("val", "test")
        }
        out = {
            "name": name,
            "config": {},
            "options": {"ensemble_seeds": list(seeds)},
            "preset": "default",
            "best_epoch": "per member",
            "head_training_seconds": seconds,
        }
        out.update(score(joined["val"], sources["val"].has_recipe, joined["test"], sources["test"].has_recipe))
        return out

    def trajectory(self, name: str, monitor: str, config: dict | None = None, options: dict | None = None) -> list:
        """The same training as run() (same seeds, so the same weights every epoch), but
        scored every epoch on `monitor` ("test") for all its epochs: a diagnostic of how much
        choosing the epoch on that split would flatter it. Never used to choose anything."""
        model = frozen_model(config=config)
        train_options = dataclasses.replace(FROZEN_HEADS, **(options or {}))
        train_options = dataclasses.replace(train_options, patience=train_options.epochs)
        sources = self.sources(model)
        result = train_model(
            model,
            sources["train"],
            sources[monitor],
            train_options,
            self.work / name,
            torch.device("cpu"),
            progress=False,
        )
        (self.work / name / "checkpoint.pt").unlink(missing_ok=True)
        return result["history"]


def score(val: dict, val_has_recipe: torch.Tensor, test: dict, test_has_recipe: torch.Tensor) -> dict:
    """The ablation protocol over embeddings of val and test (model/protocol.py's bags): the
    recipe vector (recipe or fused) is chosen on val; test is scored with it, never used to choose."""
    choice = {f: evaluate_embeddings(val, val_has_recipe, recipe_field=f) for f in ("recipe", "fused")}
    field = max(choice, key=lambda f: choice[f]["image_to_recipe"]["r1"] + choice[f]["recipe_to_image"]["r1"])
    return {
        "recipe_vector": field,
        "val": choice[field],
        "test": evaluate_embeddings(test, test_has_recipe, recipe_field=field),
        "test_by_recipe_vector": {
            f: evaluate_embeddings(test, test_has_recipe, recipe_field=f)["image_to_recipe"] for f in choice
        },
    }
