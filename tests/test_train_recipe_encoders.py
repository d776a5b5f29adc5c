"""`python -m train --recipe-encoder lstm|hierarchical` on a generated collection: the
model folder it writes loads and embeds, from the feature cache and from text alike."""

import json

import pytest
import torch

from model import load_pretrained
from pipeline.embed import embed_collection
from pipeline.read import load_recipes
from tiny import train_tiny


@pytest.mark.parametrize("kind", ["lstm", "hierarchical"])
def test_training_a_sequence_encoder_writes_a_model_that_embeds(tmp_path, text_backbone_dir, kind, monkeypatch):
    # On torch throughout, so the cached embeddings match a typed recipe's to 1e-4 (the
    # engine's default int8 text agrees with torch to cosine >= 0.95: tests/test_engine.py).
    monkeypatch.setenv("RECIPE_ENGINE", "torch")
    out = train_tiny(tmp_path, text_backbone_dir, "--recipe-encoder", kind, "--finetune-top", "0", "--lr", "3e-3")
    assert list((tmp_path / "cache").glob("lines-*.safetensors")), "the line features are cached"
    model = load_pretrained(out)
    assert model.config.recipe_encoder == kind and model.reads_lines
    assert any(k.startswith("recipe_sequence.") for k in model.state_dict())
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    assert all(torch.isfinite(torch.tensor(e["train_loss"])) for e in epochs)

    recipes = load_recipes(tmp_path / "data", progress=False)
    embeds, has_recipe = embed_collection(model, recipes, tmp_path / "cache", progress=False)
    assert torch.allclose(embeds["recipe"][has_recipe].norm(dim=-1), torch.ones(int(has_recipe.sum())), atol=1e-5)
    full = [r for r in recipes if r.has_recipe]
    with torch.no_grad():
        typed = model.encode_recipe(
            [r.ingredients for r in full], [r.instructions for r in full], [r.title for r in full]
        )
    assert torch.allclose(embeds["recipe"][has_recipe], typed, atol=1e-4)


def test_an_unknown_recipe_encoder_is_refused_by_the_parser(tmp_path, text_backbone_dir):
    with pytest.raises(SystemExit):
        train_tiny(tmp_path, text_backbone_dir, "--recipe-encoder", "gru")


def test_live_training_reads_lines_computed_on_every_batch(tmp_path, text_backbone_dir):
    """--live runs the text backbone on each batch's lines (LiveSource), no lines entry."""
    out = train_tiny(tmp_path, text_backbone_dir, "--recipe-encoder", "hierarchical", "--live", "--finetune-top", "1")
    assert not list((tmp_path / "cache").glob("lines-*.safetensors"))
    model = load_pretrained(out)
    assert model.config.recipe_encoder == "hierarchical" and not model.fitted.features.frozen_backbones
    recipes = [r for r in load_recipes(tmp_path / "data", progress=False) if r.has_recipe][:3]
    embeds, _ = embed_collection(model, recipes, None, progress=False)
    with torch.no_grad():
        typed = model.encode_recipe(
            [r.ingredients for r in recipes], [r.instructions for r in recipes], [r.title for r in recipes]
        )
    assert torch.allclose(embeds["recipe"], typed, atol=1e-4)
