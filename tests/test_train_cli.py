"""`python -m train` end to end on a generated collection with a tiny random model."""

import json

import pytest
import torch
from safetensors.torch import load_file

from model import FeatureRecord, load_pretrained
from tiny import make_kaggle_folder, tiny_config
from train.cli import build_parser
from train.cli import main as train_main
from train.evaluate import main as evaluate_main
from train.loop import TrainOptions


@pytest.fixture(scope="module")
def setup(tmp_path_factory, text_backbone_dir):
    root = tmp_path_factory.mktemp("train")
    data = make_kaggle_folder(root / "data", n=80, title_only=20, corrupt=1, missing=1)
    config = root / "tiny.json"
    config.write_text(tiny_config(text_backbone_dir).to_json())
    return root, data, config


def run(root, data, config, out, *extra):
    argv = [
        "--data",
        str(data),
        "--out",
        str(root / out),
        "--config",
        str(config),
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--cache-dir",
        str(root / "cache"),
        "--quiet",
        *extra,
    ]
    assert train_main(argv) == 0
    return root / out


def evaluate(root, out, data, *flags):
    """`python -m train.evaluate` on a trained folder, with the test run's feature cache."""
    argv = ["--model", str(out), "--data", str(data), "--cache-dir", str(root / "cache"), "--quiet", *flags]
    assert evaluate_main(argv) == 0


def test_training_writes_a_complete_model_folder(setup):
    root, data, config = setup
    out = run(root, data, config, "full")
    for name in (
        "config.json",
        "model.safetensors",
        "title_text/tokenizer.json",
        "metrics.json",
        "eval_test.json",
        "confidence_test.json",
        "curves.png",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3, 4]
    assert metrics["best_epoch"] == max(metrics["epochs"], key=lambda e: e["val_score"])["epoch"]
    test = json.loads((out / "eval_test.json").read_text())
    assert set(test) == {"image_to_recipe", "recipe_to_image", "title_to_image", "image_to_title"}
    assert all({"medr", "r1", "r5", "r10", "pool", "bags"} <= set(m) for m in test.values())
    assert list(root.glob("cache/*.safetensors")), "frozen mode caches backbone features"
    model = load_pretrained(out)  # rebuilds with no pip weight package or network
    assert model.fitted.recipe_vector in ("recipe", "fused")
    defaults = TrainOptions()  # what a run with no flags trains, recorded for the cache's sake
    assert model.fitted.features == FeatureRecord(defaults.finetune_top, defaults.views, live=False)


def test_resume_equals_uninterrupted(setup):
    root, data, config = setup
    full = run(root, data, config, "uninterrupted")
    run(root, data, config, "killed", "--stop-after", "2")
    assert (root / "killed" / "checkpoint.pt").is_file()
    assert not (root / "killed" / "model.safetensors").exists()
    run(root, data, config, "killed", "--resume")
    a = load_file(str(full / "model.safetensors"))
    b = load_file(str(root / "killed" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_moves_the_heads_and_lowers_the_loss(setup):
    root, data, config = setup
    out = run(root, data, config, "learns", "--lr", "3e-3")
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]


def test_live_finetune_mode_unfreezes_top_blocks(setup):
    root, data, config = setup
    out = run(root, data, config, "finetuned", "--finetune-top", "1", "--live", "--epochs", "1")
    tuned = load_file(str(out / "model.safetensors"))
    frozen = load_file(str(root / "full" / "model.safetensors")) if (root / "full").exists() else None
    assert not load_pretrained(out).fitted.features.frozen_backbones
    if frozen is not None:
        last_layer = [k for k in tuned if "text_encoders.title.net.encoder.layer.1." in k]
        first_layer = [k for k in tuned if "text_encoders.title.net.encoder.layer.0." in k]
        assert any(not torch.equal(tuned[k], frozen[k]) for k in last_layer)
        assert all(torch.equal(tuned[k], frozen[k]) for k in first_layer)


def test_cached_views_finetune_trains_the_image_top_only_and_evaluates_like_the_saved_model(setup):
    root, data, config = setup
    out = run(
        root,
        data,
        config,
        "views",
        "--views",
        "3",
        "--finetune-top",
        "2",
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--backbone-lr",
        "3e-3",
    )
    tuned = load_file(str(out / "model.safetensors"))
    start = load_file(str(root / "full" / "model.safetensors")) if (root / "full").exists() else None
    assert load_pretrained(out).fitted.features == FeatureRecord(finetune_top=2, views=3, live=False)
    assert list(root.glob("cache/views-*.safetensors")), "views are cached"
    if start is not None:
        changed = {k for k in tuned if k.startswith("image_encoder.") and not torch.equal(tuned[k], start[k])}
        assert any(k.startswith("image_encoder.net.conv_head") for k in changed), "the top unit trains"
        assert not any(k.startswith("image_encoder.net.conv_stem") for k in changed), "the trunk stays frozen"
        assert all(torch.equal(tuned[k], start[k]) for k in tuned if k.startswith("text_encoders."))
    # The test figures written during training (cached trunk + tail) are what the saved
    # model scores when it runs end to end on the photos.
    written = json.loads((out / "eval_test.json").read_text())
    json_path = root / "views_eval.json"
    evaluate(root, out, data, "--split", "test", "--json", str(json_path))
    again = json.loads(json_path.read_text())
    for direction in written:
        assert abs(written[direction]["medr"] - again[direction]["medr"]) <= 1.0, direction


def test_evaluate_cli_writes_the_protocol_json(setup, tmp_path, capsys):
    root, data, config = setup
    out = root / "full" if (root / "full").exists() else run(root, data, config, "full")
    evaluate(
        root,
        out,
        data,
        "--split",
        "all",
        "--pool",
        "50",
        "--recipe-pool",
        "20",
        "--bags",
        "3",
        "--json",
        str(tmp_path / "e.json"),
    )
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["title_to_image"]["pool"] == 50 and result["title_to_image"]["bags"] == 3
    assert result["image_to_recipe"]["pool"] == 20
    assert "image_to_recipe" in capsys.readouterr().out


def test_help_documents_every_flag():
    text = build_parser().format_help()
    for action in build_parser()._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.option_strings
    assert "--resume" in text and "--finetune-top" in text
