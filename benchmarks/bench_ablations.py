"""Ablations of the choices the defaults rest on, one table, the sample's protocol.

    python benchmarks/bench_ablations.py --data ../shared/data/epicurious [--only NAME ...] [--quick]

Every variant trains heads on cached frozen features with the default recipe, picks its
epoch and recipe vector on val, and is scored on val (for choosing) and test (reported,
never used to choose). Variants that need new features (Lite2, the whole photo) extract
them once into the cache first, which takes minutes on a CPU. Rows of options removed from
the product (HISTORY) stay in results/ablations.json and are reported as history.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, write_result
from benchmarks.heads_lab import HeadsLab
from benchmarks.quick import QUICK_ROWS
from model.protocol import BAGS, POOL, RECIPE_POOL
from train.loop import val_score

# name -> (preset, config overrides, training-option overrides)
VARIANTS = {
    "default": ("default", {}, {}),
    "embed_dim_256": ("default", {"embed_dim": 256}, {}),
    "head_dropout_0.3": ("default", {"head_dropout": 0.3}, {}),
    "weight_decay_0.3": ("default", {}, {"weight_decay": 0.3}),
    "batch_1024": ("default", {}, {"batch_size": 1024}),
    "whole_photo_224x352": ("default", {"image_width": 352}, {}),
    "lite2": ("lite2", {}, {}),
}
# Ensembles of heads over the same frozen features: name -> seeds (its members).
ENSEMBLES = {"heads_ensemble_3_seeds": (0, 1, 2)}
# Variants whose option was removed from the product after it did not win on val (commit
# 5183784): they can no longer run, but their stored rows in results/ablations.json stay,
# and the report shows them marked as history. name -> what the option did.
HISTORY = {
    "loss_image_recipe_only": "the contrastive loss on the image-recipe pair only (`loss_pairs`)",
    "zero_shot_bridge": "the zero-shot bridge into the image head's input (`zero_shot_bridge`)",
    "hard_negatives_0.25": "hard-negative reweighting of the InfoNCE terms (`hard_negatives`)",
    "hard_negatives_0.5": "hard-negative reweighting of the InfoNCE terms (`hard_negatives`)",
    "hard_negatives_1": "hard-negative reweighting of the InfoNCE terms (`hard_negatives`)",
    "title_pretrain_5_epochs": "5 epochs of photo-title pretraining first (`title_pretrain_epochs`)",
}
HISTORY_NOTE = (
    "removed from the product: none beat the default's val score by more than one split's noise (the closest, "
    "hard_negatives_0.5 at 0.0583 and title_pretrain_5_epochs at 0.0578 against 0.0576, differ by less than the "
    "±0.002 a variant moves between draws in the split-noise table); numbers kept as history"
)

# --quick: one variant per kind of override (config, training option), a few epochs each on
# the first QUICK_ROWS usable rows: a smoke run, scores mean nothing. (The ensemble would
# build three more models, seconds of CPU each, for no path the others do not run.)
QUICK_VARIANTS = ("default", "embed_dim_256", "weight_decay_0.3")
QUICK_EPOCHS = 3


def row(result: dict, note: str = "") -> str:
    """One table row; `note` follows the name (e.g. the history mark of a removed option)."""
    v, t = result["val"], result["test"]
    im2rec = t["image_to_recipe"]
    return (
        f"| {result['name']}{note} | {val_score(v):.4f} | {v['image_to_recipe']['r1']:.3f} | "
        f"{v['title_to_image']['r1']:.3f} | {im2rec['r1']:.3f} ± {im2rec['r1_std']:.3f} | {im2rec['r10']:.3f} | "
        f"{im2rec['medr']:.1f} | {t['recipe_to_image']['r1']:.3f} | {t['title_to_image']['r1']:.3f} | "
        f"{t['image_to_title']['r1']:.3f} | {result['recipe_vector']} | {result['best_epoch']} |"
    )


HEADER = (
    "| variant | val mean R@1 | val im→rec R@1 | val title→im R@1 | test im→rec R@1 | test im→rec R@10 | "
    "test im→rec MedR | test rec→im R@1 | test title→im R@1 | test im→title R@1 | recipe vector | best epoch |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def best_on_val(variants: list[dict]) -> dict:
    """The same criterion training uses to pick an epoch: mean val R@1 over four directions."""
    return max(variants, key=lambda r: val_score(r["val"]))


def protocol() -> str:
    return (
        f"val for choosing, test reported; {BAGS} bags of {RECIPE_POOL} pairs (recipe directions), "
        f"{BAGS} bags of {POOL:,} (title directions)"
    )


def chosen_names(p: argparse.ArgumentParser, args) -> list[str]:
    runnable = [*VARIANTS, *ENSEMBLES]
    for name in args.only or []:
        if name in HISTORY:
            p.error(f"{name}: {HISTORY[name]} was {HISTORY_NOTE.split(';')[0]}")
        if name not in runnable:
            p.error(f"unknown variant {name!r}; choose from {', '.join(runnable)}")
    return args.only or (list(QUICK_VARIANTS) if args.quick else runnable)


def stored_rows(only: bool) -> dict[str, dict]:
    """Rows of results/ablations.json a full run keeps: every row for an --only run (it merges
    into the table), else the history rows (their options cannot run any more)."""
    previous = RESULTS / "ablations.json"
    if not previous.exists():
        return {}
    rows = {r["name"]: r for r in json.loads(previous.read_text())["variants"]}
    return rows if only else {name: r for name, r in rows.items() if name in HISTORY}


def run_variant(lab: HeadsLab, name: str, quick: bool) -> dict:
    epochs = {"epochs": QUICK_EPOCHS} if quick else {}
    if name in ENSEMBLES:
        return lab.run_ensemble(name, ENSEMBLES[name], epochs)
    preset_name, config, options = VARIANTS[name]
    return lab.run(name, preset_name, config, {**options, **epochs})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--only", nargs="*", help=f"variants to run (default: all): {', '.join([*VARIANTS, *ENSEMBLES])}")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"only {', '.join(QUICK_VARIANTS)}, {QUICK_EPOCHS} epochs, on the first {QUICK_ROWS} "
        "usable rows; written to ablations_quick.json",
    )
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "lab", help="scratch folder (one per variant)")
    args = p.parse_args()
    names = chosen_names(p, args)
    lab = HeadsLab(args.data, work=args.work, limit=QUICK_ROWS if args.quick else None)
    # A quick run's table holds only its own rows: smoke figures never join the stored ones.
    results = {} if args.quick else stored_rows(bool(args.only))
    for name in names:
        print(f"training variant {name} ...", flush=True)
        results[name] = run_variant(lab, name, args.quick)
        print(HEADER.splitlines()[0] + "\n" + row(results[name]), flush=True)
    ordered = [results[n] for n in [*VARIANTS, *ENSEMBLES, *HISTORY] if n in results]
    best = best_on_val(ordered)
    print("\n" + HEADER + "\n" + "\n".join(row(r, " (history)" if r["name"] in HISTORY else "") for r in ordered))
    print(f"\nbest on val (mean R@1 over the four directions, as training selects epochs): {best['name']}")
    write_result(
        "ablations_quick" if args.quick else "ablations",
        {"data": args.data, "protocol": protocol(), "best_on_val": best["name"], "variants": ordered},
    )


if __name__ == "__main__":
    main()
