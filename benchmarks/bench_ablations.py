"""Ablations of the choices the defaults rest on, one table, the sample's protocol.

    python benchmarks/bench_ablations.py --data ../shared/data/epicurious [--only NAME ...] [--quick]

Every variant trains heads on cached frozen features with the default recipe, picks its
epoch and recipe vector on val, and is scored on val (for choosing) and test (reported,
never used to choose). Variants that need new features (Lite2, the whole photo) extract
them once into the cache first, which takes minutes on a CPU.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, RESULTS, write_result  # noqa: E402
from benchmarks.heads_lab import HeadsLab  # noqa: E402
from train.loop import val_score  # noqa: E402

# name -> (preset, config overrides, training-option overrides)
VARIANTS = {
    "default": ("default", {}, {}),
    "embed_dim_256": ("default", {"embed_dim": 256}, {}),
    "loss_image_recipe_only": ("default", {}, {"loss_pairs": "image_recipe"}),
    "zero_shot_bridge": ("default", {"zero_shot_bridge": True}, {}),
    "head_dropout_0.3": ("default", {"head_dropout": 0.3}, {}),
    "weight_decay_0.3": ("default", {}, {"weight_decay": 0.3}),
    "batch_1024": ("default", {}, {"batch_size": 1024}),
    "whole_photo_224x352": ("default", {"image_width": 352}, {}),
    "lite2": ("lite2", {}, {}),
    "hard_negatives_0.25": ("default", {}, {"hard_negatives": 0.25}),
    "hard_negatives_0.5": ("default", {}, {"hard_negatives": 0.5}),
    "hard_negatives_1": ("default", {}, {"hard_negatives": 1.0}),
    "title_pretrain_5_epochs": ("default", {}, {"title_pretrain_epochs": 5}),
}
# Ensembles of heads over the same frozen features: name -> seeds (its members).
ENSEMBLES = {"heads_ensemble_3_seeds": (0, 1, 2)}


# --quick: one variant per kind of override (config, training option), 3 epochs each.
QUICK_VARIANTS = ("default", "embed_dim_256", "loss_image_recipe_only")
QUICK_EPOCHS = 3


def row(result: dict) -> str:
    v, t = result["val"], result["test"]
    return (f"| {result['name']} | {val_score(v):.4f} | {v['image_to_recipe']['r1']:.3f} | {v['title_to_image']['r1']:.3f} | "
            f"{t['image_to_recipe']['r1']:.3f} ± {t['image_to_recipe']['r1_std']:.3f} | {t['image_to_recipe']['r10']:.3f} | "
            f"{t['image_to_recipe']['medr']:.1f} | {t['recipe_to_image']['r1']:.3f} | {t['title_to_image']['r1']:.3f} | "
            f"{t['image_to_title']['r1']:.3f} | {result['recipe_vector']} | {result['best_epoch']} |")


HEADER = ("| variant | val mean R@1 | val im→rec R@1 | val title→im R@1 | test im→rec R@1 | test im→rec R@10 | test im→rec MedR | "
          "test rec→im R@1 | test title→im R@1 | test im→title R@1 | recipe vector | best epoch |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def best_on_val(variants: list[dict]) -> dict:
    """The same criterion training uses to pick an epoch: mean val R@1 over four directions."""
    return max(variants, key=lambda r: val_score(r["val"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--only", nargs="*", help=f"variants to run (default: all): {', '.join([*VARIANTS, *ENSEMBLES])}")
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_VARIANTS)}, {QUICK_EPOCHS} epochs")
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "lab", help="scratch folder (one per variant)")
    args = p.parse_args()
    names = args.only or (list(QUICK_VARIANTS) if args.quick else [*VARIANTS, *ENSEMBLES])
    lab = HeadsLab(args.data, work=args.work)
    previous = RESULTS / "ablations.json"
    results = {r["name"]: r for r in json.loads(previous.read_text())["variants"]} if previous.exists() and args.only else {}
    for name in names:
        print(f"training variant {name} ...", flush=True)
        if name in ENSEMBLES:
            results[name] = lab.run_ensemble(name, ENSEMBLES[name])
        else:
            preset_name, config, options = VARIANTS[name]
            if args.quick:
                options = {**options, "epochs": QUICK_EPOCHS}
            results[name] = lab.run(name, preset_name, config, options)
        print(HEADER.splitlines()[0] + "\n" + row(results[name]), flush=True)
    ordered = [results[n] for n in [*VARIANTS, *ENSEMBLES] if n in results]
    best = best_on_val(ordered)
    print("\n" + HEADER + "\n" + "\n".join(row(r) for r in ordered))
    print(f"\nbest on val (mean R@1 over the four directions, as training selects epochs): {best['name']}")
    write_result("ablations_quick" if args.quick else "ablations", {
        "data": args.data, "protocol": "val for choosing, test reported; 10 bags of 500 pairs (recipe directions), "
        "10 bags of 1,000 (title directions)", "best_on_val": best["name"], "variants": ordered})


if __name__ == "__main__":
    main()
