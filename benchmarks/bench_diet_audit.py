"""Do the diet chips hold? The app's chips (ui/diets.toml through ui/filters.py, title and
ingredient lines read) audited against a hand-labelled set of the sample's recipes.

    python benchmarks/bench_diet_audit.py --data ../shared/data/epicurious
        [--audit benchmarks/data/diet_audit.csv] [--diets FILE] [--lines-only]

The audit file (benchmarks/data/diet_audit.csv; how it was labelled: its README beside it)
names each recipe by its Image_Name and says, for each chip, whether the recipe breaks it
(1) or not (0). For each chip:
    leak    of the recipes that break it, the share the chip keeps (target: at most 1 in 100)
    recall  of the recipes that do not, the share it keeps (what the chip costs a person)
`--diets` scores another word list (e.g. the one before issue 24: `git show
560a576:ui/diets.toml`), `--lines-only` the ingredient lines without the title, as the
chips read them before.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import shown, write_result

AUDIT = Path(__file__).resolve().parent / "data" / "diet_audit.csv"
CHIPS = ("vegetarian", "no_nuts", "no_dairy", "gluten_free")
TRUE = {"1", "true", "yes", "y", "t"}


def read_audit(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("image_name")]


def audited_recipes(folder: Path) -> dict:
    """Image_Name -> the row with an ingredient list of that name (the audit's rows; a few
    names also name a title-only row, which pipeline.read would keep if it came first)."""
    import pandas as pd

    from pipeline.read import KAGGLE_CSV
    from pipeline.records import Recipe, parse_list

    table = pd.read_csv(folder / KAGGLE_CSV, dtype=str, keep_default_na=False)
    out = {}
    for row in table.itertuples(index=False):
        ingredients = parse_list(row.Ingredients, newline_split=True)
        if ingredients and row.Image_Name not in out:
            out[row.Image_Name] = Recipe(id=row.Image_Name, title=row.Title.strip(), ingredients=ingredients)
    return out


def score(rows: list[dict], recipes: dict, diets: dict, lines_only: bool) -> dict:
    from embeddings.serving.ingredients import IngredientWords

    found = [row for row in rows if row["image_name"] in recipes]
    chosen = [recipes[row["image_name"]] for row in found]
    words = IngredientWords([r.ingredients for r in chosen], None if lines_only else [r.title for r in chosen])
    out = {"audited": len(rows), "found": len(found)}
    for chip in CHIPS:
        column = f"breaks_{chip}"
        labelled = [row for row in found if str(row.get(column, "")).strip() != ""]
        at = np.array([found.index(row) for row in labelled], dtype=np.int64)
        breaks = np.array([str(row[column]).strip().lower() in TRUE for row in labelled], dtype=bool)
        kept = words.mask([], diets[chip]["without"])[at] if len(at) else np.zeros(0, bool)
        leaked = [row["image_name"] for row, k, b in zip(labelled, kept, breaks) if k and b]
        out[chip] = {
            "labelled": len(labelled),
            "break": int(breaks.sum()),
            "kept_that_break": len(leaked),
            "leak": float(kept[breaks].mean()) if breaks.any() else None,
            "recall": float(kept[~breaks].mean()) if (~breaks).any() else None,
            "leaked": leaked,
            "dropped_that_pass": int((~kept & ~breaks).sum()),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the Epicurious sample (a Kaggle-layout folder)")
    p.add_argument("--audit", type=Path, default=AUDIT)
    p.add_argument("--diets", type=Path, default=None, help="another diets.toml to score (default: the app's)")
    p.add_argument("--lines-only", action="store_true", help="ingredient lines only, not the title")
    p.add_argument("--name", default="diet_audit", help="results/<name>.json (another list: another name)")
    p.add_argument("--label", default="", help="what this word list is, for the report")
    args = p.parse_args(argv)
    from ui.filters import DIETS_FILE, load_diets

    diets, _ = load_diets(args.diets or DIETS_FILE)
    recipes = audited_recipes(Path(args.data))
    rows = read_audit(args.audit)
    figures = {"all": score(rows, recipes, diets, args.lines_only)}
    for pool in sorted({row.get("pool", "") for row in rows} - {""}):
        figures[pool] = score([row for row in rows if row.get("pool") == pool], recipes, diets, args.lines_only)
    print(f"{figures['all']['found']} of {figures['all']['audited']} audited recipes found in {args.data}")
    print("| pool | chip | break | kept that break | leak | recall |")
    print("|---|---|---|---|---|---|")
    for pool, result in figures.items():
        for chip in CHIPS:
            c = result[chip]
            leak = "-" if c["leak"] is None else f"{c['leak']:.1%}"
            recall = "-" if c["recall"] is None else f"{c['recall']:.1%}"
            print(f"| {pool} | {chip} | {c['break']} | {c['kept_that_break']} | {leak} | {recall} |")
    for chip in CHIPS:
        if figures["all"][chip]["leaked"]:
            print(f"{chip} kept: {', '.join(figures['all'][chip]['leaked'])}")
    write_result(
        args.name,
        {
            "label": args.label,
            "audit": shown(args.audit),
            "diets": shown(args.diets or DIETS_FILE),
            "reads": "ingredient lines" + ("" if args.lines_only else " and title"),
            "figures": figures,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
