"""The per-line text features of the sequence recipe encoders (pipeline/lines.py): the
ragged cache entry is keyed and reused, a pooled model never makes one, the cached path
embeds a recipe as Retriever.encode_recipe does, and two ranks make the entry one makes."""

from __future__ import annotations

import torch
from ranks import one_then_two_ranks
from safetensors.torch import load_file
from test_recipe_encoders import tiny_sequence_model

import pipeline.features as features_module
from model import FeatureRecord, Retriever
from pipeline.embed import embed_collection
from pipeline.features import FeatureCache
from pipeline.read import load_recipes
from pipeline.sources import cached_sources
from pipeline.splits import split_rows
from pipeline.world import World
from tiny import make_kaggle_folder, tiny_config


def count_line_extractions(monkeypatch) -> list:
    calls = []
    real = features_module.extract_line_features

    def counted(*args, **kwargs):
        calls.append("lines")
        return real(*args, **kwargs)

    monkeypatch.setattr(features_module, "extract_line_features", counted)
    return calls


def test_the_lines_entry_is_reused_and_keyed_by_rows_and_settings(
    kaggle_folder, text_backbone_dir, tmp_path, monkeypatch
):
    recipes = load_recipes(kaggle_folder, progress=False)
    model = tiny_sequence_model(text_backbone_dir, "lstm")
    calls = count_line_extractions(monkeypatch)
    # On torch (precision None), so the cached lines can be compared with a live torch pass
    # to float16's rounding; the engine's own agreement with torch is tests/test_engine.py's.
    lines = FeatureCache(tmp_path, recipes, progress=False, precision=None).lines(model)
    backwards = FeatureCache(tmp_path, recipes[::-1], progress=False, precision=None).lines(model)
    assert calls == ["lines"], "the same rows in another order must hit the entry"
    assert list(tmp_path.glob("lines-*.safetensors"))
    for part in ("ingredients", "steps"):
        first, again = lines[part].padded(), backwards[part].padded(torch.arange(len(recipes) - 1, -1, -1))
        assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    # Row 5's lines are its own, as the model computes them now (rounded to float16 as cached).
    recipe = recipes[5]
    assert recipe.has_recipe
    with torch.no_grad():
        live = model.recipe_lines([recipe.ingredients], [recipe.instructions])
    for part, now in zip(("ingredients", "steps"), live):
        cached, count = lines[part].padded(torch.tensor([5]))
        assert count.tolist() == now.counts.tolist() and count.item() > 0
        assert torch.allclose(cached[0, : count.item()], now.flat, atol=2e-3)
    title_only = [i for i, r in enumerate(recipes) if not r.has_recipe]
    assert lines["ingredients"].counts[title_only].sum() == 0 and lines["steps"].counts[title_only].sum() == 0

    FeatureCache(tmp_path, recipes[1:], progress=False, precision=None).lines(model)
    assert calls == ["lines"] * 2, "other rows must miss the entry"
    capped = tiny_sequence_model(text_backbone_dir, "lstm", recipe_max_steps=2)
    FeatureCache(tmp_path, recipes, progress=False, precision=None).lines(capped)
    assert calls == ["lines"] * 3, "another cap must miss the entry"
    hierarchical = tiny_sequence_model(text_backbone_dir, "hierarchical")
    FeatureCache(tmp_path, recipes, progress=False, precision=None).lines(hierarchical)
    assert calls == ["lines"] * 3, "the lines do not depend on the encoder that reads them"


def test_a_pooled_model_never_extracts_lines(kaggle_folder, text_backbone_dir, tmp_path, monkeypatch):
    recipes = load_recipes(kaggle_folder, progress=False)
    calls = count_line_extractions(monkeypatch)
    torch.manual_seed(0)
    pooled = Retriever(tiny_config(text_backbone_dir)).eval()
    sources, _ = cached_sources(pooled, split_rows(recipes), 1, 0, tmp_path, progress=False)
    assert calls == [] and not list(tmp_path.glob("lines-*"))
    assert sources["train"].lines is None


def test_cached_training_and_embedding_paths_match_encode_recipe(
    kaggle_folder, text_backbone_dir, tmp_path, monkeypatch
):
    """The same recipe embeds alike from the cache (training's CachedSource, evaluation and
    index building's embed_collection) and from its text (the app's encode_recipe)."""
    # Every path on torch, so they agree to 1e-4: the cache's default engine runs text at int8,
    # whose agreement with torch (cosine >= 0.95) tests/test_engine.py checks.
    monkeypatch.setenv("RECIPE_ENGINE", "torch")
    recipes = load_recipes(kaggle_folder, progress=False)
    has_recipe = torch.tensor([r.has_recipe for r in recipes])
    for kind in ("lstm", "hierarchical"):
        model = tiny_sequence_model(text_backbone_dir, kind)
        model.fit_lexical([r.title for r in recipes], [" ".join(r.ingredients) for r in recipes if r.has_recipe])
        model.fitted.features = FeatureRecord(finetune_top=0, views=1, live=False)  # as python -m train records
        with torch.no_grad():
            direct = model.encode_recipe(
                [r.ingredients for r in recipes], [r.instructions for r in recipes], [r.title for r in recipes]
            )
        cached, cached_has = embed_collection(model, recipes, tmp_path, progress=False)
        assert torch.equal(cached_has, has_recipe)
        assert torch.allclose(cached["recipe"][has_recipe], direct[has_recipe], atol=1e-4), kind
        assert cached["recipe"][~has_recipe].abs().sum() == 0, "title-only rows have no recipe vector"
        live, _ = embed_collection(model, recipes, None, progress=False)  # no cache: every backbone runs
        assert torch.allclose(live["recipe"], cached["recipe"], atol=1e-4), kind

        splits = split_rows(recipes)
        source = cached_sources(model, splits, 1, 0, tmp_path, progress=False)[0]["val"]
        rows = torch.arange(len(source))
        with torch.no_grad():
            from_source = model.embed_recipe_features(source.batch(rows, model.device, training=False)["recipe"])
        val = splits["val"]
        with torch.no_grad():
            expected = model.encode_recipe(
                [r.ingredients for r in val], [r.instructions for r in val], [r.title for r in val]
            )
        assert torch.allclose(from_source, expected, atol=1e-4), kind


def fill_lines(cache, text_dir, data, world: World) -> None:
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_dir, recipe_encoder="lstm", recipe_sequence_dim=8)).eval()
    FeatureCache(cache, load_recipes(data, progress=False), progress=False, world=world).lines(model)


def test_two_ranks_make_the_lines_entry_one_process_makes(tmp_path, text_backbone_dir):
    # 78 rows with a recipe (two photos unusable): 4 ingredient lines and 3 sentences each,
    # 546 lines in 3 batches of LINE_BATCH, so each rank makes some.
    data = make_kaggle_folder(tmp_path / "data", n=100, title_only=20)
    one_then_two_ranks(tmp_path, fill_lines, text_backbone_dir, data)
    entries = sorted(path.name for path in (tmp_path / "one").glob("*.safetensors"))
    assert len(entries) == 1 and entries[0].startswith("lines-")
    # The engine folder holds the exported backbone graphs (model/engine.py), not shards.
    left = sorted(p.name for p in (tmp_path / "two").iterdir() if p.name != "engine")
    assert left == entries, "shards removed"
    one, two = load_file(str(tmp_path / "one" / entries[0])), load_file(str(tmp_path / "two" / entries[0]))
    assert one.keys() == two.keys() == {"ingredient_lines", "ingredient_counts", "step_lines", "step_counts"}
    for key in one:
        assert one[key].numpy().tobytes() == two[key].numpy().tobytes(), key
    assert one["ingredient_lines"].dtype == torch.float16 and len(one["ingredient_lines"]) == 4 * 78


def test_a_line_reading_model_never_runs_the_pooled_recipe_pass(
    kaggle_folder, text_backbone_dir, tmp_path, monkeypatch
):
    recipes = load_recipes(kaggle_folder, progress=False)
    model = tiny_sequence_model(text_backbone_dir, "lstm")
    pooled_passes = []
    real = model.recipe_features
    monkeypatch.setattr(model, "recipe_features", lambda *args: pooled_passes.append(1) or real(*args))
    text = FeatureCache(tmp_path, recipes, progress=False).text(model)
    assert pooled_passes == [], "its recipes are read from the lines entry"
    assert text["title"].abs().sum() > 0 and text["recipe"].abs().sum() == 0
    torch.manual_seed(0)
    pooled = Retriever(tiny_config(text_backbone_dir)).eval()
    cache = FeatureCache(tmp_path, recipes, progress=False)
    assert cache.text_path(pooled) != cache.text_path(model), "a pooled model must not read the zeros"
    own = pooled.recipe_features
    monkeypatch.setattr(pooled, "recipe_features", lambda *args: pooled_passes.append(1) or own(*args))
    assert cache.text(pooled)["recipe"].abs().sum() > 0 and pooled_passes
