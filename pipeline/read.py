"""Stage 1 of the pipeline, read rows: a recipe collection -> Recipe records, from a
Kaggle-layout folder, a Recipe1M folder (pipeline/recipe1m.py) or a Hugging Face
`datasets` source (Hub id, or an imagefolder with metadata.jsonl / metadata.csv).

Rows without ingredients and instructions stay, as title-only rows. A row whose photo is
missing or does not decode is skipped and counted in one summary line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .parallel import parallel_map
from .recipe1m import LAYER1, is_recipe1m_folder, read_recipe1m
from .records import Recipe, parse_list

KAGGLE_CSV = "Food Ingredients and Recipe Dataset with Image Name Mapping.csv"
KAGGLE_IMAGES = Path("Food Images") / "Food Images"


# --- photo check ---------------------------------------------------------------------------
def photo_problem(recipe: Recipe) -> str | None:
    """None if the photo decodes, else 'missing' or 'unreadable'. JPEG draft mode decodes
    at 1/8 scale: every byte is still read, so a truncated file fails, at a tenth the cost."""
    if recipe.image_bytes is None and (recipe.image_path is None or not Path(recipe.image_path).is_file()):
        return "missing"
    try:
        with recipe.open_image() as image:
            image.draft("RGB", (64, 64))
            image.load()
    except Exception:  # PIL raises many types for bad files; all mean "cannot use it"
        return "unreadable"
    return None


def keep_decodable(recipes: list[Recipe], source: str, progress: bool = True) -> list[Recipe]:
    problems = parallel_map(photo_problem, recipes, "checking photos", progress)
    kept = [r for r, problem in zip(recipes, problems) if problem is None]
    missing = problems.count("missing")
    unreadable = problems.count("unreadable")
    full = sum(r.has_recipe for r in kept)
    print(
        f"{source}: {len(recipes)} rows -> {len(kept)} kept ({full} full recipes, {len(kept) - full} title-only); "
        f"skipped {missing} with a missing photo, {unreadable} with a photo that does not decode",
        file=sys.stderr,
    )
    return kept


# --- readers -------------------------------------------------------------------------------
def is_kaggle_folder(path: Path) -> bool:
    return (path / KAGGLE_CSV).is_file()


def read_kaggle(folder: Path) -> list[Recipe]:
    import pandas as pd

    table = pd.read_csv(folder / KAGGLE_CSV, dtype=str, keep_default_na=False)
    for column in ("Title", "Image_Name"):
        if column not in table.columns:
            raise ValueError(f"{folder / KAGGLE_CSV} has no {column!r} column (columns: {list(table.columns)})")
    recipes, seen = [], set()
    for row in table.itertuples(index=False):
        name = str(row.Image_Name).strip()
        if not name or name in seen:  # a photo name is the row's identity
            continue
        seen.add(name)
        recipes.append(
            Recipe(
                id=name,
                title=str(row.Title).strip(),
                ingredients=parse_list(getattr(row, "Ingredients", ""), newline_split=True),
                instructions=parse_list(getattr(row, "Instructions", ""), newline_split=True),
                image_path=str(folder / KAGGLE_IMAGES / f"{name}.jpg"),
            )
        )
    return recipes


def read_datasets(source: str, split: str | None = None, revision: str | None = None) -> list[Recipe]:
    """A `datasets` source: a local imagefolder (metadata.jsonl / metadata.csv beside the
    photos) or a Hub id. Columns: image, title, ingredients, instructions, optional id."""
    import datasets

    path = Path(source)
    if path.is_dir():
        dataset = datasets.load_dataset("imagefolder", data_dir=str(path))
    else:
        dataset = datasets.load_dataset(source, revision=revision)
    splits = [split] if split else list(dataset.keys())
    recipes = []
    for name in splits:
        part = dataset[name]
        if "image" not in part.column_names or "title" not in part.column_names:
            raise ValueError(f"{source} needs 'image' and 'title' columns, has {part.column_names}")
        part = part.cast_column("image", datasets.Image(decode=False))  # keep bytes, decode later
        for index, row in enumerate(part):
            image = row["image"] or {}
            data = image.get("bytes")
            if data is None and image.get("path"):
                file = Path(image["path"])
                data = file.read_bytes() if file.is_file() else None
            photo_id = row.get("id") or (Path(image["path"]).stem if image.get("path") else f"{name}-{index}")
            recipes.append(
                Recipe(
                    id=str(photo_id),
                    title=str(row.get("title") or "").strip(),
                    ingredients=parse_list(row.get("ingredients"), newline_split=True),
                    instructions=parse_list(row.get("instructions"), newline_split=True),
                    image_bytes=data if data is not None else None,
                    image_path=None,
                )
            )
    return recipes


def load_recipes(source: str | Path, progress: bool = True) -> list[Recipe]:
    """Every usable row of a collection, in source order."""
    path = Path(source)
    if path.is_dir() and is_kaggle_folder(path):
        recipes = read_kaggle(path)
    elif path.is_dir() and is_recipe1m_folder(path):
        recipes = read_recipe1m(path)
    elif path.is_dir() and not any((path / name).is_file() for name in ("metadata.jsonl", "metadata.csv")):
        raise FileNotFoundError(
            f"{path} is neither a Kaggle-layout folder (no {KAGGLE_CSV!r}), a Recipe1M folder (no {LAYER1}) "
            "nor an imagefolder (no metadata.jsonl or metadata.csv)"
        )
    else:
        recipes = read_datasets(str(source))
    return keep_decodable(recipes, str(source), progress=progress)
