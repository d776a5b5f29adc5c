"""Recipe1M (im2recipe) as a source: its published layout read as Recipe rows.

    layer1.json     [{"id", "title", "ingredients": [{"text"}], "instructions": [{"text"}],
                      "partition": "train" | "val" | "test", ...}]
    det_ingrs.json  [{"id", "ingredients": [{"text"}], "valid": [bool]}]  (optional)
    layer2.json     [{"id": recipe id, "images": [{"id": "<image id>.jpg", ...}]}]
    <partition>/a/b/c/d/<image id>   the photos, a/b/c/d the image id's first four
                                     characters; at the root or under images/

One row per recipe with at least one photo on disk: its first such photo (the row's id
is that photo's name without extension, as for the other sources). The recipe's own
partition is its split, not the hash of pipeline/splits.py. Ingredients are layer1's
lines as written ("2 cups flour"); a recipe with none there takes det_ingrs.json's valid
ingredient names. Recipes layer2.json gives no photo are left out and counted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .records import Recipe

LAYER1, LAYER2, DETECTED = "layer1.json", "layer2.json", "det_ingrs.json"
PARTITIONS = ("train", "val", "test")


def is_recipe1m_folder(path: Path) -> bool:
    return (path / LAYER1).is_file()


def read_json_list(path: Path) -> list[dict]:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON file ({err})") from err
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected a JSON list of records, found {type(value).__name__}")
    return value


def texts(items) -> list[str]:
    """[{"text": "..."}, ...] -> the non-empty texts."""
    return [str(item.get("text", "")).strip() for item in items or [] if str(item.get("text", "")).strip()]


def photo_root(folder: Path) -> Path:
    """Where the partition folders are: images/ when the download put them there."""
    return folder / "images" if (folder / "images").is_dir() else folder


def photo_path(root: Path, partition: str, image_id: str) -> Path:
    return root / partition / image_id[0] / image_id[1] / image_id[2] / image_id[3] / image_id


def detected_ingredients(folder: Path) -> dict[str, list[str]]:
    """recipe id -> its valid detected ingredient names (empty when there is no file)."""
    path = folder / DETECTED
    if not path.is_file():
        return {}
    found = {}
    for record in read_json_list(path):
        names, valid = texts(record.get("ingredients")), record.get("valid") or []
        found[str(record.get("id"))] = [name for name, ok in zip(names, valid) if ok]
    return found


def read_recipe1m(folder: Path) -> list[Recipe]:
    """Every recipe of layer1.json with a photo on disk, in layer1's order."""
    photos = {
        str(r.get("id")): [str(i.get("id")) for i in r.get("images") or []] for r in read_json_list(folder / LAYER2)
    }
    detected = detected_ingredients(folder)
    root = photo_root(folder)
    recipes, without_photo = [], 0
    for record in read_json_list(folder / LAYER1):
        recipe_id, partition = str(record.get("id")), record.get("partition")
        if partition not in PARTITIONS:
            raise ValueError(
                f"{folder / LAYER1}: recipe {recipe_id}'s partition is {partition!r}, not one of {PARTITIONS}"
            )
        on_disk = [i for i in photos.get(recipe_id, []) if len(i) > 4 and photo_path(root, partition, i).is_file()]
        if not on_disk:
            without_photo += 1
            continue
        recipes.append(
            Recipe(
                id=Path(on_disk[0]).stem,
                title=str(record.get("title") or "").strip(),
                ingredients=texts(record.get("ingredients")) or detected.get(recipe_id, []),
                instructions=texts(record.get("instructions")),
                image_path=str(photo_path(root, partition, on_disk[0])),
                partition=partition,
            )
        )
    if without_photo:
        print(f"{folder}: {without_photo} recipes without a photo on disk left out", file=sys.stderr)
    return recipes
