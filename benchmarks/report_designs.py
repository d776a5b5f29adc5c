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
        f"train/designs.py) and each of its components added alone to today's pipeline, all trained at one tier: "
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
                x["rerank"]["best_epoch"],
                f"{x['rerank']['alpha']:.3f}",
                f"{x['rerank']['training_seconds'] / 60:.1f}",
            ]
            for x in reranked
        ]
        text += (
            "\n\nThe region × ingredient re-ranker re-scores the dual encoder's top K photo→recipe candidates "
            "(its rows above give the dual encoder alone); image→recipe R@1 in the same bags, without → with "
            "re-ranking:\n\n"
            + markdown_table(
                ["row", "K", "val im→rec R@1", "test im→rec R@1", "scorer epoch (val)", "α", "scorer training min"],
                table,
            )
        )
    return text + f"\n\nThe machine was shared: {load_note_of(r)}. {source_line(r)}"


def load_note_of(r: dict) -> str:
    load = r["load_average"]
    return load_note({"load_average_start": load["start"], "load_average_end": load["end"]})


def best_row(r: dict) -> dict:
    """The row val chooses (the first row when nothing beats it)."""
    return max(r["rows"], key=lambda x: x["val_score"])
