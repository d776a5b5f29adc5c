"""Report sections on how far figures move: split noise (issue #2's floor), variants over
the same splits, and query expansion through the training pairs."""

from __future__ import annotations

import json

from benchmarks.common import RESULTS
from benchmarks.report_format import DIRECTIONS, load_result, markdown_table, source_line


def split_noise_section() -> str:
    sn = load_result("split_noise")
    if not sn:
        return "_Not run yet: `python benchmarks/bench_split_noise.py`._"
    rows = [
        [
            r["salt"] or "product (no salt)",
            r["full_recipes"]["test"],
            f"{r['test']['image_to_recipe']['r1']:.3f}",
            f"{r['test']['image_to_recipe']['r10']:.3f}",
            f"{r['test']['image_to_recipe']['medr']:.1f}",
            f"{r['test']['recipe_to_image']['r1']:.3f}",
            f"{r['test']['title_to_image']['r1']:.3f}",
            f"{r['test']['title_to_image']['medr']:.1f}",
            f"{r['test']['image_to_title']['r1']:.3f}",
            r["best_epoch"],
        ]
        for r in sn["splits"]
    ]
    summary = sn["summary"]

    def cells(key: str, digits: int = 3) -> str:
        return (
            f"**{summary[key]['mean']:.{digits}f}** ± {summary[key]['sem']:.{digits}f} "
            f"(sd {summary[key]['sd']:.{digits}f})"
        )

    rows.append(
        [
            "mean ± s.e.m. (sd)",
            "",
            cells("image_to_recipe.r1"),
            cells("image_to_recipe.r10"),
            cells("image_to_recipe.medr", 1),
            cells("recipe_to_image.r1"),
            cells("title_to_image.r1"),
            cells("title_to_image.medr", 1),
            cells("image_to_title.r1"),
            "",
        ]
    )
    floor = sn["floor"]
    return (
        f"The same frozen-heads pipeline trained on {len(sn['splits'])} draws of train/val/test (the photo-name hash "
        f"with a salt; the first row is the product's split), each choosing its epoch and recipe vector on its own "
        f"val and scored on its own test ({sn['protocol']}). It measures how far one split's figure moves with the "
        f"draw alone, which is what a comparison with an independent run on another split must allow for. "
        f"Issue #2's floor: image→recipe R@1 {floor['image_to_recipe']['r1']} / "
        f"MedR {floor['image_to_recipe']['medr']}, "
        f"title→image R@1 {floor['title_to_image']['r1']} / MedR {floor['title_to_image']['medr']}. "
        + floor_verdict(sn)
        + "\n\n"
        + markdown_table(
            [
                "split salt",
                "test recipes",
                "im→rec R@1",
                "im→rec R@10",
                "im→rec MedR",
                "rec→im R@1",
                "title→im R@1",
                "title→im MedR",
                "im→title R@1",
                "best epoch",
            ],
            rows,
        )
        + f"\n\n![split noise](split_noise.png)\n\n{source_line(sn)} Load average "
        f"{sn['load_average']['start'][0]:.1f} at start, {sn['load_average']['end'][0]:.1f} at end."
        + oracle_note(sn)
        + split_variants_table(sn)
    )


def floor_verdict(sn: dict) -> str:
    """Whether the mean over the splits reaches the floor, figure by figure, and how many splits do."""
    parts = []
    for direction in ("image_to_recipe", "title_to_image"):
        r1, medr = sn["summary"][f"{direction}.r1"]["mean"], sn["summary"][f"{direction}.medr"]["mean"]
        floor = sn["floor"][direction]
        reached = sum(r["test"][direction]["r1"] >= floor["r1"] for r in sn["splits"])
        ok = r1 >= floor["r1"] and medr <= floor["medr"]
        parts.append(
            f"{direction.replace('_to_', '→')}: mean R@1 {r1:.3f} / MedR {medr:.1f}, "
            f"{'at or past' if ok else 'short of'} the floor; "
            f"R@1 at or above it on {reached} of {len(sn['splits'])} splits"
        )
    return "; ".join(parts) + "."


def oracle_note(sn: dict) -> str:
    """The diagnostic of `--oracle`: what choosing the epoch on test would have reported."""
    stats = sn["summary"]
    if "oracle.image_to_recipe.best_over_epochs" not in stats:
        return ""
    at, best = stats["oracle.image_to_recipe.at_val_epoch"], stats["oracle.image_to_recipe.best_over_epochs"]
    medr_at, medr_best = stats["oracle.image_to_recipe.medr_at_val_epoch"], stats["oracle.image_to_recipe.medr_at_best"]
    im2rec = stats.get("oracle.image_to_recipe.at_val_im2rec_epoch")
    by_im2rec = (
        f"; at the epoch val image→recipe R@1 alone would choose: {im2rec['mean']:.3f} ± {im2rec['sem']:.3f} "
        f"(MedR {stats['oracle.image_to_recipe.medr_at_val_im2rec_epoch']['mean']:.1f})"
        if im2rec
        else ""
    )
    return (
        f"\n\nDiagnostic (`--oracle`, never used for a choice): the same trainings scored on test at every epoch "
        f"(recipe vector, as the loop scores epochs). Test image→recipe R@1 at the epoch val chose (mean R@1 of "
        f"the four directions): {at['mean']:.3f} ± {at['sem']:.3f} (MedR {medr_at['mean']:.1f}){by_im2rec}; "
        f"the best any epoch reached on test: "
        f"**{best['mean']:.3f} ± {best['sem']:.3f}** (MedR {medr_best['mean']:.1f}), i.e. what a run that picks its "
        f"epoch on the split it reports would show."
    )


def paired_splits(baseline: dict, variant: dict) -> list[tuple[dict, dict]]:
    """(baseline split, variant split) for each split both ran. Paired only with the
    baseline of the same rows: a variant run before the sample grew (other full-recipe
    counts per split) pairs with nothing."""
    base = {r["salt"]: r for r in baseline["splits"]}
    return [
        (base[r["salt"]], r)
        for r in variant["splits"]
        if r["salt"] in base and r.get("full_recipes") == base[r["salt"]].get("full_recipes")
    ]


def paired_difference(paired: list[tuple[dict, dict]], pick) -> tuple[float, float, float]:
    """(the variant's mean, its mean paired difference from the baseline, that difference's
    standard error) of the figure `pick` reads from one split's result."""
    import statistics

    diffs = [pick(variant) - pick(base) for base, variant in paired]
    sem = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
    return statistics.fmean(pick(v) for _, v in paired), statistics.fmean(diffs), sem


def split_variants_table(baseline: dict) -> str:
    """Variants run over the same splits (results/split_noise_<label>.json), paired with the
    baseline split by split: the mean difference and its standard error."""
    from train.loop import val_score

    variants = sorted(RESULTS.glob("split_noise_*.json"))
    if not variants:
        return ""
    # (column, value of one split's result, decimals)
    figures = (
        ("val mean R@1 (chooses)", lambda r: val_score(r["val"]), 4),
        ("test im→rec R@1", lambda r: r["test"]["image_to_recipe"]["r1"], 3),
        ("test im→rec MedR", lambda r: r["test"]["image_to_recipe"]["medr"], 1),
        ("test title→im R@1", lambda r: r["test"]["title_to_image"]["r1"], 3),
    )
    rows, older = [], []
    for path in variants:
        v = json.loads(path.read_text())
        paired = paired_splits(baseline, v)
        if not paired:
            older.append(f"`{v['label']}` ({v['date']})")
            continue
        cells = []
        for _, pick, digits in figures:
            mean, diff, sem = paired_difference(paired, pick)
            cells.append(f"{mean:.{digits}f} ({diff:+.{digits}f} ± {sem:.{digits}f})")
        rows.append([f"`{v['label']}` {json.dumps({**v['config'], **v['options']})}", len(paired), *cells])
    text = (
        "\n\nVariants over the same splits and seeds; in brackets the mean paired difference from the baseline "
        "± its standard error:\n\n" + markdown_table(["variant", "splits", *[name for name, _, _ in figures]], rows)
        if rows
        else ""
    )
    if older:
        text += (
            f"\n\nRun on the sample before it grew (other rows in each split), so not paired with this baseline; "
            f"their figures stay in results/: {', '.join(older)}."
        )
    return text


def query_expansion_section() -> str:
    qe = load_result("query_expansion")
    if not qe:
        return "_Not run yet: `python benchmarks/bench_query_expansion.py --model artifacts/model`._"
    parts = []
    for m in qe["models"]:
        rows = []
        for d in DIRECTIONS:
            c, a, b = m["chosen_on_val"][d], m["test_plain"][d], m["test_expanded"][d]
            setting = f"k {c['k']}, weight {c['weight']}" if c["weight"] else "off"
            rows.append(
                [
                    d.replace("_", " "),
                    setting,
                    f"{c['val_r1_plain']:.3f} → {c['val_r1']:.3f}",
                    f"{a['r1']:.3f} → **{b['r1']:.3f}**",
                    f"{a['r10']:.3f} → {b['r10']:.3f}",
                    f"{a['medr']:.1f} → **{b['medr']:.1f}**",
                ]
            )
        t = m["expand_one_query"]
        parts.append(
            f"`{m['model']}` (memory: {m['memory_rows']} training rows; recipe vector {m['recipe_vector']}; "
            f"expanding one query costs {t['p50_ms']:.2f} ms median, p90 {t['p90_ms']:.2f}, one thread):\n\n"
            + markdown_table(
                [
                    "direction",
                    "chosen on val",
                    "val R@1 plain → expanded",
                    "test R@1 plain → expanded",
                    "test R@10",
                    "test MedR",
                ],
                rows,
            )
        )
    return (
        "The query's nearest training rows in its own modality lend their partner vectors "
        "(model/expansion.py); each direction's k and weight are chosen on val, weight 0 (off) when nothing beats "
        f"the plain query. Protocol: {qe['protocol']}.\n\n" + "\n\n".join(parts) + f"\n\n{source_line(qe)}"
    )
