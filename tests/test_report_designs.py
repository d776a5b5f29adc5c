"""The README's short version of the designs table (benchmarks/report_designs.py) calls a
gain beyond noise only over enough paired splits: one split has no spread to compare with."""

import json

import pytest

import benchmarks.common as common
import benchmarks.report_format as report_format
from benchmarks.report_designs import designs_for_readme

SIZES = {"train": 3, "val": 2, "test": 2}


def design_row(name: str, val: float, config: dict | None = None) -> dict:
    test = {"image_to_recipe": {"r1": 0.1, "r10": 0.4, "r1_std": 0.01}, "title_to_image": {"r1": 0.05}}
    return {
        "name": name,
        "val_score": val,
        "test": test,
        "cost_minutes": 10.0,
        "config": config or {},
        "options": {},
        "measured": {"date": "2026-12-03 10:00 UTC", "commit": "abc1234"},
    }


def split(salt: str, val: float) -> dict:
    directions = ("image_to_recipe", "recipe_to_image", "title_to_image", "image_to_title")
    return {"salt": salt, "full_recipes": SIZES, "val": {d: {"r1": val} for d in directions}}


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(report_format, "RESULTS", tmp_path)
    rows = [
        design_row("today's pipeline", 0.080),
        design_row("+ LSTM recipe encoder", 0.090, {"recipe_encoder": "lstm"}),
    ]
    (tmp_path / "seed_designs.json").write_text(json.dumps({"rows": rows, "date": "d", "commit": "c"}))
    salts = [""] + [f"split{k}:" for k in range(1, 8)]
    (tmp_path / "split_noise.json").write_text(json.dumps({"splits": [split(s, 0.080) for s in salts]}))

    def variant(diffs: list[float]) -> None:
        splits = [split(s, 0.080 + d) for s, d in zip(salts, diffs)]
        body = {"label": "lstm", "config": {"recipe_encoder": "lstm"}, "options": {}, "splits": splits}
        (tmp_path / "split_noise_lstm.json").write_text(json.dumps({**body, "splits_planned": 8}))

    return variant


def verdict() -> str:
    return next(line for line in designs_for_readme().splitlines() if line.startswith("Best on validation"))


def test_one_split_is_not_yet_a_verdict(results):
    results([0.010])
    assert "1 done so far" in verdict() and "beyond noise" not in verdict()


def test_a_steady_gain_over_eight_splits_is_beyond_noise(results):
    results([0.010, 0.012, 0.009, 0.011, 0.010, 0.013, 0.008, 0.011])
    assert "a gain beyond noise over 8 splits" in verdict()


def test_the_winner_is_called_the_default_only_when_train_reads_with_it(results, tmp_path):
    results([0.010, 0.012, 0.009, 0.011, 0.010, 0.013, 0.008, 0.011])
    tier = {"rows": [], "date": "d", "commit": "c", "command": "x", "tier": "t", "protocol": "p"}
    (tmp_path / "default_tier.json").write_text(json.dumps({**tier, "default_recipe_encoder": "pooled"}))
    assert "It is the default now." not in designs_for_readme()
    (tmp_path / "default_tier.json").write_text(json.dumps({**tier, "default_recipe_encoder": "lstm"}))
    assert "It is the default now." in designs_for_readme()


def test_a_gain_that_flips_sign_is_within_noise(results):
    results([0.010, -0.012, 0.009, -0.011, 0.010, -0.013, 0.008, -0.004])
    assert "within noise over 8 splits" in verdict()


def test_no_check_run_says_so(results):
    assert "not yet checked" in verdict()


def test_the_full_way_sentence_gives_each_variants_range_over_its_runs():
    from benchmarks.report_designs import full_way_in_words

    def run(label, im2rec, val):
        return {
            "label": label,
            "val_score": val,
            "test": {"image_to_recipe": {"r1": im2rec}, "title_to_image": {"r1": 0.053}},
        }

    text = full_way_in_words([run("default", 0.098, 0.085), run("default", 0.106, 0.082), run("lstm", 0.111, 0.0896)])
    before = "(the default before), fine-tuned on four views of each photo (2 runs)"
    assert before + ": a photo's recipe first 9.8%–10.6%" in text
    assert "validation score 0.082–0.085" in text
    assert "fine-tuned on four views (1 run): a photo's recipe first 11.1%" in text and "0.090" in text
