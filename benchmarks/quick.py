"""What `python -m benchmarks.run --quick` makes for itself before its steps: the first
QUICK_ROWS usable rows of the collection as a folder of their own, a tiny model trained
on them and an index built from it. Every quick step then reads a few hundred rows,
never the whole sample, and none waits for the full-size model (~35 minutes to train).

    python -m benchmarks.quick --data ../shared/data/epicurious --work DIR   # the three, as --quick makes them
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

# Enough rows for every split to hold a few full recipes (a split needs two to score),
# few enough that extracting their features takes seconds.
QUICK_ROWS = 120
# The quick model: frozen backbones, one plain view, two epochs; every figure it gives is
# a smoke figure (it exists so the steps that need a model have one in seconds).
QUICK_TRAINING = ["--epochs", "2", "--views", "1", "--finetune-top", "0", "--quiet"]


def slice_folder(data: str | Path, out: Path, rows: int = QUICK_ROWS) -> Path:
    """A Kaggle-layout folder of the first `rows` usable rows of `data`: their CSV rows as
    read, and a symlink per photo (no photo is copied). load_recipes(out) gives the same
    rows as load_recipes(data)[:rows], photo bytes included, so their feature-cache keys
    are the same too."""
    import pandas as pd

    from pipeline.read import KAGGLE_CSV, KAGGLE_IMAGES, is_kaggle_folder, keep_decodable, read_kaggle

    source = Path(data)
    if not (source.is_dir() and is_kaggle_folder(source)):
        raise SystemExit(f"--quick slices a Kaggle-layout folder (with {KAGGLE_CSV!r}); {data} is not one")
    usable = first_usable(read_kaggle(source), rows, lambda part: keep_decodable(part, str(source), progress=False))
    table = pd.read_csv(source / KAGGLE_CSV, dtype=str, keep_default_na=False)
    names = table["Image_Name"].str.strip()
    # read_kaggle keeps the first row of a photo name: so does the slice.
    keep = names.isin({r.id for r in usable}) & ~names.duplicated()
    shutil.rmtree(out, ignore_errors=True)
    (out / KAGGLE_IMAGES).mkdir(parents=True)
    table[keep].to_csv(out / KAGGLE_CSV, index=False)
    for recipe in usable:
        (out / KAGGLE_IMAGES / f"{recipe.id}.jpg").symlink_to(Path(recipe.image_path).resolve())
    return out


def first_usable(recipes: list, rows: int, keep) -> list:
    """The first `rows` of `recipes` that `keep` (the reader's photo check) keeps, checking
    a chunk at a time so a slice never decodes the whole collection's photos."""
    usable, start = [], 0
    while len(usable) < rows and start < len(recipes):
        chunk = recipes[start : start + rows + 32]  # a margin for the rare unusable photo
        usable += keep(chunk)
        start += len(chunk)
    return usable[:rows]


def train_command(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "train", "--data", str(data), "--out", str(out), *QUICK_TRAINING]


def index_command(model: Path, data: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "embeddings",
        "build",
        "--model",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--quiet",
    ]


def main() -> None:
    import subprocess

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/epicurious")
    p.add_argument("--work", type=Path, required=True, help="where the slice, the model and the index go")
    args = p.parse_args()
    data = slice_folder(args.data, args.work / "quick-data")
    subprocess.run(train_command(data, args.work / "quick-model"), check=True)
    subprocess.run(index_command(args.work / "quick-model", data, args.work / "quick-index"), check=True)


if __name__ == "__main__":
    main()
