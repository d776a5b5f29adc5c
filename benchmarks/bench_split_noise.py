"""How far a test figure moves when only the train/val/test draw changes.

    python benchmarks/bench_split_noise.py --data ../shared/data/epicurious [--splits 8]

The frozen-feature floor of issue #2 (image→recipe R@1 ≈ 0.09, MedR ≈ 28) was measured by
an independent run on its own split of this sample. With ~550 test recipes one split's
R@1 carries a binomial standard error of ~0.012, so one split cannot tell a bug from
the draw. This benchmark trains the frozen-heads pipeline (cached backbone features, the
configuration the floor describes) on K splits drawn with different salts of the same
photo-name hash (salt "" is the product's split), chooses epoch and recipe vector on each
split's val, scores each split's test with the sample's protocol (10 bags of 500 / 1,000),
and reports every split, their mean and spread, and a plot against the floor.

    python benchmarks/bench_split_noise.py --label seed_head --config '{"head_final_linear": false}'

runs a variant over the same splits and seeds (--config: RetrieverConfig fields, --options:
TrainOptions fields, as JSON) into results/split_noise_<label>.json; the report compares it
with the baseline split by split, on val (which chooses) and test.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, load_average, write_result
from benchmarks.heads_lab import HeadsLab
from model.protocol import BAGS, POOL, RECIPE_POOL

# Issue #2's floor: image→recipe R@1 / MedR on 500-pair bags, title→image on 1,000-pair bags.
FLOOR = {"image_to_recipe": {"r1": 0.09, "medr": 28}, "title_to_image": {"r1": 0.04, "medr": 78}}
FIGURES = (
    ("image_to_recipe", "r1"),
    ("image_to_recipe", "r10"),
    ("image_to_recipe", "medr"),
    ("recipe_to_image", "r1"),
    ("title_to_image", "r1"),
    ("title_to_image", "medr"),
    ("image_to_title", "r1"),
)


def summary(rows: list[dict]) -> dict:
    """Mean, standard deviation over splits, and the standard error of the mean."""
    out = {}
    for direction, metric in FIGURES:
        values = [r["test"][direction][metric] for r in rows]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        out[f"{direction}.{metric}"] = {
            "mean": statistics.fmean(values),
            "sd": sd,
            "sem": sd / len(values) ** 0.5,
            "min": min(values),
            "max": max(values),
        }
    return out


def oracle(history: list[dict], val_epoch: int, val_im2rec: list[float]) -> dict:
    """Test image→recipe R@1 (recipe vector, as the loop scores epochs) at the epoch val
    chose (mean R@1 of four directions, the product's rule), at the epoch val image→recipe
    R@1 alone would choose, and the best any epoch reached on test: the optimism of
    choosing on test."""
    r1 = [h["val"]["image_to_recipe"]["r1"] for h in history]  # "val" here is the monitored split: test
    medr = [h["val"]["image_to_recipe"]["medr"] for h in history]
    best = max(range(len(r1)), key=r1.__getitem__)
    by_im2rec = max(range(len(val_im2rec)), key=val_im2rec.__getitem__)
    return {
        "at_val_epoch": r1[val_epoch - 1],
        "medr_at_val_epoch": medr[val_epoch - 1],
        "at_val_im2rec_epoch": r1[by_im2rec],
        "medr_at_val_im2rec_epoch": medr[by_im2rec],
        "best_over_epochs": r1[best],
        "medr_at_best": medr[best],
        "best_epoch": best + 1,
        "per_epoch_r1": r1,
    }


def plot(rows: list[dict], path: Path) -> None:
    from train.plots import save_figure  # first: it sets the Agg backend pyplot then uses

    # isort: split
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, direction in zip(axes, ("image_to_recipe", "title_to_image")):
        values = [r["test"][direction]["r1"] for r in rows]
        colours = ["tab:red" if r["salt"] == "" else "tab:blue" for r in rows]
        ax.scatter(range(len(values)), values, c=colours, zorder=3)
        ax.axhline(statistics.fmean(values), color="tab:blue", linestyle=":", label=f"mean of {len(values)} splits")
        ax.axhline(FLOOR[direction]["r1"], color="black", linestyle="--", label="independent run's floor")
        ax.set_xticks(range(len(values)), [r["salt"] or "product" for r in rows], rotation=45)
        ax.set_xlabel("split (salt)")
        ax.set_ylabel("test R@1")
        bags = f" ({RECIPE_POOL}-pair bags)" if "recipe" in direction else f" ({POOL:,}-pair bags)"
        ax.set_title(direction.replace("_", " ") + bags)
        ax.set_ylim(0, max(values + [FLOOR[direction]["r1"]]) * 1.3)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Frozen heads, one point per train/val/test draw (red: the product's split)", fontsize=10)
    save_figure(fig, path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--splits", type=int, default=8, help="how many draws: the product's split plus K-1 salted ones")
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "lab-splits", help="scratch folder")
    p.add_argument("--label", default="", help="name of a variant (default: the frozen-heads baseline)")
    p.add_argument("--config", type=json.loads, default={}, help="RetrieverConfig overrides as JSON")
    p.add_argument("--options", type=json.loads, default={}, help="TrainOptions overrides as JSON")
    p.add_argument(
        "--oracle",
        action="store_true",
        help="diagnostic: also train each split watching test every epoch, and report what choosing "
        "the epoch on test would have shown (never used for a choice)",
    )
    args = p.parse_args()
    if (args.config or args.options) and not args.label:
        p.error("a variant (--config/--options) needs a --label")
    load_start = load_average()
    lab = HeadsLab(args.data, work=args.work)
    name = f"split_noise_{args.label}" if args.label else "split_noise"
    stored = json.loads((RESULTS / f"{name}.json").read_text()) if (RESULTS / f"{name}.json").is_file() else {}
    same = stored.get("config") == args.config and stored.get("options") == args.options and not args.oracle
    # A split this variant already ran, on the same rows, is kept (the file is written after
    # every split, so a run stopped part way goes on where it stopped).
    done = {r["salt"]: r for r in stored.get("splits", [])} if same else {}
    rows = []
    for k in range(args.splits):
        salt = "" if k == 0 else f"split{k}:"
        lab.resplit(salt)
        sizes = {s: sum(r.has_recipe for r in lab.splits[s]) for s in lab.splits}
        if salt in done and done[salt].get("full_recipes") == sizes:
            rows.append(done[salt])
            print(f"split {salt or 'product'}: as stored ({stored['date']})", flush=True)
            continue
        result = lab.run(f"{args.label or 'baseline'}_split_{k}", config=args.config, options=args.options)
        result.update(salt=salt, full_recipes=sizes)
        if args.oracle:
            result["oracle"] = oracle(
                lab.trajectory(f"{args.label or 'baseline'}_oracle_{k}", "test", args.config, args.options),
                result["best_epoch"],
                result["val_r1_per_epoch"]["image_to_recipe"],
            )
            print(
                f"  test im→rec R@1 (recipe vector) at the val-chosen epoch {result['oracle']['at_val_epoch']:.3f}, "
                f"at the epoch of best val im→rec {result['oracle']['at_val_im2rec_epoch']:.3f}, "
                f"best over epochs {result['oracle']['best_over_epochs']:.3f} (epoch {result['oracle']['best_epoch']})",
                flush=True,
            )
        rows.append(result)
        t = result["test"]
        print(
            f"split {salt or 'product'}: test recipes {sizes['test']}, im→rec R@1 {t['image_to_recipe']['r1']:.3f} "
            f"MedR {t['image_to_recipe']['medr']:.1f}, title→im R@1 {t['title_to_image']['r1']:.3f} "
            f"MedR {t['title_to_image']['medr']:.1f} (best epoch {result['best_epoch']})",
            flush=True,
        )
        if k < args.splits - 1:
            save(name, args, rows, summary(rows), load_start)
    stats = summary(rows)
    if args.oracle:
        for key in (
            "at_val_epoch",
            "at_val_im2rec_epoch",
            "best_over_epochs",
            "medr_at_val_epoch",
            "medr_at_val_im2rec_epoch",
            "medr_at_best",
        ):
            values = [r["oracle"][key] for r in rows]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            stats[f"oracle.image_to_recipe.{key}"] = {
                "mean": statistics.fmean(values),
                "sd": sd,
                "sem": sd / len(values) ** 0.5,
                "min": min(values),
                "max": max(values),
            }
    for figure_name, s in stats.items():
        print(
            f"{figure_name:24s} mean {s['mean']:.3f} ± {s['sem']:.3f} (sem), sd {s['sd']:.3f}, "
            f"range {s['min']:.3f}–{s['max']:.3f}"
        )
    figure = ROOT / "benchmarks" / "split_noise.png"
    if not args.label:  # the plot shows the baseline against the floor
        plot(rows, figure)
    save(name, args, rows, stats, load_start, figure)


def save(name: str, args, rows: list[dict], stats: dict, load_start, figure: Path | None = None) -> None:
    """The result file: after every split, and at the end with the plot."""
    write_result(
        name,
        {
            "data": args.data,
            "pipeline": "frozen heads (benchmarks/heads_lab.py FROZEN_HEADS)",
            "label": args.label,
            "config": args.config,
            "options": args.options,
            "protocol": f"per split: epoch and recipe vector chosen on val; test scored with {BAGS} bags of "
            f"{RECIPE_POOL} pairs (recipe directions) and {BAGS} bags of {POOL:,} (title directions)",
            "floor": FLOOR,
            "summary": stats,
            "splits": rows,
            "splits_planned": args.splits,
            **({"plot": str(figure.relative_to(ROOT))} if figure else {}),
            "load_average": {"start": load_start, "end": load_average()},
        },
    )


if __name__ == "__main__":
    main()
