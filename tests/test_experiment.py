"""The experiment runner: a variant file's runs are `python -m train`'s own stages, one
JSON line each, skipped when the log already holds them."""

import json

import pytest

from benchmarks.experiment import main as experiment_main
from benchmarks.experiment import parse_set
from tiny import make_kaggle_folder, tiny_config
from train.cli import main as train_main

VARIANTS = """
about = "two variants of the frozen-heads tier"
presets = ["frozen-heads"]
seeds = [0]
splits = [0, 1]

[variants.default]

[variants.high_lr]
train = { lr = 3e-3 }
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory, text_backbone_dir):
    root = tmp_path_factory.mktemp("experiment")
    data = make_kaggle_folder(root / "data", n=60, title_only=10)
    config = root / "tiny.json"
    config.write_text(tiny_config(text_backbone_dir).to_json())
    variants = root / "two.toml"
    variants.write_text(VARIANTS)
    return root, data, config, variants


def run(root, data, config, variants, *extra):
    argv = [str(variants), "--data", str(data), "--config", str(config), "--cache-dir", str(root / "cache")]
    argv += ["--work", str(root / "work"), "--log", str(root / "log.jsonl"), "--quiet"]
    argv += ["--set", "train.epochs=2", "train.batch_size=16", *extra]
    assert experiment_main(argv) == 0
    return [json.loads(line) for line in (root / "log.jsonl").read_text().splitlines()]


def test_each_run_is_one_line_with_its_settings_and_figures(lab):
    root, data, config, variants = lab
    lines = run(root, data, config, variants)
    assert [(x["variant"], x["split"]) for x in lines] == [
        ("default", 0),
        ("default", 1),
        ("high_lr", 0),
        ("high_lr", 1),
    ]
    for line in lines:
        assert line["experiment"] == "two" and line["commit"] and line["machine"] and line["load"]["start"]
        assert set(line["figures"]["test"]) == {
            "image_to_recipe",
            "recipe_to_image",
            "title_to_image",
            "image_to_title",
        }
        assert set(line["figures"]["val"]) == set(line["figures"]["test"])
        assert line["config"]["train"]["views"] == 1 and line["config"]["train"]["epochs"] == 2  # preset, then --set
    assert lines[2]["config"]["train"]["lr"] == 3e-3 and lines[0]["config"]["train"]["lr"] == 1e-4
    # Another split draw trains on other rows: its val figures are not the product split's.
    assert lines[0]["figures"]["val"] != lines[1]["figures"]["val"]
    assert not list((root / "work").rglob("model.safetensors")), "folders are removed once scored"
    # Run again: every run is in the log already, so nothing trains and nothing is added.
    assert len(run(root, data, config, variants)) == 4


def test_a_run_is_the_same_training_as_python_m_train(lab):
    root, data, config, variants = lab
    line = next(x for x in run(root, data, config, variants) if (x["variant"], x["split"]) == ("default", 0))
    out = root / "by-hand"
    flags = ["--preset", "frozen-heads", "--config", str(config), "--epochs", "2", "--batch-size", "16"]
    assert (
        train_main(["--data", str(data), "--out", str(out), "--cache-dir", str(root / "cache"), "--quiet", *flags]) == 0
    )
    assert json.loads((out / "eval_test_plain.json").read_text()) == line["figures"]["test"]
    assert json.loads((out / "metrics.json").read_text())["best_val_score"] == line["figures"]["val_score"]


def test_bad_variants_and_settings_are_refused_by_name(lab, tmp_path):
    root, data, config, _ = lab
    bad = tmp_path / "bad.toml"
    bad.write_text('presets = ["frozen-heads"]\n[variants.typo]\ntrain = { lr_typo = 1 }\n')
    with pytest.raises(SystemExit, match="variant 'typo': train settings have no field lr_typo"):
        run(root, data, config, bad)
    with pytest.raises(SystemExit, match="no variant named"):
        run(root, data, config, bad, "--only", "missing")
    assert parse_set(["train.lr=3e-4", "model.recipe_encoder=lstm"]) == {
        "train": {"lr": 3e-4},
        "model": {"recipe_encoder": "lstm"},
    }
    with pytest.raises(SystemExit, match="part.field=value"):
        parse_set(["epochs=2"])
