"""RESULTS.md's section on the seed systems' designs (bench_seed_designs.py), and the
README's short version. Formats only."""

from __future__ import annotations

from benchmarks.report_format import load_note, load_result, markdown_table, source_line

# Issue 16's targets on the test split (500-pair bags / 1,000-pair bags), from <= 45 CPU minutes.
TARGETS = {"image_to_recipe": 0.16, "title_to_image": 0.08, "minutes": 45}


def _row(r: dict, baseline_val: float) -> list:
    t = r["test"]
    return [
        r["name"],
        f"{r['cost_minutes']:.1f}",
        f"{r['training_minutes']:.1f}",
        f"{r['val_score']:.4f} ({r['val_score'] - baseline_val:+.4f})",
        f"{t['image_to_recipe']['r1']:.3f} ± {t['image_to_recipe']['r1_std']:.3f}",
        f"{t['image_to_recipe']['r10']:.3f}",
        f"{t['image_to_recipe']['medr']:.1f}",
        f"{t['recipe_to_image']['r1']:.3f}",
        f"{t['title_to_image']['r1']:.3f} ± {t['title_to_image']['r1_std']:.3f}",
        f"{t['image_to_title']['r1']:.3f}",
    ]


def seed_designs_section() -> str:
    r = load_result("seed_designs")
    if not r:
        return "_Not run yet: `python benchmarks/bench_seed_designs.py`._"
    rows = r["rows"]
    baseline_val = rows[0]["val_score"]
    header = [
        "row",
        "CPU min from nothing",
        "of which training",
        "val mean R@1 (chooses; vs first row)",
        "test im→rec R@1",
        "R@10",
        "MedR",
        "rec→im R@1",
        "title→im R@1",
        "im→title R@1",
    ]
    text = (
        f"Each seed system's design as a preset on our backbones (`python -m train --preset NAME`, "
        f"train/designs.py) and each of its components added alone to today's pipeline (the product as it was "
        f"before this comparison: the pooled recipe encoder), all trained at one tier: "
        f"{r['tier']}. Protocol: {r['protocol']}. CPU minutes from nothing: the feature extraction the row "
        f"reads priced at {r['priced_by']}, plus its measured head training.\n\n"
        + markdown_table(header, [_row(x, baseline_val) for x in rows])
    )
    if r.get("mismatch_study"):
        study = [
            [
                x["mismatch_rate"],
                f"{x['val_score']:.4f}",
                f"{x['test']['image_to_recipe']['r1']:.3f}",
                f"{x['test']['image_to_recipe']['medr']:.1f}",
                f"{x['test']['title_to_image']['r1']:.3f}",
            ]
            for x in r["mismatch_study"]
        ]
        text += (
            "\n\nim2recipe's central experiment, the share of mismatched pairs in its cosine loss (the im2recipe "
            "preset otherwise unchanged):\n\n"
            + markdown_table(["mismatch rate", "val mean R@1", "test im→rec R@1", "MedR", "title→im R@1"], study)
        )
    reranked = [x for x in rows if x.get("rerank")]
    if reranked:
        table = [
            [
                x["name"],
                x["rerank"]["k"],
                f"{x['rerank']['val_image_to_recipe_r1_dual']:.3f} → "
                f"{x['rerank']['val_image_to_recipe_r1_reranked']:.3f}",
                f"{x['rerank']['test_image_to_recipe_r1_dual']:.3f} → "
                f"{x['rerank']['test_image_to_recipe_r1_reranked']:.3f}",
                x["rerank"].get("training", "random in-batch pairs"),
                x["rerank"]["best_epoch"],
                f"{x['rerank']['alpha']:.3f}" + ("" if x["rerank"]["alpha"] else " (off)"),
                f"{x['rerank']['training_seconds'] / 60:.1f}",
            ]
            for x in reranked
        ]
        table += [
            [
                f"{x['row']} (earlier design, {x['measured'].get('date', '?')})",
                x["k"],
                f"{x['val_image_to_recipe_r1_dual']:.3f} → {x['val_image_to_recipe_r1_reranked']:.3f}",
                f"{x['test_image_to_recipe_r1_dual']:.3f} → {x['test_image_to_recipe_r1_reranked']:.3f}",
                x["training"],
                "",
                f"{x['alpha']:.3f}",
                "",
            ]
            for x in r.get("superseded_rerank", [])
        ]
        text += (
            "\n\nThe region × ingredient re-ranker re-scores the dual encoder's top K photo→recipe candidates "
            "(its rows above give the dual encoder alone); image→recipe R@1 in the same bags, without → with "
            "re-ranking. α is chosen on val with the epoch; α 0 means no choice beat the dual encoder on val, "
            "and the model is saved with the re-ranker switched off:\n\n"
            + markdown_table(
                [
                    "row",
                    "K",
                    "val im→rec R@1",
                    "test im→rec R@1",
                    "scorer trained on",
                    "scorer epoch (val)",
                    "α",
                    "scorer training min",
                ],
                table,
            )
        )
    return text + f"\n\nThe machine was shared: {load_note_of(r)}. {rows_source(r)}" + rerank_latency() + default_tier()


def default_tier() -> str:
    """The finalist trained the product's way beside today's default (bench_default_tier.py)."""
    r = load_result("default_tier")
    if not r:
        return ""
    table = [
        [
            x["label"],
            ", ".join(f"{k} {v}" for k, v in x.get("options", {}).items()) or "train's defaults",
            x["seed"],
            f"{x['val_score']:.4f} (epoch {x['best_epoch']})",
            f"{x['test']['image_to_recipe']['r1']:.3f}",
            f"{x['test']['image_to_recipe']['medr']:.1f}",
            f"{x['test']['title_to_image']['r1']:.3f}",
            f"{x['minutes']['training']:.0f}",
        ]
        for x in r["rows"]
    ]
    return (
        f"\n\nThe finalist trained by `python -m train` on the whole sample ({r['tier']}), one run per seed; "
        f"{r['protocol']}. "
        "Variant `default` is the pooled recipe encoder, the default before this comparison. "
        "Training minutes are wall time on a shared machine:\n\n"
        + markdown_table(
            [
                "variant",
                "training options",
                "seed",
                "val mean R@1 (chooses)",
                "test im→rec R@1",
                "MedR",
                "title→im R@1",
                "training min",
            ],
            table,
        )
        + "\n\n"
        + seed_means(r["rows"])
        + f"\n\n{source_line(r)}"
    )


def runs_by_label(rows: list[dict]) -> dict[str, list[dict]]:
    """The default-tier rows grouped by variant, variants in their first row's order."""
    grouped: dict[str, list[dict]] = {}
    for x in rows:
        grouped.setdefault(x["label"], []).append(x)
    return grouped


def seed_means(rows: list[dict]) -> str:
    """Each variant's val and test figures as the mean ± standard deviation over its seeds:
    seeds of one setting differ by a few thousandths, so one run per variant decides nothing."""
    import statistics

    def mean_sd(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.4f} ± {sd:.4f}"

    base = {x["seed"]: x["val_score"] for x in rows if x["label"] == "default"}
    table = []
    for label, runs in runs_by_label(rows).items():
        # Against the pooled default seed by seed (the same split; a seed draws the heads'
        # start and the views): the mean difference ± its standard error.
        diffs = [x["val_score"] - base[x["seed"]] for x in runs if x["seed"] in base]
        paired = "—"
        if label != "default" and len(diffs) > 1:
            se = statistics.stdev(diffs) / len(diffs) ** 0.5
            paired = f"{statistics.mean(diffs):+.4f} ± {se:.4f} ({len(diffs)} seeds)"
        table.append(
            [
                label,
                len(runs),
                mean_sd([x["val_score"] for x in runs]),
                paired,
                mean_sd([x["test"]["image_to_recipe"]["r1"] for x in runs]),
                mean_sd([x["test"]["title_to_image"]["r1"] for x in runs]),
            ]
        )
    return "Over the seeds (mean ± standard deviation):\n\n" + markdown_table(
        ["variant", "seeds", "val mean R@1", "val − default, same seed", "test im→rec R@1", "test title→im R@1"],
        table,
    )


def rerank_latency() -> str:
    """What re-ranking adds to a photo query as the app serves it (bench_rerank.py)."""
    r = load_result("rerank")
    if not r:
        return "\n\n_Re-ranking latency not measured yet: `python benchmarks/bench_rerank.py --limit 300`._"
    names = {
        "dual": "dual encoder alone",
        "rerank_cold": "re-ranked, lines read from the index (new re-ranker per query)",
        "rerank_warm": "re-ranked, the app's kept re-ranker",
        "fallback_cold": "re-ranked, lines embedded on the fly (an index without them)",
    }
    table = [
        [names.get(name, name), f"{f['p50_ms']:.1f}", f"{f['p90_ms']:.1f}", f["count"]]
        for name, f in r["figures_ms"].items()
    ]
    load = r["load_average"]
    return (
        f"\n\nA photo query end to end as the app serves it (photo file decoded, encoded, searched for the top "
        f"{r['top_k']}, one torch thread), with and without re-ranking the top {r['rerank_k']}; model: {r['model']}; "
        f"index: {r['index']} ({r['index_rows']:,} rows). Re-ranking adds **{r['added_median_ms_cold']:.1f} ms** "
        f"(cold) and {r['added_median_ms_warm']:.1f} ms (warm) to the median query:\n\n"
        + markdown_table(["way", "median ms", "p90 ms", "queries"], table)
        + f"\n\n{load_note({'load_average_start': load['start'], 'load_average_end': load['end']})}. "
        + source_line(r)
    )


def load_note_of(r: dict) -> str:
    load = r["load_average"]
    return load_note({"load_average_start": load["start"], "load_average_end": load["end"]})


def best_row(r: dict) -> dict:
    """The row val chooses (the first row when nothing beats it)."""
    return max(r["rows"], key=lambda x: x["val_score"])


def noise_check(row: dict) -> dict | None:
    """The row's eight-split paired comparison (bench_split_noise.py run with the row's
    config and options), as (val difference, its standard error, splits); None if not run."""
    import json

    from benchmarks.common import RESULTS
    from benchmarks.report_splits import paired_difference, paired_splits
    from train.loop import val_score

    baseline = load_result("split_noise")
    for path in sorted(RESULTS.glob("split_noise_*.json")):
        variant = json.loads(path.read_text())
        if baseline and variant["config"] == row["config"] and variant["options"] == row["options"]:
            paired = paired_splits(baseline, variant)
            if paired:
                _, diff, sem = paired_difference(paired, lambda r: val_score(r["val"]))
                planned = variant.get("splits_planned", len(paired))
                return {"label": variant["label"], "diff": diff, "sem": sem, "splits": len(paired), "planned": planned}
    return None


def _percent(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.095 else f"{100 * x:.1f}%"


# The table's first row, "today's pipeline", in words: the product before the comparison.
BEFORE = "the design before this comparison (pooled recipe encoder)"


def designs_for_readme() -> str:
    """The README's short version: each preset and the best single component against
    today's pipeline, in plain words, and whether the best one's gain holds beyond noise."""
    r = load_result("seed_designs")
    if not r:
        return "_The seed systems' designs are not measured yet: `python benchmarks/bench_seed_designs.py`._"
    rows, base = r["rows"], r["rows"][0]
    components = [x for x in rows[1:] if not x["name"].startswith("preset")]
    shown = [base, *[x for x in rows if x["name"].startswith("preset")]]
    if components:
        shown.insert(1, max(components, key=lambda x: x["val_score"]))
    lines = [
        "**The other published designs** (im2recipe, AdaMine, H-T with ingredient debiasing, HF-ICMA), each rebuilt "
        "on our backbones and trained the same quick way (photo and text backbones frozen), on the same test split "
        "(photo→recipe out of 500 candidates, name→photo out of 1,000):",
        "",
    ]
    for x in shown:
        t = x["test"]
        name = x["name"].removeprefix("preset ").removeprefix("+ ")
        what = (
            "the design before this comparison (pooled recipe encoder), trained this quick way" if x is base else name
        )
        best = " (best single change on val)" if x is not base and not x["name"].startswith("preset") else ""
        lines.append(
            f"- {what}{best}: a photo finds its recipe first {_percent(t['image_to_recipe']['r1'])} of the time "
            f"(among the first ten {_percent(t['image_to_recipe']['r10'])}); a dish's name finds its photo first "
            f"{_percent(t['title_to_image']['r1'])}; {x['cost_minutes']:.0f} CPU minutes from nothing."
        )
    winner = max(rows, key=lambda x: x["val_score"])
    lines.append("")
    if winner is base:
        lines.append("None of them beat today's design on the validation split, so the default stays as it is.")
    else:
        check = noise_check(winner)
        gain = f"validation score {winner['val_score']:.3f} against {base['val_score']:.3f}"
        if check is None:
            verdict = "not yet checked over the eight splits that tell a gain from noise"
        elif check["splits"] < max(3, check["planned"]):  # one or two splits carry no spread to compare with
            verdict = (
                f"being checked over {check['planned']} splits that tell a gain from noise "
                f"({check['splits']} done so far)"
            )
        elif check["diff"] > 2 * check["sem"]:
            verdict = f"a gain beyond noise over {check['splits']} splits ({check['diff']:+.4f} ± {check['sem']:.4f})"
        else:
            verdict = f"within noise over {check['splits']} splits ({check['diff']:+.4f} ± {check['sem']:.4f})"
        lines.append(f"Best on validation: {winner['name'].removeprefix('+ ')} ({gain}): {verdict}.")
        tier = load_result("default_tier") or {}
        if winner["config"].get("recipe_encoder") == tier.get("default_recipe_encoder"):
            lines.append("It is the default now.")
    tier = load_result("default_tier")
    if tier:
        lines.append(full_way_in_words(tier["rows"]))
    reached = [
        x
        for x in rows
        if x["test"]["image_to_recipe"]["r1"] >= TARGETS["image_to_recipe"]
        and x["test"]["title_to_image"]["r1"] >= TARGETS["title_to_image"]
    ]
    if not reached:
        lines.append(
            f"None reaches the goal we set (a photo's recipe first {TARGETS['image_to_recipe']:.0%} of the time, "
            f"a name's photo first {TARGETS['title_to_image']:.0%})."
        )
    return "\n".join(lines) + f"\n\nThe full table: [benchmarks/RESULTS.md](benchmarks/RESULTS.md). {rows_source(r)}"


# How the default-tier variants (bench_default_tier.py VARIANTS) read in a sentence.
FULL_WAY_NAMES = {
    "default": "the pooled recipe encoder (the default before), fine-tuned on four views of each photo",
    "lstm": "the LSTM recipe encoder, fine-tuned on four views",
    "lstm-frozen": "the LSTM recipe encoder with frozen backbones and one view of each photo",
}


def full_way_in_words(rows: list[dict]) -> str:
    """The default-tier runs (bench_default_tier.py) in one sentence: each variant's range over its seeds."""

    def span(values: list[float], form: str) -> str:
        low, high = format(min(values), form), format(max(values), form)
        return low if low == high else f"{low}–{high}"

    parts = []
    for label, runs in runs_by_label(rows).items():
        parts.append(
            f"{FULL_WAY_NAMES.get(label, label)} ({len(runs)} run{'s' if len(runs) > 1 else ''}): a photo's recipe "
            f"first {span([x['test']['image_to_recipe']['r1'] for x in runs], '.1%')}, a name's photo first "
            f"{span([x['test']['title_to_image']['r1'] for x in runs], '.1%')}, validation score "
            f"{span([x['val_score'] for x in runs], '.3f')}"
        )
    return "Trained with `python -m train` on the whole sample, one run per seed: " + "; ".join(parts) + "."


def rows_source(r: dict) -> str:
    """The command that makes every row, when the rows were measured, and any not yet run
    (a run with --only replaces its rows; each row keeps its own date and commit)."""
    from benchmarks.bench_seed_designs import COMPONENTS, MISMATCH_RATES, PRESETS

    measured = [x["measured"] for x in r["rows"] + r.get("mismatch_study", []) if "measured" in x]
    dates = sorted(m["date"] for m in measured) or [r["date"]]
    commits = sorted({m["commit"] for m in measured} or {r["commit"]})
    missing = [name for name in {**COMPONENTS, **PRESETS} if name not in {x["name"] for x in r["rows"]}]
    missing += [
        f"mismatch rate {rate}"
        for rate in MISMATCH_RATES
        if rate not in {x["mismatch_rate"] for x in r.get("mismatch_study", [])}
    ]
    text = (
        f"Command: `python benchmarks/bench_seed_designs.py` (rows measured {dates[0]} to {dates[-1]}, "
        f"commits {', '.join(commits)})."
    )
    return text + (f" Not run yet: {'; '.join(missing)}." if missing else "")
