"""Recipe1M's published layout as a source (pipeline/recipe1m.py), on a generated
miniature: layer1.json, det_ingrs.json, layer2.json, photos in <partition>/a/b/c/d/<id>."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipeline.read import load_recipes
from pipeline.splits import split_of, split_rows
from tiny import COLOURS, WORDS, make_photo, tiny_config
from train.cli import main as train_main

PARTITIONS = ("train", "train", "train", "val", "test")  # 3:1:1, cycled over the recipes


def make_recipe1m_folder(folder: Path, n: int = 40, under_images: bool = False, seed: int = 0) -> dict:
    """A miniature of Recipe1M with n recipes. Recipe 0 has no photo in layer2, recipe 1
    a photo layer2 lists but the disk lacks, recipe 2 two photos of which only the second
    is on disk, recipe 3 no ingredient lines in layer1 (det_ingrs names them). Returns
    recipe id -> what a reader should make of it (None: left out)."""
    rng = random.Random(seed)
    root = folder / "images" if under_images else folder
    layer1, layer2, detected, expected = [], [], [], {}
    for i in range(n):
        recipe_id, partition = f"{rng.getrandbits(40):010x}", PARTITIONS[i % len(PARTITIONS)]
        words = rng.sample(WORDS, 4)
        lines = [] if i == 3 else [f"1 cup {w}" for w in words]
        layer1.append(
            {
                "id": recipe_id,
                "title": f"{words[0]} {words[1]}",
                "ingredients": [{"text": line} for line in lines],
                "instructions": [{"text": f"{rng.choice(WORDS)} the {w}."} for w in words[:2]],
                "partition": partition,
                "url": f"http://example.com/{recipe_id}",
            }
        )
        detected.append({"id": recipe_id, "ingredients": [{"text": w} for w in words], "valid": [1, 1, 0, 1]})
        images = [f"{rng.getrandbits(40):010x}.jpg" for _ in range(2 if i == 2 else 1)]
        if i != 0:
            layer2.append({"id": recipe_id, "images": [{"id": image, "url": "http://x"} for image in images]})
        on_disk = images[1:] if i == 2 else [] if i == 1 else images
        for image in on_disk:
            path = root / partition / image[0] / image[1] / image[2] / image[3] / image
            path.parent.mkdir(parents=True, exist_ok=True)
            make_photo(path, COLOURS[i % len(COLOURS)], seed=i)
        ingredients = lines or [words[0], words[1], words[3]]  # det_ingrs' valid names
        expected[recipe_id] = (on_disk[0][:-4], partition, ingredients) if i not in (0, 1) else None
    for name, value in (("layer1.json", layer1), ("layer2.json", layer2), ("det_ingrs.json", detected)):
        (folder / name).write_text(json.dumps(value))
    return expected


@pytest.mark.parametrize("under_images", [False, True])
def test_the_published_layout_reads_with_its_own_partition(tmp_path, under_images, capsys):
    expected = make_recipe1m_folder(tmp_path / "recipe1m", under_images=under_images)
    recipes = load_recipes(tmp_path / "recipe1m", progress=False)
    assert "2 recipes without a photo on disk left out" in capsys.readouterr().err
    wanted = [value for value in expected.values() if value is not None]
    assert [(r.id, r.partition, r.ingredients) for r in recipes] == wanted
    assert all(Path(r.image_path).is_file() and r.has_recipe for r in recipes)
    splits = split_rows(recipes)
    assert all(r.partition == name for name, rows in splits.items() for r in rows)
    # The hash would have drawn other splits for some rows: the partition is what counts.
    assert any(split_of(r.id) != r.partition for r in recipes)


def test_a_partition_outside_train_val_test_is_refused(tmp_path):
    make_recipe1m_folder(tmp_path / "recipe1m", n=5)
    layer1 = json.loads((tmp_path / "recipe1m" / "layer1.json").read_text())
    layer1[4]["partition"] = "holdout"
    (tmp_path / "recipe1m" / "layer1.json").write_text(json.dumps(layer1))
    with pytest.raises(ValueError, match=r"layer1.json: recipe .* partition is 'holdout'"):
        load_recipes(tmp_path / "recipe1m", progress=False)


def test_training_reads_a_recipe1m_folder(tmp_path, text_backbone_dir, capsys):
    make_recipe1m_folder(tmp_path / "recipe1m", n=45)
    config = tmp_path / "tiny.json"
    config.write_text(tiny_config(text_backbone_dir).to_json())
    argv = ["--data", str(tmp_path / "recipe1m"), "--out", str(tmp_path / "model"), "--config", str(config)]
    argv += ["--epochs", "1", "--batch-size", "8", "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert train_main(argv) == 0
    # 43 recipes with a photo, partitions cycled 3:1:1 (recipes 0 and 1, train and train, left out).
    assert "train: 25 rows, 25 full / val: 9 rows, 9 full / test: 9 rows, 9 full" in capsys.readouterr().err
    assert (tmp_path / "model" / "model.safetensors").is_file()
