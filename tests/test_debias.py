"""Ingredient debiasing of photo embeddings (Retriever.debias_image) and saving the new
losses' parts with the model."""

import dataclasses

import pytest
import torch
from PIL import Image

from model import FittedState, Retriever, load_pretrained, save_pretrained
from tiny import tiny_config

VOCAB = ["rice", "egg", "salt", "tomato"]


@pytest.fixture()
def debiased(text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir, lexical_dims=0, debias=True), FittedState(ingredient_vocab=VOCAB))
    with torch.no_grad():
        model.ingredient_vectors.normal_()  # as if trained: the zero start would hide everything
    return model.eval()


def photo_features(model, rows=5):
    return torch.randn(rows, model.image_encoder.feature_dim, generator=torch.Generator().manual_seed(1))


def test_the_added_term_is_exactly_zero_when_the_head_predicts_no_ingredient(debiased):
    features = photo_features(debiased)
    plain = debiased.embed_image_plain(features)
    with torch.no_grad():
        assert not torch.allclose(debiased.embed_image_features(features), plain)  # P = sigmoid(.) > 0 moves it
        debiased.ingredient_head.weight.zero_()
        debiased.ingredient_head.bias.fill_(-1e4)  # P = 0
        added = torch.sigmoid(debiased.ingredient_head(plain)) @ debiased.ingredient_vectors
        assert torch.equal(added, torch.zeros_like(added))
        assert torch.allclose(debiased.embed_image_features(features), plain, atol=1e-7)


def test_a_photo_gives_its_searched_vector_and_the_one_its_ingredient_head_reads(debiased):
    # The app explains a photo search with the ingredient head, which was trained on the
    # vector before debiasing; the searched vector is the debiased one.
    photos = [Image.new("RGB", (40, 30), (200, 30, 30)), Image.new("RGB", (30, 40), (20, 160, 60))]
    parts = debiased.encode_photo_parts(photos)
    with torch.no_grad():
        features = debiased.image_features(debiased.pixel_values(photos))
        assert torch.allclose(parts.vectors, debiased.encode_photos(photos), atol=1e-6)
        assert torch.allclose(parts.plain, debiased.embed_image_plain(features), atol=1e-6)
    assert not torch.allclose(parts.vectors, parts.plain, atol=1e-3) and parts.regions is None


def test_a_fresh_debiasing_model_starts_as_the_plain_one(text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir, lexical_dims=0, debias=True), FittedState(ingredient_vocab=VOCAB))
    features = photo_features(model)
    assert torch.count_nonzero(model.ingredient_vectors) == 0
    assert torch.allclose(model.eval().embed_image_features(features), model.embed_image_plain(features), atol=1e-7)


def test_debiasing_without_an_ingredient_vocabulary_is_refused(text_backbone_dir):
    with pytest.raises(ValueError, match="ingredient"):
        Retriever(tiny_config(text_backbone_dir, lexical_dims=0, debias=True))


def scores(model):
    pixels = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        return (
            model.encode_image(pixels),
            model.encode_title(["rice cake", "egg soup", "salt"]),
            model.encode_recipe([["1 cup rice"], ["2 eggs"], []], [["boil"], ["whisk"], ["bake"]]),
        )


@pytest.mark.parametrize("option", ["debias", "dish_classifier", "dish_classes_only"])
def test_save_then_load_scores_identically(option, text_backbone_dir, tmp_path):
    torch.manual_seed(0)
    fitted = FittedState(ingredient_vocab=VOCAB, dish_classes=["background", "cake", "soup"])
    config = tiny_config(text_backbone_dir, lexical_dims=0, debias=option == "debias")
    fitted = dataclasses.replace(fitted, dish_classifier=option == "dish_classifier")
    model = Retriever(config, fitted).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))  # every new tensor away from its start
    save_pretrained(model, tmp_path)
    loaded = load_pretrained(tmp_path)  # strict: a missing or extra tensor fails here
    assert loaded.config.debias == (option == "debias")
    assert loaded.fitted.dish_classes == ["background", "cake", "soup"]
    assert hasattr(loaded, "dish_head") == (option == "dish_classifier")
    for before, after in zip(scores(model), scores(loaded)):
        assert torch.allclose(before, after, atol=1e-6)
