"""Draw the recipes of the diet-chip audit set (benchmarks/data/diet_audit.csv); labels are made by hand.

    python benchmarks/data/draw_diet_audit.py --data ../shared/data/epicurious > /tmp/draw.csv

Prints image_name,pool for every drawn recipe. The random pool is numpy seed 24 over the rows whose
Ingredients cell is not empty; the hard pool takes, for each keyword below in turn, up to two more rows
whose title or ingredient lines contain it (again seeded), so a chip's word list meets its edge cases.
Only identifiers are printed: the data set's text may not be committed.
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CSV_NAME = "Food Ingredients and Recipe Dataset with Image Name Mapping.csv"
SEED = 24
RANDOM_SIZE = 160
PER_KEYWORD = 2
# Words that sit on the edge of a chip: meat that hides in a name (ribs, fryer, hens), animal products
# (gelatin, stock, Worcestershire), cheeses and grains that a word list can miss, and look-alikes
# that are not what they sound like (nutmeg, butternut, coconut, cocoa butter, cream of tartar).
KEYWORDS = [
    "ribs", "fryer", "broiler", "hens", "game", "venison", "mahi", "crab", "anchov", "fish sauce",
    "oyster sauce", "dashi", "bonito", "caesar", "kimchi", "lard", "marrow", "pancetta", "prosciutto",
    "stock", "broth", "bouillon", "worcestershire", "gelatin", "marshmallow", "paneer", "halloumi",
    "ghee", "buttermilk", "ice cream", "sour cream", "crème fraîche", "margarine", "chocolate",
    "cocoa butter", "rigatoni", "orzo", "gnocchi", "penne", "orecchiette", "egg noodles", "udon",
    "soba", "matzo", "ladyfinger", "biscuit", "graham cracker", "pretzel", "crouton", "breadcrumbs",
    "panko", "phyllo", "tortilla", "soy sauce", "tamari", "hoisin", "teriyaki", "miso", "beer", "malt",
    "couscous", "farro", "barley", "bulgur", "semolina", "spelt", "rye", "seitan", "oats", "polenta",
    "rice flour", "almond flour", "walnut oil", "hazelnut", "almond milk", "cashew", "pine nut",
    "pistachio", "peanut", "pesto", "praline", "marzipan", "amaretti", "nutella", "coconut", "nutmeg",
    "butternut", "water chestnut", "cream of tartar",
]  # fmt: skip


def draw(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(image_name, pool) pairs: the random pool first, then the hard pool keyword by keyword."""
    rows = table[table["Ingredients"].str.strip() != ""].reset_index(drop=True)
    rng = np.random.default_rng(SEED)
    picked = rng.choice(len(rows), size=RANDOM_SIZE, replace=False)
    chosen = [(rows.at[int(i), "Image_Name"], "random") for i in picked]
    taken = {int(i) for i in picked}
    text = (rows["Title"] + " " + rows["Ingredients"]).str.lower()
    for keyword in KEYWORDS:
        # A word start, so "rye" does not match "dryer" and "oats" does not match "boats".
        hits = np.flatnonzero(text.str.contains(r"\b" + re.escape(keyword), regex=True).to_numpy())
        free = [int(i) for i in hits if int(i) not in taken]
        for i in rng.permutation(free)[:PER_KEYWORD]:
            chosen.append((rows.at[int(i), "Image_Name"], f"hard:{keyword}"))
            taken.add(int(i))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding the Kaggle Epicurious CSV")
    args = parser.parse_args()
    path = args.data / CSV_NAME
    if not path.is_file():
        sys.exit(f"{path} not found: --data must be the folder holding {CSV_NAME!r}")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    print("image_name,pool")
    for image_name, pool in draw(table):
        print(f"{image_name},{pool}")


if __name__ == "__main__":
    main()
