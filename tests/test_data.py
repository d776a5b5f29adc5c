import json

import pytest
from PIL import Image

from pipeline.read import load_recipes
from pipeline.records import parse_list
from pipeline.splits import select_split, split_of
from tiny import make_kaggle_folder


def test_kaggle_folder_keeps_title_only_rows_and_skips_bad_photos(kaggle_folder, capsys):
    recipes = load_recipes(kaggle_folder, progress=False)
    # 24 rows: 1 truncated JPEG, 1 missing photo -> 22 kept; the first 4 are title-only.
    assert len(recipes) == 22
    assert sum(not r.has_recipe for r in recipes) == 4
    summary = capsys.readouterr().err
    assert (
        "22 kept" in summary
        and "1 with a missing photo" in summary
        and "1 with a photo that does not decode" in summary
    )
    full = next(r for r in recipes if r.has_recipe)
    assert all(isinstance(x, str) and x for x in full.ingredients)
    assert len(full.instructions) == 3
    assert not any(r.id.startswith("dish-0022") or r.id.startswith("dish-0023") for r in recipes)


def test_parse_list_reads_literals_lists_and_plain_text():
    assert parse_list("['1 cup flour', ' 2 eggs ']", newline_split=True) == ["1 cup flour", "2 eggs"]
    assert parse_list("Boil.\n\nServe.", newline_split=True) == ["Boil.", "Serve."]
    assert parse_list(["a", ""], newline_split=True) == ["a"]
    assert parse_list(float("nan"), newline_split=True) == []
    assert parse_list("[not python", newline_split=True) == ["[not python"]


def test_split_is_deterministic_and_stable_when_rows_are_added(tmp_path):
    small = load_recipes(make_kaggle_folder(tmp_path / "a", n=30, corrupt=0, missing=0), progress=False)
    large = load_recipes(make_kaggle_folder(tmp_path / "b", n=60, corrupt=0, missing=0), progress=False)
    before = {r.id: split_of(r.id) for r in small}
    after = {r.id: split_of(r.id) for r in large}
    assert all(after[i] == s for i, s in before.items())
    ids = [f"photo-{i}" for i in range(20000)]
    shares = {s: sum(split_of(i) == s for i in ids) / len(ids) for s in ("train", "val", "test")}
    assert shares["train"] == pytest.approx(0.70, abs=0.01)
    assert shares["val"] == pytest.approx(0.15, abs=0.01)
    assert len(select_split(large, "all")) == len(large)


def test_imagefolder_with_metadata_jsonl(tmp_path):
    folder = tmp_path / "imagefolder"
    folder.mkdir()
    rows = []
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 80, 10, 10)).save(folder / f"p{i}.jpg")
        rows.append(
            {
                "file_name": f"p{i}.jpg",
                "title": f"dish {i}",
                "ingredients": ["salt", "egg"] if i else [],
                "instructions": "Mix.\nBake." if i else "",
            }
        )
    (folder / "bad.jpg").write_bytes(b"not a jpeg")
    rows.append({"file_name": "bad.jpg", "title": "broken", "ingredients": [], "instructions": ""})
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    recipes = load_recipes(folder, progress=False)
    assert sorted(r.title for r in recipes) == ["dish 0", "dish 1", "dish 2"]
    by_title = {r.title: r for r in recipes}
    assert by_title["dish 1"].ingredients == ["salt", "egg"]
    assert by_title["dish 1"].instructions == ["Mix.", "Bake."]
    assert not by_title["dish 0"].has_recipe
    assert by_title["dish 2"].open_image().size == (20, 20)


def test_unknown_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a Kaggle-layout folder"):
        load_recipes(tmp_path)
