"""Cached augmented views and the trunk/tail split that fine-tunes top blocks on a CPU."""

import pytest
import torch

from model import FeatureRecord, FittedState, Retriever
from pipeline.features import FeatureCache
from pipeline.photos import plain_pixels
from pipeline.read import load_recipes
from pipeline.sources import CachedSource
from tiny import tiny_config


def view_features(model, recipes, views, top, cache_dir, augmented=None, progress=False):
    # torch's passes: these tests compare views bit for bit across batchings, which torch's
    # CPU kernels keep and ONNX Runtime's need not (tests/test_engine.py checks the engine).
    return FeatureCache(cache_dir, recipes, progress, precision=None).photos(model, views, top, augmented)


@torch.no_grad()
def extract_image_features(model, recipes):
    """The plain crop of each photo through the whole backbone, as the app encodes a photo."""
    return model.image_features(torch.stack([plain_pixels(model, r) for r in recipes]))


@pytest.mark.parametrize("top", [0, 1, 2, 3])
def test_tail_of_trunk_is_the_whole_backbone(text_backbone_dir, top):
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        whole = model.image_encoder(pixels)
        split = model.image_encoder.forward_tail(model.image_encoder.forward_trunk(pixels, top), top)
    assert torch.allclose(whole, split, atol=1e-6)


def test_batchnorm_keeps_its_statistics_in_training_mode(text_backbone_dir):
    model = Retriever(tiny_config(text_backbone_dir)).train()
    norms = [m for m in model.image_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    model.image_encoder(torch.randn(4, 3, 32, 32))
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms))


def test_views_are_reproducible_and_view_zero_is_the_plain_photo(kaggle_folder, text_backbone_dir, tmp_path):
    recipes = load_recipes(kaggle_folder, progress=False)
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    train = {r.id for r in recipes[: len(recipes) // 2]}
    first = view_features(model, recipes, views=3, top=2, cache_dir=None, augmented=train, progress=False)
    again = view_features(model, recipes[::-1], views=3, top=2, cache_dir=tmp_path, augmented=train, progress=False)
    assert first["pooled"].shape == (len(recipes), model.image_encoder.feature_dim)
    assert first["aug_pooled"].shape == (len(recipes), 2, model.image_encoder.feature_dim)
    assert first["trunk"].dtype == torch.float16 and first["aug_trunk"].shape[:2] == (len(recipes), 2)
    for name in first:
        assert torch.equal(first[name], again[name].flip(0)), f"{name}: a view is drawn from (photo id, view) alone"
    plain = extract_image_features(model, recipes)
    assert torch.allclose(first["pooled"], plain, atol=1e-5), "view 0 is the plain crop"
    half = len(recipes) // 2
    assert not torch.allclose(first["aug_pooled"][:half, 0], plain[:half], atol=1e-3), "other views are augmented"
    assert first["aug_pooled"][half:].abs().sum() == 0, "rows outside the training set get no augmented views"


def test_cached_views_source_draws_views_in_training_and_view_zero_in_evaluation(kaggle_folder, text_backbone_dir):
    recipes = load_recipes(kaggle_folder, progress=False)
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    views = view_features(model, recipes, views=4, top=1, cache_dir=None, progress=False)
    text = {"title": torch.randn(len(recipes), 32), "recipe": torch.randn(len(recipes), 64)}
    has_recipe = torch.tensor([r.has_recipe for r in recipes])
    source = CachedSource(model, views, text, has_recipe, torch.arange(len(recipes)), top=1, augmented=True)
    rows = torch.arange(len(recipes))
    with torch.no_grad():
        evaluation = source.batch(rows, torch.device("cpu"), training=False)["image"]
        torch.manual_seed(0)
        training = source.batch(rows, torch.device("cpu"), training=True)["image"]
    # fp16 activations through the tail: close to, not bit-equal with, the float32 pooling
    assert torch.allclose(evaluation, views["pooled"], atol=2e-2)
    assert not torch.allclose(training, evaluation, atol=1e-3)


def test_a_fine_tuned_tail_never_stores_its_features_where_heads_only_training_reads(
    kaggle_folder, text_backbone_dir, tmp_path
):
    # Evaluating a model whose top blocks were fine-tuned caches its trunk under the
    # pretrained backbone's key; its tail's output must not be served later as the
    # pretrained backbone's pooled features to a frozen-heads training.
    recipes = load_recipes(kaggle_folder, progress=False)
    # What `python -m train --finetune-top 2` records:
    tuned = Retriever(
        tiny_config(text_backbone_dir), FittedState(features=FeatureRecord(finetune_top=2, views=1))
    ).eval()
    with torch.no_grad():
        for p in tuned.image_encoder.units()[-1].parameters():
            p.add_(0.5)  # the tail moved away from the pretrained weights
    trunk_only = view_features(tuned, recipes, views=1, top=2, cache_dir=tmp_path, progress=False)
    assert "trunk" in trunk_only and "pooled" not in trunk_only

    fresh = Retriever(tiny_config(text_backbone_dir)).eval()
    served = view_features(fresh, recipes, views=1, top=0, cache_dir=tmp_path, progress=False)
    expected = extract_image_features(fresh, recipes)
    assert torch.allclose(served["pooled"], expected, atol=1e-5)
    with pytest.raises(ValueError, match="fine-tuned"):
        view_features(tuned, recipes, views=1, top=0, cache_dir=None, progress=False)


def test_one_view_source_draws_nothing_from_the_random_stream(kaggle_folder, text_backbone_dir):
    """Frozen-heads training (one view) must leave torch's random stream to the dropout
    masks, as the heads-only source did before views existed."""
    recipes = load_recipes(kaggle_folder, progress=False)
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    views = view_features(model, recipes, views=1, top=0, cache_dir=None)
    text = {"title": torch.randn(len(recipes), 32), "recipe": torch.randn(len(recipes), 64)}
    source = CachedSource(
        model,
        views,
        text,
        torch.ones(len(recipes), dtype=torch.bool),
        torch.arange(len(recipes)),
        top=0,
        augmented=True,
    )
    torch.manual_seed(0)
    batch = source.batch(torch.arange(4), torch.device("cpu"), training=True)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after) and torch.equal(batch["image"], views["pooled"][:4])
