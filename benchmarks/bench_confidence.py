"""How far can a person trust what the app says of its answers? The "how sure" mappings
and the "looks like" rule a model carries (fitted on val by train/calibration.py), scored
on test, and "more like this one" measured.

    python benchmarks/bench_confidence.py --model DIR --index DIR

Protocol (train/calibration.py's): each test row with a recipe is a query, searched as
the app searches it against the whole index the app serves (every split's rows, no
filter): its photo (expanded as the app expands it) among the recipes, its title among
the recipes ("fused"), its recipe (expanded) among every photo. Right: the query's own
row first (or among the first 8, the app's default count); the same kind of dish first
(model/dish_kinds.py's class of the titles). For each outcome, a reliability table (10
equal-width bins of the predicted probability: the share that came true in each) and
the expected calibration error (ECE: the bins' |predicted - observed| weighted by size).

"More like this one": for test photos whose own recipe is among the first ten results
but not first, a person who picks the right one asks for its neighbours
(embeddings/serving/neighbours.py). Measured: of those ten neighbours, how many are the same
kind of dish as the photo's own recipe, against the ten neighbours of the first answer
and the photo search's own first ten; and where the photo's own recipe's neighbours
rank in the photo's search compared with the first answer's neighbours (median rank).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import load_average, shown, write_result

NEIGHBOURS = 10


def more_like_this(model, index, pool, calibration) -> dict:
    """The module docstring's "more like this one" figures over the test photos."""
    import torch

    from embeddings.serving.neighbours import recipe_neighbours

    kinds = calibration.kinds_of(pool.titles, model.fitted.confidence.kinds)
    seen = calibration.observe(model, pool, "image_to_recipe", "test")
    field = model.fitted.recipe_vector
    candidates = pool.field(field)
    picked = [(row, top) for row, rank, top in zip(seen.rows, seen.rank, seen.top) if 1 < rank <= NEIGHBOURS]
    same = {"own recipe's neighbours": [], "first answer's neighbours": [], "photo search's first ten": []}
    ranks = {"own recipe's neighbours": [], "first answer's neighbours": []}
    for row, top in picked:
        with torch.no_grad():
            query = model.expand("image_to_recipe", pool.image[row : row + 1])[0]
        scores = (candidates @ query).masked_fill(~pool.has_recipe, float("-inf"))
        order = torch.argsort(scores, descending=True)
        position = torch.empty_like(order)
        position[order] = torch.arange(1, len(order) + 1)
        own_kind = kinds[row]
        for name, start in (("own recipe's neighbours", row), ("first answer's neighbours", int(top[0]))):
            near = [hit.row for hit in recipe_neighbours(index, start, field, NEIGHBOURS)]
            same[name].append(np.mean([kinds[r] == own_kind and own_kind > 0 for r in near]))
            ranks[name].append(float(np.median(position[near].numpy())))
        same["photo search's first ten"].append(np.mean([kinds[r] == own_kind and own_kind > 0 for r in top]))
    return {
        "photos": len(picked),
        "of_test_photos": len(seen.rows),
        "same_kind_share": {name: float(np.mean(v)) if v else None for name, v in same.items()},
        "median_rank_in_photo_search": {name: float(np.median(v)) if v else None for name, v in ranks.items()},
    }


def table(name: str, figures: dict) -> str:
    lines = [
        f"{name}: ECE {figures['ece']:.3f} over {figures['queries']} queries",
        "| predicted | queries | mean predicted | came true |",
        "|---|---|---|---|",
    ]
    for b in figures["bins"]:
        lines.append(
            f"| {b['low']:.1f}-{b['high']:.1f} | {b['queries']} | {b['predicted']:.3f} | {b['observed']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="a model folder with a fitted confidence")
    p.add_argument("--index", type=Path, required=True, help="the index the app serves with it")
    args = p.parse_args(argv)
    from embeddings import load_index
    from model import load_pretrained
    from train import calibration

    loads = [load_average()]
    model = load_pretrained(args.model)
    if model.fitted.confidence is None:
        raise SystemExit(f"{args.model} has no fitted confidence: run python -m train.calibration first")
    index = load_index(args.index)
    index.check_model(model)
    pool = calibration.pool_from_index(index)
    figures = calibration.score(model, pool, "test")
    for kind, outcomes in figures.items():
        if kind == "looks_like":
            continue
        for name, reliability in outcomes.items():
            print(f"\n{kind}, {name}\n{table(name, reliability)}")
    looks = figures["looks_like"]
    fitted = model.fitted.confidence.looks_like
    print(
        f"\nlooks like: said when at least {fitted.get('min_votes')} of {fitted.get('closest')} closest agree "
        f"(val precision {fitted.get('val_precision')}, coverage {fitted.get('val_coverage')}); "
        f"test coverage {looks['coverage']:.1%}, precision {looks['precision']}; the leading kind is the photo's "
        f"own kind for {looks['leading_kind_right_any_votes']:.1%} of test photos whatever its votes"
    )
    more = more_like_this(model, index, pool, calibration)
    print(f"\nmore like this ({more['photos']} of {more['of_test_photos']} test photos: own recipe 2nd-10th):")
    for name, share in more["same_kind_share"].items():
        print(f"  {name}: {share:.1%} the photo's own kind of dish")
    for name, rank in more["median_rank_in_photo_search"].items():
        print(f"  {name}: median rank {rank:.0f} in the photo's own search")
    loads.append(load_average())
    write_result(
        "confidence",
        {
            "model": shown(args.model),
            "index": shown(args.index),
            "protocol": calibration.POOL_WORDS,
            "fitted_looks_like": fitted,
            "test": figures,
            "more_like_this": more,
            "load_average": loads,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
