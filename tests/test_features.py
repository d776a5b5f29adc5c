import torch

import train.features as features_module
from model import Retriever
from tiny import tiny_config
from train.data import load_recipes
from train.features import backbone_features


def test_cache_hits_for_any_order_and_misses_when_preprocessing_changes(kaggle_folder, text_backbone_dir, tmp_path, monkeypatch):
    recipes = load_recipes(kaggle_folder, progress=False)
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    calls = []
    real = features_module.extract_image_features
    monkeypatch.setattr(features_module, "extract_image_features", lambda *a, **k: calls.append(1) or real(*a, **k))

    first = backbone_features(model, recipes, tmp_path, progress=False)
    backwards = backbone_features(model, recipes[::-1], tmp_path, progress=False)
    assert len(calls) == 1, "a reordered collection must hit the cache"
    for name in ("image", "title", "recipe", "has_recipe"):
        assert torch.equal(first[name], backwards[name].flip(0))
    assert first["image"].shape == (len(recipes), model.image_encoder.feature_dim)
    assert first["recipe"][~first["has_recipe"]].abs().sum() == 0  # title-only rows carry no recipe feature
    with torch.no_grad():
        photo = recipes[3].open_image()
        assert torch.allclose(first["image"][3], model.image_features(model.pixel_values([photo]))[0], atol=1e-5)

    wider = Retriever(tiny_config(text_backbone_dir, image_width=48)).eval()
    backbone_features(wider, recipes, tmp_path, progress=False)
    assert len(calls) == 2, "a change of preprocessing must miss the cache"


def test_cache_follows_photo_bytes_not_file_times(kaggle_folder, text_backbone_dir, tmp_path, monkeypatch):
    import shutil

    from PIL import Image

    model = Retriever(tiny_config(text_backbone_dir)).eval()
    calls = []
    real = features_module.extract_image_features
    monkeypatch.setattr(features_module, "extract_image_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache = tmp_path / "cache"
    backbone_features(model, load_recipes(kaggle_folder, progress=False), cache, progress=False, parts=("image",))

    # A fresh copy (new paths, new modification times, same bytes) is the same collection.
    copy = shutil.copytree(kaggle_folder, tmp_path / "copy", copy_function=shutil.copy)
    recipes = load_recipes(copy, progress=False)
    backbone_features(model, recipes, cache, progress=False, parts=("image",))
    assert len(calls) == 1, "re-copying the same photos must hit the cache"

    # One photo redrawn with another colour at the same size: the cached features are stale.
    photo = next(r for r in recipes if r.image_path)
    with Image.open(photo.image_path) as image:
        size = image.size
    Image.new("RGB", size, (10, 200, 200)).save(photo.image_path, "JPEG")
    backbone_features(model, load_recipes(copy, progress=False), cache, progress=False, parts=("image",))
    assert len(calls) == 2, "a changed photo must miss the cache"
