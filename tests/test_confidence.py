"""How sure an answer is (model/confidence.py, train/calibration.py, ui/confidence.py): the
isotonic fit, the mapping saved with the model, "looks like" on a pool built so the answer
is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from model import load_pretrained, save_pretrained
from model.confidence import Confidence, StepMap, pool_adjacent_violators
from model.saving import CONFIG_KEY, CONFIG_NAME, FITTED_KEY, WEIGHTS_NAME
from train import calibration
from ui.confidence import AnswerConfidence, in_words, looks_like_sentence, status_sentence

KINDS = ["roast turkey", "chocolate cake", "lemon tart", "pea soup"]


def test_pool_adjacent_violators_merges_every_violation():
    edges, values = pool_adjacent_violators(np.array([1, 2, 3, 4, 5.0]), np.array([0, 1, 0, 1, 1.0]))
    assert edges == [1, 2, 4] and values == pytest.approx([0, 0.5, 1])
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = (rng.random(500) < 1 / (1 + np.exp(-3 * x))).astype(float)
    mapping = StepMap.fit(x, y)
    assert all(a <= b for a, b in zip(mapping.values, mapping.values[1:]))
    grid = np.linspace(-4, 4, 200)
    predicted = [mapping(v) for v in grid]
    assert predicted == sorted(predicted) and 0 <= min(predicted) and max(predicted) <= 1
    assert mapping(-10) == mapping.values[0] and mapping(10) == mapping.values[-1]


def synthetic_pool(n: int = 600, dim: int = 32, seed: int = 0) -> calibration.Pool:
    """Rows of four dish kinds: each kind's recipes lie around its own centre, and each
    photo lies near its recipe by a noise of its own, so some photos find their recipe
    first and others do not."""
    gen = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(len(KINDS), dim, generator=gen), dim=1)
    kind = torch.arange(n) % len(KINDS)

    def jitter(size) -> torch.Tensor:  # a random direction of length `size` (per row)
        return size * F.normalize(torch.randn(n, dim, generator=gen), dim=1)

    recipe = F.normalize(centres[kind] + jitter(0.7), dim=1)
    image = F.normalize(recipe + jitter(torch.rand(n, 1, generator=gen) * 1.5), dim=1)
    title = F.normalize(recipe + jitter(0.5), dim=1)
    splits = ["train", "val", "val", "test", "test"]
    return calibration.Pool(
        image,
        title,
        recipe,
        torch.ones(n, dtype=torch.bool),
        [f"Grandma's {KINDS[k]} no. {i}" for i, k in enumerate(kind.tolist())],
        [splits[i % len(splits)] for i in range(n)],
    )


@pytest.fixture(scope="module")
def fitted(tiny_model_dir, tmp_path_factory):
    """A tiny model (no query expansion: queries are searched as they are) with a mapping
    fitted on the synthetic pool, saved and loaded back."""
    model = load_pretrained(tiny_model_dir)
    pool = synthetic_pool()
    calibration.fit_confidence(model, pool, kinds=["background", *KINDS])
    out = tmp_path_factory.mktemp("calibrated")
    save_pretrained(model, out)
    return load_pretrained(out), pool, out


def test_the_mapping_is_monotone_and_saved_with_the_model(fitted):
    model, _, _ = fitted
    confidence = model.fitted.confidence
    assert set(confidence.directions) == set(calibration.QUERY_KINDS)
    for direction in confidence.directions.values():
        for mapping in (direction.first, direction.same_kind, *direction.shown.values()):
            assert mapping.values == sorted(mapping.values) and all(0 <= v <= 1 for v in mapping.values)
        # More results shown can only make "among them" likelier.
        shown = [direction.shown[str(k)].values[-1] for k in calibration.SHOWN_KS]
        assert shown == sorted(shown)
    sure = AnswerConfidence(confidence).estimate("image_to_recipe", [0.95, 0.40], 8)
    unsure = AnswerConfidence(confidence).estimate("image_to_recipe", [0.50, 0.49], 8)
    assert sure["first"] > unsure["first"] and sure["shown_k"] == 8
    assert "How sure: the first result is the photo's own recipe" in status_sentence("image_to_recipe", sure)


def test_it_is_calibrated_on_the_held_out_split(fitted):
    model, pool, _ = fitted
    figures = calibration.score(model, pool, "test")
    first = figures["image_to_recipe"]["first"]
    assert first["queries"] == 240
    # Half the photos are near their recipe: a mapping that ignored the scores would be off by far more.
    assert first["ece"] < 0.12
    assert sum(b["queries"] for b in first["bins"]) == first["queries"]


def test_an_old_model_without_one_loads_and_says_it_has_none(fitted, tmp_path):
    model, _, saved = fitted
    old = tmp_path / "old"
    save_pretrained(model, old)
    raw = json.loads((old / CONFIG_NAME).read_text())
    del raw[FITTED_KEY]["confidence"]  # as a model saved before the field existed
    text = json.dumps(raw)
    (old / CONFIG_NAME).write_text(text)
    save_file(load_file(str(old / WEIGHTS_NAME)), str(old / WEIGHTS_NAME), metadata={"format": "pt", CONFIG_KEY: text})
    loaded = load_pretrained(old)
    assert loaded.fitted.confidence is None
    assert AnswerConfidence(loaded.fitted.confidence).estimate("image_to_recipe", [0.9, 0.1], 8) is None
    assert "no fitted estimate" in status_sentence("image_to_recipe", None)


def test_looks_like_names_the_kind_the_closest_titles_vote_for(fitted):
    model, pool, _ = fitted
    confidence = model.fitted.confidence
    # Kinds lie in clusters of the synthetic pool, so the closest ten mostly share the photo's kind.
    assert confidence.looks_like["min_votes"] is not None
    assert confidence.looks_like["val_precision"] >= 0.6
    answer = AnswerConfidence(confidence)
    least = confidence.looks_like["min_votes"]
    titles = ["Roast Turkey with Gravy"] * least + ["Something Else Again"] * (10 - least)  # no kind: no vote
    looks = answer.looks_like(titles)
    assert looks["kind"] == "roast turkey" and looks["sure"] and looks["votes"] == least
    assert looks_like_sentence(looks) == f"Looks like: roast turkey ({least} of the 10 closest)."
    split = ["Lemon Tart"] * 3 + ["Chocolate Cake"] * 3 + ["Pea Soup"] * 2 + ["Roast Turkey"] * 2
    unsure = Confidence(kinds=confidence.kinds, looks_like={"min_votes": 6})
    looks = AnswerConfidence(unsure).looks_like(split)
    assert not looks["sure"] and looks["closest_kinds"] == ["lemon tart", "chocolate cake", "pea soup"]
    assert looks_like_sentence(looks).startswith("Not sure what dish this is; the closest kinds: lemon tart")


def test_words_for_a_probability():
    assert in_words(0.82) == "very likely (82%)" and in_words(0.23) == "unlikely (23%)"
    assert in_words(0.0) == "very unlikely (0%)"


def test_the_refit_cli_rewrites_the_model_folder(tiny_model_dir, tmp_path, capsys):
    """python -m train.calibration --model DIR --data DIR on a generated collection: the model
    folder then carries the mapping, and its test figures are written beside it."""
    import shutil

    from tiny import make_kaggle_folder

    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    data = make_kaggle_folder(tmp_path / "data", n=60)
    assert (
        calibration.main(
            ["--model", str(model_dir), "--data", str(data), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
        )
        == 0
    )
    assert load_pretrained(model_dir).fitted.confidence is not None
    assert "image_to_recipe" in json.loads((model_dir / "confidence_test.json").read_text())
    assert "how sure answers are: fitted on val" in capsys.readouterr().out
