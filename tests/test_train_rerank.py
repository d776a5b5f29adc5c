"""`python -m train --rerank K` on a generated collection: the re-ranker trains after the
dual encoder, its val figures go to metrics.json, the model keeps it, and `embeddings
search` with a photo uses it. The regions cache entry is keyed and reused."""

import dataclasses
import json

import pytest
import torch

import embeddings.serving.rerank as rerank_module
import pipeline.features as features
from embeddings.building.cli import main as embeddings_main
from model import load_pretrained, save_pretrained
from pipeline.features import FeatureCache
from pipeline.read import load_recipes
from tiny import train_tiny
from train.cli import build_parser
from train.flags import run_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, text_backbone_dir):
    root = tmp_path_factory.mktemp("rerank")
    out = train_tiny(root, text_backbone_dir, "--rerank", "3", "--finetune-top", "0", "--views", "1")
    return root, out


def test_training_writes_a_model_with_its_re_ranker_and_both_val_figures(trained):
    root, out = trained
    model = load_pretrained(out)
    assert model.config.rerank == 3 and model.has_reranker
    assert any(name.startswith("reranker.") for name in model.state_dict())
    rerank = json.loads((out / "metrics.json").read_text())["rerank"]
    assert rerank["k"] == 3
    for key in ("val_image_to_recipe_r1_dual", "val_image_to_recipe_r1_reranked"):
        assert 0.0 <= rerank[key] <= 1.0
    assert all(torch.isfinite(torch.tensor(e["train_loss"])) for e in rerank["epochs"])
    # A scorer that lost on val is saved switched off (alpha 0), one that won keeps its alpha.
    assert rerank["wins_on_val"] == (rerank["alpha"] != 0.0) == model.reranks
    assert rerank["val_image_to_recipe_r1_reranked"] >= rerank["val_image_to_recipe_r1_dual"]
    assert len(list((root / "cache").glob("regions-*.safetensors"))) == 1


def test_the_regions_entry_is_keyed_and_reused(trained, monkeypatch):
    root, out = trained
    model = load_pretrained(out)
    recipes = load_recipes(root / "data", progress=False)
    cache = FeatureCache(root / "cache", recipes, progress=False)
    (entry,) = (root / "cache").glob("regions-*.safetensors")
    assert cache.regions_path(model) == entry
    made = entry.stat().st_mtime_ns

    def refuse(*args, **kwargs):
        raise AssertionError("the cached regions entry should have been read")

    monkeypatch.setattr(features, "extract_regions", refuse)
    regions = cache.regions(model)
    assert regions.dtype == torch.float16 and regions.shape[:2] == (len(recipes), 1)  # test_efficientnet: 1x1 map
    assert entry.stat().st_mtime_ns == made
    # Other preprocessing is another key.
    other = dataclasses.replace(model.config, image_size=40)
    assert cache.regions_path(type("M", (), {"config": other})()) != entry
    # The entry holds what the backbone gives for view 0 (reversed order: still row-aligned).
    back = FeatureCache(root / "cache", recipes[::-1], progress=False).regions(model)
    assert torch.equal(back, regions.flip(0))


def test_embeddings_search_with_a_photo_uses_the_re_ranker(trained, monkeypatch, capsys):
    root, trained_out = trained
    # Switched on whatever val chose for this tiny run (alpha 0 would switch it off).
    model = load_pretrained(trained_out)
    with torch.no_grad():
        model.reranker.alpha.fill_(1.0)
    out = root / "model-reranking"
    save_pretrained(model, out)
    index = root / "index"
    assert (
        embeddings_main(["build", "--model", str(out), "--data", str(root / "data"), "--out", str(index), "--quiet"])
        == 0
    )
    calls = []
    original = rerank_module.PhotoReranker.rerank

    def spy(self, hits, regions):
        calls.append((len(hits), tuple(regions.shape)))
        return original(self, hits, regions)

    monkeypatch.setattr(rerank_module.PhotoReranker, "rerank", spy)
    photo = next((root / "data" / "Food Images" / "Food Images").glob("dish-0012-*.jpg"))
    capsys.readouterr()
    assert embeddings_main(["search", "--index", str(index), "--image", str(photo), "-k", "2"]) == 0
    shown = capsys.readouterr().out
    assert "re-ranked by photo regions x ingredients" in shown
    assert calls and calls[0][0] == 3, "the top K = 3 were re-scored though k = 2 were asked for"
    # A title query never re-ranks.
    assert embeddings_main(["search", "--index", str(index), "--title", "spicy soup", "-k", "2"]) == 0
    assert len(calls) == 1


def test_a_switched_off_re_ranker_is_never_used_by_search(trained, tmp_path):
    root, trained_out = trained
    model = load_pretrained(trained_out)
    with torch.no_grad():
        model.reranker.alpha.fill_(0.0)
    save_pretrained(model, tmp_path / "off")
    loaded = load_pretrained(tmp_path / "off")
    assert loaded.has_reranker and not loaded.reranks
    with pytest.raises(ValueError, match="does not re-rank"):
        rerank_module.PhotoReranker(None, loaded)


def test_a_fine_tuned_tail_trains_on_regions_from_its_trunk(tmp_path, text_backbone_dir):
    out = train_tiny(tmp_path, text_backbone_dir, "--rerank", "2", "--finetune-top", "1", "--views", "1")
    assert not list((tmp_path / "cache").glob("regions-*.safetensors")), (
        "tuned regions never sit under a pretrained key"
    )
    assert load_pretrained(out).config.rerank == 2


def test_the_hf_icma_design_sets_the_hierarchical_encoder_and_rerank_20():
    parser = build_parser()
    config = run_config(parser, parser.parse_args(["--data", "d", "--out", "o", "--preset", "hf-icma"]))
    assert (config.model.recipe_encoder, config.model.rerank, config.train.loss) == ("hierarchical", 20, "infonce")


def test_rerank_with_live_is_refused(tmp_path, text_backbone_dir):
    with pytest.raises(SystemExit):
        train_tiny(tmp_path, text_backbone_dir, "--rerank", "3", "--live")
