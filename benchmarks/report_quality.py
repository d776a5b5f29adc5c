"""The quality-against-minutes section of RESULTS.md and the README, from results/quality.json."""

from __future__ import annotations

import json

from benchmarks.common import RESULTS, shown
from benchmarks.report_format import portable, quality_table


def quality_ladder_section() -> str:
    path = RESULTS / "quality.json"
    if not path.exists():
        return "_No quality ladder yet: run `python benchmarks/bench_quality.py`._"

    q = json.loads(path.read_text())
    best = max(q["steps"], key=lambda s: s["best_val_score"])
    lines = [
        "| step | CPU minutes from nothing | of which training | image→recipe R@1 | R@10 | MedR | "
        "recipe→image R@1 | title→image R@1 | image→title R@1 | val mean R@1 (chooses) | trained |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in q["steps"]:
        t = s["test"]
        mark = " **(default)**" if s is best else ""
        lines.append(
            f"| {s['name']}{mark} | {s['cost_minutes']:.1f} | {s['training_minutes']:.1f} | "
            f"{t['image_to_recipe']['r1']:.3f} ± {t['image_to_recipe']['r1_std']:.3f} | "
            f"{t['image_to_recipe']['r10']:.3f} | {t['image_to_recipe']['medr']:.1f} | "
            f"{t['recipe_to_image']['r1']:.3f} | {t['title_to_image']['r1']:.3f} | "
            f"{t['image_to_title']['r1']:.3f} | {s['best_val_score']:.4f} | "
            f"{s.get('measured', {}).get('date', q['date'])[:10]} |"
        )
    rates = ", ".join(f"{k.replace('_', ' ')} {v:.1f}/s" for k, v in q["extraction_rates_per_second"].items())
    load = q.get("load_average_while_measuring_rates", {})
    expansion_note = (
        " Test figures are the trained models' as shipped: with the query expansion each run chose on val "
        "(plain-query figures are stored beside them in results/quality.json)."
        if all("test_plain" in s for s in q["steps"])
        else " Test figures are plain queries (these runs predate query expansion)."
    )
    # As a person would type it from the checkout (the stored command has this machine's absolute paths).
    data = "../shared/data/epicurious" if q["data"].rstrip("/").endswith("shared/data/epicurious") else q["data"]
    flags = "\n".join(
        f"- {s['name']}: `python -m train --data {data} --out {shown(s['out'])} {' '.join(s['flags'])}`"
        for s in q["steps"]
    )
    return (
        f"Each step adds one lever to the one above, trained with `python -m train` on the sample's train "
        f"split, its epoch chosen on val, and scored on the held-out split ({q['protocol']}). "
        f"CPU minutes from nothing = extraction of the features the step reads, priced at rates measured in "
        f"the same run ({rates}; load average {load.get('before', float('nan')):.1f}), plus the step's "
        f"measured training time. The default is the step with the best val score.{expansion_note} "
        "A step re-run with `--only` replaces its row; the others keep the date they were trained (the "
        "`trained` column): rows trained before 2026-12-02 read the sample before its 571 more recipes, and "
        "their training minutes were timed on that day's machine.\n\n"
        + "\n".join(lines)
        + "\n\n![test R@1 against CPU minutes](quality_vs_minutes.png)\n\n"
        f"The default ({best['name']}) in all four directions, test split:\n\n{quality_table(best['test'])}\n\n"
        "![R@K of the default](recall_at_k_default.png)\n\n"
        f"Runs:\n{flags}\n\nCommand: `{portable(q['command'])}` ({q['date']}, commit {q['commit']}, {q['machine']})."
    )
