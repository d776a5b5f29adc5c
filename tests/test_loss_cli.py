"""`python -m train` with --loss adamine / cosine, dish classes and --debias, end to end on
a generated collection with a tiny random model."""

import json
import re

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from model import load_pretrained
from pipeline.splits import split_of
from tiny import make_kaggle_folder, tiny_config
from train.cli import main as train_main

CSV = "Food Ingredients and Recipe Dataset with Image Name Mapping.csv"
HELD_OUT_WORD = "pavlova"  # in every val and test title, in no training title


@pytest.fixture(scope="module")
def setup(tmp_path_factory, text_backbone_dir):
    root = tmp_path_factory.mktemp("losses")
    data = make_kaggle_folder(root / "data", n=60, title_only=10)
    table = pd.read_csv(data / CSV, index_col=0)
    held_out = table["Image_Name"].map(split_of) != "train"
    table.loc[held_out, "Title"] = table.loc[held_out, "Title"] + f" {HELD_OUT_WORD}"
    table.to_csv(data / CSV)
    config = root / "tiny.json"
    config.write_text(tiny_config(text_backbone_dir, lexical_dims=0).to_json())
    return root, data, config


def run(setup, out, *flags):
    root, data, config = setup
    argv = ["--data", str(data), "--out", str(root / out), "--config", str(config), "--epochs", "2"]
    argv += ["--batch-size", "16", "--views", "1", "--finetune-top", "0", "--cache-dir", str(root / "cache"), "--quiet"]
    assert train_main([*argv, *flags]) == 0
    return root / out


def test_adamine_with_debiasing_trains_and_saves_both(setup):
    out = run(setup, "adamine", "--loss", "adamine", "--dish-classes", "20", "--debias", "--ingredient-weight", "0.5")
    options = json.loads((out / "metrics.json").read_text())["options"]
    assert options["loss"] == "adamine" and options["margin"] == 0.3 and options["semantic_weight"] == 0.1
    assert options["mismatch_rate"] is None and options["dish_classes"] == 20
    model = load_pretrained(out)
    classes = model.fitted.dish_classes
    assert classes[0] == "background" and 3 <= len(classes) <= 21
    assert HELD_OUT_WORD not in " ".join(classes), "dish classes come from the training titles only"
    assert model.config.debias and not model.fitted.dish_classifier
    weights = load_file(str(out / "model.safetensors"))
    assert torch.count_nonzero(weights["ingredient_vectors"]) > 0, "the debiasing vectors trained"
    assert "dish_head.weight" not in weights


def test_cosine_trains_its_dish_classifier(setup):
    out = run(setup, "cosine", "--loss", "cosine", "--mismatch-rate", "0.5", "--lr", "3e-3")
    metrics = json.loads((out / "metrics.json").read_text())
    options = metrics["options"]
    assert (options["loss"], options["margin"], options["semantic_weight"], options["mismatch_rate"]) == (
        "cosine",
        0.1,
        0.02,
        0.5,
    )
    assert load_pretrained(out).fitted.dish_classifier
    assert load_file(str(out / "model.safetensors"))["dish_head.weight"].shape[0] == len(
        load_pretrained(out).fitted.dish_classes
    )
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]


def test_a_resumed_cosine_run_draws_the_same_mismatches(setup):
    flags = ("--loss", "cosine", "--semantic-weight", "0")
    full = run(setup, "cosine-full", *flags)
    run(setup, "cosine-resumed", *flags, "--stop-after", "1")
    resumed = run(setup, "cosine-resumed", *flags, "--resume")
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--margin", "0.2"], "--margin"),
        (["--loss", "adamine", "--mismatch-rate", "0.5"], "--mismatch-rate applies to --loss cosine"),
        (["--loss", "cosine", "--mismatch-rate", "1.5"], "in \\[0, 1\\]"),
        (["--loss", "adamine", "--semantic-weight", "0", "--dish-classes", "5"], "--dish-classes applies"),
        (["--debias", "--ingredient-weight", "0"], "--debias needs"),
        (["--loss", "triplet"], "invalid choice"),
    ],
)
def test_flags_a_loss_does_not_read_are_refused_with_a_message(flags, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        train_main(["--data", "nowhere", "--out", "nowhere", *flags])
    assert stopped.value.code == 2
    assert re.search(message, capsys.readouterr().err)
