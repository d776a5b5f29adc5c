"""The seed systems' designs on one table: each preset of train/designs.py and each of
their components added alone to today's pipeline, trained on the same cached features.

    python benchmarks/bench_seed_designs.py [--data DIR] [--only NAME ...]

Every row trains the frozen-heads tier of benchmarks/heads_lab.py (Lite0 + MiniLM
frozen, lexical features, one plain view a photo, 30 epochs, no ingredient loss unless
the row adds it): the tier at which a variant costs minutes, so every design is trained
and scored the same way. Each row chooses its epoch and recipe vector on val (mean R@1 of
four directions) and is scored on test with the sample's protocol; test never chooses.
The im2recipe mismatch-rate study (0.2 / 0.5 / 0.8) is its own small table.

CPU minutes from nothing = the extraction of the cache entries a row reads (text, plain
photo crops, and per-line text features for the sequence encoders), priced at rates
measured here on a slice of the collection, plus the row's measured head training.
The finalists go through the eight-split paired comparison of bench_split_noise.py
(`--label NAME --config ... --options ...`), so a gain is called one only beyond the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchmarks.bench_quality import measure_rates
from benchmarks.common import RESULTS, ROOT, load_average, machine, write_result
from benchmarks.heads_lab import FROZEN_HEADS, HeadsLab
from benchmarks.quick import QUICK_ROWS
from model.protocol import BAGS, POOL, RECIPE_POOL
from train.designs import design_overrides

# name -> (RetrieverConfig overrides, TrainOptions overrides), each row against the first.
COMPONENTS = {
    "today's pipeline": ({}, {}),
    "+ LSTM recipe encoder": ({"recipe_encoder": "lstm"}, {}),
    "+ hierarchical recipe encoder": ({"recipe_encoder": "hierarchical"}, {}),
    "+ AdaMine loss (instance + dish-class triplets)": ({}, {"loss": "adamine"}),
    "+ im2recipe cosine loss (80% mismatches) + dish classifier": ({}, {"loss": "cosine"}),
    "+ ingredient-word loss": ({}, {"ingredient_weight": 0.1}),
    "+ ingredient-word loss + debiasing": ({}, {"ingredient_weight": 0.1, "debias": True}),
}
PRESETS = {f"preset {name}": design_overrides(name) for name in ("im2recipe", "adamine", "ht-debias", "hf-icma")}
RERANK_ROW = "+ region × ingredient re-ranker (top 20)"
COMPONENTS[RERANK_ROW] = ({"rerank": 20}, {})
MISMATCH_RATES = (0.2, 0.5, 0.8)


def quiet_rates(rates: dict) -> tuple[dict, str]:
    """Rates to price with, and where they come from. This machine is shared, so rates
    measured under load price a row far above what it costs alone: the quality ladder's
    rates (results/quality.json, measured at a low load) are used where it has them, and
    the per-line rate is carried over as its ratio to the recipe rate measured here, both
    under the same load."""
    ladder = RESULTS / "quality.json"
    if not ladder.is_file():
        return rates, "measured in this run"
    ladder_result = json.loads(ladder.read_text())
    quiet, load = ladder_result["extraction_rates_per_second"], ladder_result["load_average_while_measuring_rates"]
    priced = {k: quiet[k] for k in ("plain_photo", "recipe_with_title", "title_only")}
    priced["recipe_lines"] = quiet["recipe_with_title"] * rates["recipe_lines"] / rates["recipe_with_title"]
    where = (
        f"results/quality.json's rates (load average {load['before']:.1f}); per-line features at their "
        "ratio to recipe features, both measured in this run"
    )
    return priced, where


def extraction_minutes(config: dict, rates: dict, recipes: list) -> float:
    full = sum(r.has_recipe for r in recipes)
    seconds = full / rates["recipe_with_title"] + (len(recipes) - full) / rates["title_only"]
    seconds += len(recipes) / rates["plain_photo"]
    if config.get("recipe_encoder", "pooled") != "pooled" or config.get("rerank"):
        seconds += full / rates["recipe_lines"]  # per-line features (the re-ranker reads ingredient lines)
    if config.get("rerank"):
        seconds += len(recipes) / rates["plain_photo"]  # the regions: one more backbone pass over the photos
    return seconds / 60


def summarise(name: str, result: dict, config: dict, options: dict, extraction: float) -> dict:
    t = result["test"]
    return {
        "name": name,
        "config": config,
        "options": options,
        "best_epoch": result["best_epoch"],
        "val_score": sum(m["r1"] for m in result["val"].values()) / len(result["val"]),
        "val": result["val"],
        "test": t,
        "recipe_vector": result["recipe_vector"],
        "training_minutes": result["head_training_seconds"] / 60,
        "cost_minutes": extraction + result["head_training_seconds"] / 60,
        "headline": {
            "image_to_recipe_r1": t["image_to_recipe"]["r1"],
            "title_to_image_r1": t["title_to_image"]["r1"],
        },
    }


# What the re-ranker trained on before train/rerank.py recorded it.
FIRST_RERANK_TRAINING = "in-batch InfoNCE over random training pairs"


def superseded_entry(row_name: str, row: dict) -> dict:
    """A stored row's re-ranker figures, named by how it trained and when it was measured."""
    r = row["rerank"]
    return {
        "row": row_name,
        "training": r.get("training", FIRST_RERANK_TRAINING),
        "measured": row.get("measured", {}),
        **{
            key: r[key]
            for key in (
                "k",
                "val_image_to_recipe_r1_dual",
                "val_image_to_recipe_r1_reranked",
                "test_image_to_recipe_r1_dual",
                "test_image_to_recipe_r1_reranked",
                "alpha",
            )
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "lab-designs", help="scratch folder")
    p.add_argument(
        "--only", nargs="*", help='row names to run, or "mismatch" for the study (default: every row and the study)'
    )
    p.add_argument("--no-mismatch-study", action="store_true", help="skip the 0.2 / 0.5 / 0.8 study")
    p.add_argument(
        "--quick", action="store_true", help=f"the first {QUICK_ROWS} rows, 2 epochs: a smoke run (scores mean nothing)"
    )
    args = p.parse_args()
    load_start, started = load_average(), time.time()
    work = args.work / ("quick" if args.quick else "full")
    lab = HeadsLab(args.data, work=work, limit=QUICK_ROWS if args.quick else None)
    quick = {"epochs": 2} if args.quick else {}
    name = "seed_designs_quick" if args.quick else "seed_designs"
    stored = json.loads((RESULTS / f"{name}.json").read_text()) if (RESULTS / f"{name}.json").is_file() else {}
    if args.only is not None and "rates_measured" in stored:
        # A partial run prices its rows as the stored ones were (a few minutes of extraction saved).
        measured, rates_load = stored["rates_measured"], stored["rates_load_average"]
        print(f"extraction rates as stored ({stored['date']})", flush=True)
    else:
        rates_load = os.getloadavg()[0]
        measured = measure_rates(lab.recipes, sample=32 if args.quick else 256)
    print("extraction rates (items/s): " + ", ".join(f"{k} {v:.1f}" for k, v in measured.items()), flush=True)
    rates, priced_by = quiet_rates(measured)
    # Rows already stored stay until this run measures them again; the file is rewritten
    # after every row, each row stamped with its own date, commit and load, so a killed
    # run (a row can take most of an hour on 2 busy cores) loses one row, not all.
    rows = {r["name"]: r for r in stored.get("rows", [])}
    study = {r["name"]: r for r in stored.get("mismatch_study", [])}
    # Re-ranker figures of a design that was replaced (its training changed): kept, so the
    # table still shows what the first design measured.
    superseded = stored.get("superseded_rerank", [])
    order = list({**COMPONENTS, **PRESETS})

    def save() -> None:
        write_result(
            name,
            {
                "data": args.data,
                "tier": f"frozen heads (benchmarks/heads_lab.py FROZEN_HEADS: {FROZEN_HEADS.epochs} epochs, "
                f"{FROZEN_HEADS.views} view, no fine-tuning)",
                "protocol": f"epoch and recipe vector chosen on val; test scored with {BAGS} bags of {RECIPE_POOL} "
                f"pairs (recipe directions) and {BAGS} bags of {POOL:,} (title directions)",
                "rates_measured": measured,
                "rates_load_average": rates_load,
                "rates": rates,
                "priced_by": priced_by,
                "rows": sorted(rows.values(), key=lambda r: order.index(r["name"])),
                "mismatch_study": sorted(study.values(), key=lambda r: r["mismatch_rate"]),
                "superseded_rerank": superseded,
                "bench_minutes": (time.time() - started) / 60,
                "load_average": {"start": load_start, "end": load_average()},
            },
        )

    for row_name, (config, options) in {**COMPONENTS, **PRESETS}.items():
        if args.only is not None and row_name not in args.only:
            continue
        row_load = load_average()
        result = lab.run(row_name.replace(" ", "_")[:60], config=config, options={**options, **quick})
        row = summarise(row_name, result, config, options, extraction_minutes(config, rates, lab.recipes))
        if config.get("rerank"):  # the scorer trains on top of the dual encoder run() left
            row["rerank"] = lab.rerank(lab.last_model, lab.last_sources)
            row["training_minutes"] += row["rerank"]["training_seconds"] / 60
            row["cost_minutes"] += row["rerank"]["training_seconds"] / 60
            print(
                f"  re-ranked top {config['rerank']}: val im→rec R@1 {row['rerank']['val_image_to_recipe_r1_dual']:.3f}"
                f" -> {row['rerank']['val_image_to_recipe_r1_reranked']:.3f}, test "
                f"{row['rerank']['test_image_to_recipe_r1_dual']:.3f} -> "
                f"{row['rerank']['test_image_to_recipe_r1_reranked']:.3f}",
                flush=True,
            )
        before = rows.get(row_name, {}).get("rerank")
        if before and before.get("training") != row["rerank"].get("training"):
            superseded.append(superseded_entry(row_name, rows[row_name]))
        rows[row_name] = {**row, "measured": {**machine(), "load_average": [row_load, load_average()]}}
        print(
            f"{row_name}: val {row['val_score']:.4f}, test im→rec R@1 {row['headline']['image_to_recipe_r1']:.3f}, "
            f"title→im R@1 {row['headline']['title_to_image_r1']:.3f}, {row['cost_minutes']:.1f} CPU min",
            flush=True,
        )
        save()
    if not args.no_mismatch_study:
        config, options = design_overrides("im2recipe")
        for rate in MISMATCH_RATES:
            row_name = f"im2recipe, mismatch rate {rate}"
            if args.only is not None and row_name not in args.only and "mismatch" not in args.only:
                continue
            preset_row = rows.get("preset im2recipe")
            if preset_row and preset_row["options"] == {**options, "mismatch_rate": rate}:
                # The preset's own rate: the same training to the last draw, so its row is reused.
                study[row_name] = {**preset_row, "name": row_name, "mismatch_rate": rate, "row_of": preset_row["name"]}
                print(f"{row_name}: the preset im2recipe row (same settings): val {preset_row['val_score']:.4f}")
                save()
                continue
            row_load = load_average()
            result = lab.run(f"mismatch_{rate}", config=config, options={**options, "mismatch_rate": rate, **quick})
            row = summarise(row_name, result, config, {**options, "mismatch_rate": rate}, 0.0)
            study[row_name] = {
                **row,
                "mismatch_rate": rate,
                "measured": {**machine(), "load_average": [row_load, load_average()]},
            }
            print(f"{row_name}: val {row['val_score']:.4f}", flush=True)
            save()


if __name__ == "__main__":
    main()
