"""`python -m embeddings build | search | push` end to end on a tiny model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_hub import FakeHub

import embeddings.serving.hub as hub
from embeddings.building.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def built(tiny_model_dir, kaggle_folder, tmp_path):
    assert (
        main(
            [
                "build",
                "--model",
                str(tiny_model_dir),
                "--data",
                str(kaggle_folder),
                "--out",
                str(tmp_path / "index"),
                "--quiet",
            ]
        )
        == 0
    )
    return tmp_path / "index"


def photo_of(kaggle_folder) -> Path:
    return next((kaggle_folder / "Food Images" / "Food Images").glob("dish-0005-*.jpg"))


def test_build_then_search_by_photo_title_and_recipe(built, kaggle_folder, capsys):
    capsys.readouterr()
    assert main(["search", "--index", str(built), "--image", str(photo_of(kaggle_folder)), "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in hits] == [1, 2, 3] and {"id", "title", "score"} <= set(hits[0])
    assert main(["search", "--index", str(built), "--title", "chocolate cake", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("top 2 by image similarity") and "  1. " in out
    assert (
        main(
            [
                "search",
                "--index",
                str(built),
                "--recipe",
                "1 cup flour\nbake 20 minutes",
                "--field",
                "fused",
                "-k",
                "22",
                "--json",
            ]
        )
        == 0
    )
    assert len(json.loads(capsys.readouterr().out)) == 22


def test_search_expands_queries_of_the_trained_directions_only(built, kaggle_folder, capsys, monkeypatch):
    from model import Retriever

    asked = []
    real = Retriever.expand
    monkeypatch.setattr(Retriever, "expand", lambda self, d, q: asked.append(d) or real(self, d, q))
    photo = str(photo_of(kaggle_folder))
    for query in (
        ["--image", photo],
        ["--image", photo, "--field", "title"],
        ["--title", "soup"],
        ["--recipe", "1 cup flour"],
        ["--title", "soup", "--field", "fused"],
        ["--image", photo, "--field", "image"],
    ):
        assert main(["search", "--index", str(built), *query, "-k", "2"]) == 0
    assert asked == ["image_to_recipe", "image_to_title", "title_to_image", "recipe_to_image"]


def test_search_recipe_field_skips_title_only_rows(built, kaggle_folder, capsys):
    assert main(["search", "--index", str(built), "--image", str(photo_of(kaggle_folder)), "-k", "50", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 18


def test_errors_are_one_line_and_exit_2(built, tmp_path, capsys):
    (built / "recipes.parquet").write_bytes(b"PAR1")
    assert main(["search", "--index", str(built), "--title", "soup"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {built / 'recipes.parquet'}: 4 bytes")
    assert (
        main(["build", "--model", str(tmp_path / "nope"), "--data", str(tmp_path), "--out", str(tmp_path / "i")]) == 2
    )


def test_push_prints_the_space_preload_line_not_the_token(built, tiny_model_dir, tmp_path, monkeypatch, capsys):
    fake = FakeHub(tmp_path / "hub")
    monkeypatch.setattr(hub, "HfApi", fake)
    monkeypatch.setattr(hub, "get_token", lambda: "hf_secret_value")
    assert (
        main(["push", "--model", str(tiny_model_dir), "--index", str(built), "--repo", "cook/demo", "--tag", "v1"]) == 0
    )
    out = capsys.readouterr().out
    assert "preload_from_hub:\n  - cook/demo " in out and "hf_secret_value" not in out
    assert [c[0] for c in fake.calls] == ["create_repo", "create_commit", "create_tag"]


def test_module_entry_point(built):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "embeddings", "search", "--index", str(built), "--title", "rice", "-k", "1", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 1
