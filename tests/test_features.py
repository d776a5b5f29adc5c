"""The backbone feature cache (pipeline/features.py): keyed by the rows, not their order;
by photo bytes, not file times; by preprocessing."""

import shutil

import torch
from PIL import Image

import pipeline.features as features_module
from model import Retriever
from pipeline.features import FeatureCache
from pipeline.read import load_recipes
from tiny import tiny_config


def count_extractions(monkeypatch) -> list:
    calls = []
    for name in ("extract_views", "extract_text_features"):
        real = getattr(features_module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(features_module, name, counted)
    return calls


def test_cache_hits_for_any_order_and_misses_when_preprocessing_changes(
    kaggle_folder, text_backbone_dir, tmp_path, monkeypatch
):
    recipes = load_recipes(kaggle_folder, progress=False)
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    calls = count_extractions(monkeypatch)
    first = FeatureCache(tmp_path, recipes, progress=False)
    backwards = FeatureCache(tmp_path, recipes[::-1], progress=False)
    photos, text = first.photos(model), first.text(model)
    photos_back, text_back = backwards.photos(model), backwards.text(model)
    assert calls == ["extract_views", "extract_text_features"], "a reordered collection must hit the cache"
    assert torch.equal(photos["pooled"], photos_back["pooled"].flip(0))
    for name in ("title", "recipe"):
        assert torch.equal(text[name], text_back[name].flip(0))
    assert photos["pooled"].shape == (len(recipes), model.image_encoder.feature_dim)
    has_recipe = torch.tensor([r.has_recipe for r in recipes])
    assert text["recipe"][~has_recipe].abs().sum() == 0  # title-only rows carry no recipe feature
    with torch.no_grad():
        photo = recipes[3].open_image()
        assert torch.allclose(photos["pooled"][3], model.image_features(model.pixel_values([photo]))[0], atol=1e-5)

    wider = Retriever(tiny_config(text_backbone_dir, image_width=48)).eval()
    FeatureCache(tmp_path, recipes, progress=False).photos(wider)
    assert calls.count("extract_views") == 2, "a change of preprocessing must miss the cache"


def test_cache_follows_photo_bytes_not_file_times(kaggle_folder, text_backbone_dir, tmp_path, monkeypatch):
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    calls = count_extractions(monkeypatch)
    cache = tmp_path / "cache"
    FeatureCache(cache, load_recipes(kaggle_folder, progress=False), progress=False).photos(model)

    # A fresh copy (new paths, new modification times, same bytes) is the same collection.
    copy = shutil.copytree(kaggle_folder, tmp_path / "copy", copy_function=shutil.copy)
    recipes = load_recipes(copy, progress=False)
    FeatureCache(cache, recipes, progress=False).photos(model)
    assert len(calls) == 1, "re-copying the same photos must hit the cache"

    # One photo redrawn with another colour at the same size: the cached features are stale.
    photo = next(r for r in recipes if r.image_path)
    with Image.open(photo.image_path) as image:
        size = image.size
    Image.new("RGB", size, (10, 200, 200)).save(photo.image_path, "JPEG")
    FeatureCache(cache, load_recipes(copy, progress=False), progress=False).photos(model)
    assert len(calls) == 2, "a changed photo must miss the cache"
