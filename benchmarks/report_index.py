"""RESULTS.md's sections on feature extraction throughput and on the index (build, size,
search latency against index size), from results/features.json and index.json."""

from __future__ import annotations

from benchmarks.report_format import load_note, load_result, markdown_table, portable, source_line


def features_section() -> str:
    f = load_result("features")
    if not f:
        return "_Not run yet: `python benchmarks/bench_features.py`._"
    kinds = (
        ("recipe_rows", "recipe texts (title + ingredients + instructions, MiniLM)"),
        ("title_rows", "titles only (MiniLM)"),
        ("photos", "photos (EfficientNet-Lite0)"),
    )
    table = markdown_table(
        ["rows", "per second (median)", "min – max", "rows × repeats"],
        [
            [
                label,
                f"{f[k]['median_per_s']:.1f}",
                f"{f[k]['min_per_s']:.1f} – {f[k]['max_per_s']:.1f}",
                f"{f[k]['rows']} × {f[k]['repeats']}",
            ]
            for k, label in kinds
        ],
    )
    return (
        table + f"\n\npipeline/features.py's extractors over a fixed random draw of the sample, "
        f"{f['torch_threads']} torch threads; {load_note(f)}.  \n{source_line(f)}"
    )


def sizemarkdown_table(sizes: dict) -> str:
    from benchmarks.bench_index import ivf_default

    lines = [
        "| rows | exact median ms (p10–p90) | exact peak RSS | IVF lists / nprobe | IVF median ms (p10–p90) | "
        "IVF recall@10 | IVF build s | IVF peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in sorted(sizes, key=int):
        e, ivf = sizes[n]["exact"], sizes[n]["ivf"]
        chosen = ivf_default(ivf)
        q, c = e["per_query"], chosen["per_query"]
        lines.append(
            f"| {int(n):,} | {q['median_ms']:.2f} ({q['p10_ms']:.2f}–{q['p90_ms']:.2f}), {e['searched_dtype']} | "
            f"{e['peak_rss_mb'] / 1024:.2f} GB | {ivf['nlist']} / {ivf['default_nprobe']} | "
            f"{c['median_ms']:.2f} ({c['p10_ms']:.2f}–{c['p90_ms']:.2f}) | {chosen['recall_at_10']:.3f} | "
            f"{ivf['build_seconds']:.1f} | {ivf['peak_rss_mb'] / 1024:.2f} GB |"
        )
    return "\n".join(lines)


def index_section() -> str:
    ix = load_result("index")
    if not ix:
        return "_Not run yet: `python benchmarks/bench_index.py`._"
    lines = []
    for key in ("build_from_train_feature_cache", "build", "build_live_backbones"):
        if key in ix:
            b = ix[key]
            lines.append(
                f"- Build `{key}`: {b['rows']} rows in {b['build_seconds']:.0f} s = "
                f"{b['build_rows_per_s']:.1f} rows/s; index size {b['size_mb_float16']:.1f} MB float16 "
                f"({b['size_mb_float32']:.1f} MB float32). `{portable(b['command'])}`"
            )
    if "dtype" in ix:
        d = ix["dtype"]
        lines.append(
            f"- float16 vs float32 R@1 change (points): {d['r1_change_points']}; "
            f"top-1 agreement {d['top1_agreement']}. `{portable(d['command'])}`"
        )
    if "sample-search" in ix:
        s = ix["sample-search"]
        lines.append(
            f"- Top-10 over the {s['rows']}-row sample, exact: image field "
            f"{s['image_exact_per_query']['median_ms']} ms median "
            f"(p90 {s['image_exact_per_query']['p90_ms']}); index RSS {s['index_rss_mb']:.0f} MB. "
            f"`{portable(s['command'])}`"
        )
    if "synthetic" in ix:
        syn = ix["synthetic"]
        baseline = min(s["exact"]["baseline_rss_mb"] for s in syn["sizes"].values())
        lines.append(
            f"\n### Search latency against index size\n\nTop-10 of one query at a time over synthetic 512-d unit "
            f"vectors stored float16 (clustered: rows / 100 centres), exact (torch; a float32 copy below 512 MB) "
            f"and faiss IVF at the nprobe the index uses (recall@10 against exact over the same queries; "
            f"{syn['sizes'][max(syn['sizes'], key=int)]['exact']['queries']} queries). Each size and "
            f"backend in its own process; peak RSS includes ~{baseline / 1024:.1f} GB of interpreter, torch and "
            f"faiss.\n\n{sizemarkdown_table(syn['sizes'])}\n\n![latency vs size](search_latency_vs_size.png)\n\n"
            f"{load_note(syn).capitalize()}. Command: `{portable(syn['command'])}` ({syn['date']})."
        )
    return "\n".join(lines)
