"""Ingredient words as auxiliary labels (the seeds' semantic regularisation)."""

import json

import torch
from safetensors.torch import load_file

from model import FittedState, Retriever
from pipeline.records import Recipe
from tiny import tiny_config, train_tiny
from train.ingredients import build_vocabulary, ingredient_words, label_matrix
from train.loop import batch_loss


def recipe(i, ingredients):
    return Recipe(id=f"r{i}", title="dish", ingredients=ingredients, instructions=["cook it"] if ingredients else [])


def test_words_name_foods_not_quantities_or_preparation():
    words = ingredient_words(
        [
            "2 cups finely chopped fresh tomatoes (about 3 ounces)",
            "1 tablespoon olive oil",
            "Kosher salt",
            "3 cherries, pitted",
        ]
    )
    assert words == {"tomato", "olive", "oil", "salt", "cherry"}


def test_tied_words_keep_one_order_in_every_process():
    """Words come out of sets (their order follows the per-process string hash): ties go
    alphabetically, or each torchrun rank would give the label columns its own order."""
    foods = ["zucchini", "apple", "mango", "kale", "leek", "bean", "fig", "date", "pear", "plum", "lime", "corn"]
    recipes = [recipe(0, ["rice", *foods]), recipe(1, ["rice", *reversed(foods)]), recipe(2, ["rice"])]
    assert build_vocabulary(recipes, size=20, min_count=2) == ["rice", *sorted(foods)]


def test_vocabulary_counts_training_recipes_and_labels_are_multi_hot():
    recipes = [
        recipe(0, ["1 cup rice", "salt"]),
        recipe(1, ["2 cups rice", "1 egg"]),
        recipe(2, ["rice", "egg"]),
        recipe(3, []),
    ]
    vocabulary = build_vocabulary(recipes, size=10, min_count=2)
    assert vocabulary == ["rice", "egg"]  # by count; salt appears once
    labels = label_matrix(recipes, vocabulary)
    assert labels.tolist() == [[1, 0], [1, 1], [1, 1], [0, 0]]  # title-only row: no labels


def test_ingredient_loss_adds_a_term_that_trains_its_head(text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(
        tiny_config(text_backbone_dir), FittedState(ingredient_vocab=["rice", "egg", "salt"])
    ).eval()  # no dropout: two calls compare
    features = {
        "image": torch.randn(6, model.image_encoder.feature_dim),  # what each head reads
        "title": torch.randn(6, model.title_head[0].in_features),
        "recipe": torch.randn(6, model.recipe_head[0].in_features),
    }
    has_recipe = torch.tensor([True, True, True, True, False, False])
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=torch.float)
    plain, _ = batch_loss(model, features, has_recipe)
    weighted, terms = batch_loss(model, features, has_recipe, labels=labels, ingredient_weight=0.5)
    assert torch.isclose(weighted, plain + 0.5 * terms["ingredients"], atol=1e-5)
    weighted.backward()
    assert model.ingredient_head.weight.grad.abs().sum() > 0


def test_cli_trains_with_the_ingredient_head_and_saves_its_vocabulary(tmp_path, text_backbone_dir):
    out = train_tiny(tmp_path, text_backbone_dir, "--ingredient-weight", "0.5")
    vocabulary = json.loads((out / "config.json").read_text())["fitted"]["ingredient_vocab"]
    assert vocabulary and all(isinstance(w, str) for w in vocabulary)
    assert load_file(str(out / "model.safetensors"))["ingredient_head.weight"].shape[0] == len(vocabulary)
