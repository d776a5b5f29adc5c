"""What the app's answers are worth, in plain words, for the README: each model's test
figures said as "how often the right one is first / among the first ten".

    python benchmarks/bench_plain_words.py --model artifacts/model [--model artifacts/quick/model] [--data DIR]
        [--keep NAME]   # a model measured before, its stored figures kept (e.g. an unchanged quick model)

Each model is stored under the preset its settings name ("default", "quick"), with the
`python -m train` command that trains it again (train/flags.py command_for, from its
config.json and metrics.json): a figure names how its model was made, not a folder.

Protocol: the test split of the collection (rows no model trained on or chose anything
with), the field's bags (model/protocol.py: 10 draws of 500 recipes for photo<->recipe,
10 of 1,000 photos for the title directions), the queries as the app sends them (the query
expansion and recipe vector each model chose on val).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import RESULTS, command_line, load_average, machine, model_trained_by, shown, write_result

# (direction, what the person gives, what they get back)
SENTENCES = [
    ("image_to_recipe", "a photo of a dish", "its recipe"),
    ("recipe_to_image", "a recipe", "its photo"),
    ("title_to_image", "a dish's name", "its photo"),
]


def sentences(results: dict) -> list[str]:
    out = []
    for direction, given, wanted in SENTENCES:
        m = results[direction]
        out.append(
            f"Given {given}, {wanted} is the first answer {100 * m['r1']:.0f}% of the time and among the first "
            f"ten {100 * m['r10']:.0f}% of the time, out of {m['pool']:,} candidates (half the time it is "
            f"within the first {m['medr']:.0f})."
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", type=Path, required=True, help="model folder (repeatable)")
    parser.add_argument("--data", default="../shared/data/epicurious")
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="NAME",
        help="keep the stored figures of the model of this name (its preset) instead of measuring it again "
        "(repeatable; it says when and by which command it was measured), e.g. the quick model's",
    )
    args = parser.parse_args()

    from embeddings.serving.hub import load_model
    from pipeline.read import load_recipes
    from pipeline.splits import select_split
    from train.evaluate import score
    from train.run_config import saved_run

    loads = [load_average()]
    recipes = select_split(load_recipes(args.data, progress=False), "test")
    models = {}
    for folder in args.model:
        settings = saved_run(folder)
        name = settings.model.preset
        if name in models:
            raise SystemExit(f"two models named {name!r} (the preset their settings name): measure them apart")
        trained_by = model_trained_by(folder)
        results, has_recipe = score(load_model(str(folder)), recipes, progress=False)
        said = sentences(results)
        print(f"\n{name}: {trained_by} ({len(recipes):,} test rows, {int(has_recipe.sum()):,} with a recipe):")
        print("\n".join(f"  {line}" for line in said))
        models[name] = {"trained_by": trained_by, "folder": shown(folder), "results": results, "sentences": said}
    loads.append(load_average())
    stored = RESULTS / "plain_words.json"
    if args.keep:
        before = json.loads(stored.read_text()) if stored.is_file() else {"models": {}}
        for name in args.keep:
            if name not in before["models"] or "trained_by" not in before["models"][name]:
                raise SystemExit(f"--keep {name}: no stored figures of a model of that name in {stored}")
            figures = before["models"][name]
            figures.setdefault("measured", {k: before[k] for k in ("command", "date", "commit")})
            models[name] = figures
    for figures in models.values():
        figures.setdefault("measured", {"command": command_line(), **machine()})
    write_result(
        "plain_words",
        {
            "data": args.data,
            "split": "test",
            "rows": len(recipes),
            "protocol": "10 bags of 500 pairs (photo<->recipe), 10 of 1,000 (title directions), as served",
            "models": models,
            "load_average": loads,
        },
    )


if __name__ == "__main__":
    main()
