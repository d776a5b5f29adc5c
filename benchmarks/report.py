"""benchmarks/results/*.json -> benchmarks/RESULTS.md. Formats only: every figure is one a
benchmark printed and stored with the command that made it."""
from __future__ import annotations

import json

from benchmarks.common import ROOT, RESULTS, machine

OUT = ROOT / "benchmarks" / "RESULTS.md"
DIRECTIONS = ("image_to_recipe", "recipe_to_image", "title_to_image", "image_to_title")


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def quality_table(test: dict) -> str:
    lines = ["| direction | pool × bags | MedR | R@1 | R@5 | R@10 |", "|---|---|---|---|---|---|"]
    for d in DIRECTIONS:
        m = test[d]
        lines.append(f"| {d.replace('_', ' ')} | {m['pool']} × {m['bags']} | {m['medr']:.1f} | "
                     f"{m['r1']:.3f} ± {m['r1_std']:.3f} | {m['r5']:.3f} ± {m['r5_std']:.3f} | {m['r10']:.3f} ± {m['r10_std']:.3f} |")
    return "\n".join(lines)


def headline() -> str:
    train = _load("train")
    if not train:
        return "_No training benchmark yet: run `python benchmarks/bench_train.py`._"
    return (f"Default model (EfficientNet-Lite0 + all-MiniLM-L6-v2, frozen, six-pair InfoNCE heads), trained on "
            f"the Epicurious sample's train split, epoch chosen on val, scored on its **test split** (pairs never "
            f"trained on). Protocol: 10 bags of 500 pairs for the recipe directions, 10 bags of 1,000 for the "
            f"title directions (mean ± spread over bags).\n\n{quality_table(train['test'])}\n\n"
            f"Training cost on {train['machine']}: {train['minutes_from_nothing']:.1f} min from nothing "
            f"(feature extraction + heads), {train['minutes_with_cache']:.1f} min with the feature cache; "
            f"photo features {train['photos_per_second']:.1f}/s; peak memory {train['peak_rss_gb']:.2f} GB.  \n"
            f"Command: `{train['command']}` ({train['date']}, commit {train['commit']}).")


def ablation_section() -> str:
    ab = _load("ablations")
    if not ab:
        return "_Not run yet: `python benchmarks/bench_ablations.py`._"
    from benchmarks.bench_ablations import HEADER, best_on_val, row

    best = best_on_val(ab["variants"])["name"]
    return (f"{ab['protocol']}. Best on val (mean R@1 over the four directions): **{best}**.\n\n{HEADER}\n" +
            "\n".join(row(v) for v in ab["variants"]) +
            f"\n\nLast run: `{ab['command']}` ({ab['date']}); `--only` runs merge into the stored table, and "
            "`python benchmarks/bench_ablations.py` with no `--only` regenerates every row (plus Lite2).")


def index_section() -> str:
    ix = _load("index")
    if not ix:
        return "_Not run yet: `python benchmarks/bench_index.py`._"
    lines = []
    for key in ("build_from_train_feature_cache", "build", "build_live_backbones"):
        if key in ix:
            b = ix[key]
            lines.append(f"- Build `{key}`: {b['rows']} rows in {b['build_seconds']:.0f} s = {b['build_rows_per_s']:.1f} rows/s; "
                         f"index size {b['size_mb_float16']:.1f} MB float16 ({b['size_mb_float32']:.1f} MB float32). `{b['command']}`")
    if "dtype" in ix:
        d = ix["dtype"]
        lines.append(f"- float16 vs float32 R@1 change (points): {d['r1_change_points']}; top-1 agreement {d['top1_agreement']}. `{d['command']}`")
    if "sample-search" in ix:
        s = ix["sample-search"]
        lines.append(f"- Top-10 over the {s['rows']}-row sample, exact: image field {s['image_exact_per_query']['median_ms']} ms median "
                     f"(p90 {s['image_exact_per_query']['p90_ms']}); index RSS {s['index_rss_mb']:.0f} MB. `{s['command']}`")
    if "synthetic" in ix:
        e, ivf = ix["synthetic"]["exact"], ix["synthetic"]["ivf"]
        chosen = next(x for x in ivf["sweep"] if x["nprobe"] == ivf["default_nprobe"])
        lines.append(f"- 1M × 512 synthetic, exact: {e['per_query']['median_ms']:.0f} ms median (p90 {e['per_query']['p90_ms']:.0f}), "
                     f"peak RSS {e['peak_rss_mb'] / 1024:.1f} GB; faiss IVF ({ivf['nlist']} lists, nprobe {ivf['default_nprobe']}): "
                     f"{chosen['per_query']['median_ms']:.1f} ms median at recall@10 {chosen['recall_at_10']:.3f}, "
                     f"peak RSS {ivf['peak_rss_mb'] / 1024:.1f} GB. `{ix['synthetic']['command']}`")
    return "\n".join(lines)


def app_section() -> str:
    app = _load("app")
    if not app:
        return "_Not run yet: `python benchmarks/bench_app.py`._"
    lines = ["| handler | median ms | p95 ms | calls |", "|---|---|---|---|"]
    for h in ("photo_to_recipe", "title_to_recipe", "recipe_to_photo", "similar_photos"):
        lines.append(f"| {h} | {app[h]['median_ms']} | {app[h]['p95_ms']} | {app[h]['calls']} |")
    return ("\n".join(lines) + f"\n\nIndex of {app['index_rows']} rows, model `{app['model']}`; `python app.py` to serving "
            f"{app['start_to_serving_s']} s; app RSS {app['app_rss_at_start_mb'] / 1024:.2f} GB at start, "
            f"{app['app_peak_rss_mb'] / 1024:.2f} GB peak.  \nCommand: `{app['command']}` ({app['date']}, commit {app['commit']}).")


def write_report():
    m = machine()
    text = f"""# Benchmark results

Generated by `python -m benchmarks.run` (`make bench`) from `benchmarks/results/*.json`.
Report written {m['date']} on {m['machine']}, commit {m['commit']}. Each section names the
command that produced its figures. Data: the Epicurious sample (`../shared/data/epicurious`,
10,692 photos, 3,836 full recipes; split by a hash of the photo name, 70/15/15).

## Retrieval quality (test split)

{headline()}

![R@K](recall_at_k.png)

## Ablations

{ablation_section()}

## Index: build, size, search

{index_section()}

## App handlers

{app_section()}
"""
    OUT.write_text(text)
    update_readme(headline())
    return OUT


def update_readme(section: str) -> None:
    """The README's results section is RESULTS.md's headline, pasted by code between markers."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        readme.write_text(f"{head}{start}\n{section.replace('![', '![')}\n{end}{rest.split(end, 1)[1]}")


if __name__ == "__main__":
    print(write_report())
