"""benchmarks/results/*.json -> benchmarks/RESULTS.md. Formats only: every figure is one a
benchmark printed and stored with the command that made it."""
from __future__ import annotations

import json
import re

from benchmarks.common import ROOT, RESULTS, machine
from benchmarks.report_quality import quality_ladder_section

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
    return (f"Frozen-heads pipeline (EfficientNet-Lite0 + all-MiniLM-L6-v2 frozen, one plain view per photo, six-pair InfoNCE heads, 30 epochs), trained on "
            f"the Epicurious sample's train split, epoch chosen on val, scored on its **test split** (pairs never "
            f"trained on). Protocol: 10 bags of 500 pairs for the recipe directions, 10 bags of 1,000 for the "
            f"title directions (mean ± spread over bags).\n\n{quality_table(train['test'])}\n\n"
            f"Training cost on {train['machine']}: {train['minutes_from_nothing']:.1f} min from nothing "
            f"(feature extraction + heads), {train['minutes_with_cache']:.1f} min with the feature cache; "
            f"photo features {train['photos_per_second']:.1f}/s; peak memory {train['peak_rss_gb']:.2f} GB.  \n"
            f"Command: `{train['command']}` ({train['date']}, commit {train['commit']}).")


def _table(header: list[str], rows: list[list]) -> str:
    """A markdown table."""
    return "\n".join("| " + " | ".join(map(str, cells)) + " |" for cells in [header, ["---"] * len(header), *rows])


def _source(figures: dict) -> str:
    """The command, date and commit a section's figures came from."""
    return f"Command: `{figures['command']}` ({figures['date']}, commit {figures['commit']})."


def _load_note(figures: dict) -> str:
    """Other work on the machine while a benchmark ran (1-minute load average, 2 cores)."""
    if "load_average_start" not in figures:
        return ""
    return f"load average {figures['load_average_start'][0]:.1f} at start, {figures['load_average_end'][0]:.1f} at end"


def ablation_section() -> str:
    ab = _load("ablations")
    if not ab:
        return "_Not run yet: `python benchmarks/bench_ablations.py`._"
    from benchmarks.bench_ablations import HEADER, best_on_val, row
    from train.loop import val_score

    flip = _load("flip_tta")
    variants = ab["variants"] + ([flip["variant"]] if flip else [])
    best = best_on_val(variants)["name"]
    text = (f"Variants of the frozen-heads pipeline, one choice at a time (the quality ladder above chose "
            f"today's default). {ab['protocol']}. Best on val (mean R@1 over the four directions): **{best}**.\n\n{HEADER}\n" +
            "\n".join(row(v) for v in variants) +
            f"\n\nLast run: `{ab['command']}` ({ab['date']}); `--only` runs merge into the stored table, and "
            "`python benchmarks/bench_ablations.py` with no `--only` regenerates every row (plus Lite2).")
    ensemble = next((v for v in variants if v["name"].startswith("heads_ensemble")), None)
    if ensemble:
        seeds = ensemble["options"]["ensemble_seeds"]
        text += (f"\n\n`{ensemble['name']}`: {len(seeds)} frozen-heads models trained with seeds {seeds} over the same "
                 f"cached features, used together (unit vectors concatenated and scaled by 1/√{len(seeds)}: a cosine is "
                 f"the members' mean cosine); {ensemble['head_training_seconds'] / 60:.1f} min of head training in all. "
                 "It beats the single frozen-heads model on val, but it is not the default: the default (the quality "
                 "ladder's fine-tuned step) scores higher on the same val split, an ensemble of fine-tuned photo tails "
                 "costs a tail's training per member, and a retriever that holds several heads (with a wider index) is "
                 "not built yet.")
    if flip:
        base, latency = flip["baseline"], flip["photo_query_latency"]
        flipped = flip["variant"]["test_by_recipe_vector"]
        text += (f"\n\n`hflip_tta`: the frozen-heads model that was the default on {flip['date']} "
                 f"(`{flip['variant']['model']}`, not retrained) with each photo "
                 f"embedded as the normalised mean of the photo and its mirror image; the same model without it scores val "
                 f"mean R@1 {val_score(base['val']):.4f}, test im→rec R@1 {base['test']['image_to_recipe']['r1']:.3f}. "
                 f"With the recipe vector held at the default's (`{base['recipe_vector']}`), test im→rec R@1 / R@10 is "
                 f"{flipped[base['recipe_vector']]['r1']:.3f} / {flipped[base['recipe_vector']]['r10']:.3f} with flipping against "
                 f"{base['test']['image_to_recipe']['r1']:.3f} / {base['test']['image_to_recipe']['r10']:.3f} without. "
                 f"Cost per photo query (photo file to query vector, 1 torch thread as served): "
                 f"{latency['plain']['p50_ms']:.1f} ms → {latency['flip_tta']['p50_ms']:.1f} ms median "
                 f"(+{latency['extra_ms_median']:.1f} ms; p90 {latency['plain']['p90_ms']:.1f} → {latency['flip_tta']['p90_ms']:.1f}; "
                 f"{latency['plain']['count']} photos); {_load_note(flip)}. {_source(flip)}")
    return text


def split_noise_section() -> str:
    sn = _load("split_noise")
    if not sn:
        return "_Not run yet: `python benchmarks/bench_split_noise.py`._"
    rows = [[r["salt"] or "product (no salt)", r["full_recipes"]["test"],
             f"{r['test']['image_to_recipe']['r1']:.3f}", f"{r['test']['image_to_recipe']['r10']:.3f}",
             f"{r['test']['image_to_recipe']['medr']:.1f}", f"{r['test']['recipe_to_image']['r1']:.3f}",
             f"{r['test']['title_to_image']['r1']:.3f}", f"{r['test']['title_to_image']['medr']:.1f}",
             f"{r['test']['image_to_title']['r1']:.3f}", r["best_epoch"]] for r in sn["splits"]]
    summary = sn["summary"]
    cells = lambda key, digits=3: (f"**{summary[key]['mean']:.{digits}f}** ± {summary[key]['sem']:.{digits}f} "  # noqa: E731
                                   f"(sd {summary[key]['sd']:.{digits}f})")
    rows.append(["mean ± s.e.m. (sd)", "", cells("image_to_recipe.r1"), cells("image_to_recipe.r10"),
                 cells("image_to_recipe.medr", 1), cells("recipe_to_image.r1"), cells("title_to_image.r1"),
                 cells("title_to_image.medr", 1), cells("image_to_title.r1"), ""])
    floor = sn["floor"]
    return (f"The same frozen-heads pipeline trained on {len(sn['splits'])} draws of train/val/test (the photo-name hash "
            f"with a salt; the first row is the product's split), each choosing its epoch and recipe vector on its own "
            f"val and scored on its own test ({sn['protocol']}). It measures how far one split's figure moves with the "
            f"draw alone, which is what a comparison with an independent run on another split must allow for. "
            f"Issue #2's floor: image→recipe R@1 {floor['image_to_recipe']['r1']} / MedR {floor['image_to_recipe']['medr']}, "
            f"title→image R@1 {floor['title_to_image']['r1']} / MedR {floor['title_to_image']['medr']}.\n\n"
            + _table(["split salt", "test recipes", "im→rec R@1", "im→rec R@10", "im→rec MedR", "rec→im R@1",
                      "title→im R@1", "title→im MedR", "im→title R@1", "best epoch"], rows)
            + f"\n\n![split noise](split_noise.png)\n\n{_source(sn)} Load average "
            f"{sn['load_average']['start'][0]:.1f} at start, {sn['load_average']['end'][0]:.1f} at end."
            + oracle_note(sn) + split_variants_table(sn))


def oracle_note(sn: dict) -> str:
    """The diagnostic of `--oracle`: what choosing the epoch on test would have reported."""
    stats = sn["summary"]
    if "oracle.image_to_recipe.best_over_epochs" not in stats:
        return ""
    at, best = stats["oracle.image_to_recipe.at_val_epoch"], stats["oracle.image_to_recipe.best_over_epochs"]
    medr_at, medr_best = stats["oracle.image_to_recipe.medr_at_val_epoch"], stats["oracle.image_to_recipe.medr_at_best"]
    im2rec = stats.get("oracle.image_to_recipe.at_val_im2rec_epoch")
    by_im2rec = (f"; at the epoch val image→recipe R@1 alone would choose: {im2rec['mean']:.3f} ± {im2rec['sem']:.3f} "
                 f"(MedR {stats['oracle.image_to_recipe.medr_at_val_im2rec_epoch']['mean']:.1f})" if im2rec else "")
    return (f"\n\nDiagnostic (`--oracle`, never used for a choice): the same trainings scored on test at every epoch "
            f"(recipe vector, as the loop scores epochs). Test image→recipe R@1 at the epoch val chose (mean R@1 of "
            f"the four directions): {at['mean']:.3f} ± {at['sem']:.3f} (MedR {medr_at['mean']:.1f}){by_im2rec}; "
            f"the best any epoch reached on test: "
            f"**{best['mean']:.3f} ± {best['sem']:.3f}** (MedR {medr_best['mean']:.1f}), i.e. what a run that picks its "
            f"epoch on the split it reports would show.")


def split_variants_table(baseline: dict) -> str:
    """Variants run over the same splits (results/split_noise_<label>.json), paired with the
    baseline split by split: the mean difference and its standard error."""
    import statistics

    from train.loop import val_score

    variants = sorted(RESULTS.glob("split_noise_*.json"))
    if not variants:
        return ""
    base = {r["salt"]: r for r in baseline["splits"]}
    # (column, value of one split's result, decimals)
    figures = (("val mean R@1 (chooses)", lambda r: val_score(r["val"]), 4),
               ("test im→rec R@1", lambda r: r["test"]["image_to_recipe"]["r1"], 3),
               ("test im→rec MedR", lambda r: r["test"]["image_to_recipe"]["medr"], 1),
               ("test title→im R@1", lambda r: r["test"]["title_to_image"]["r1"], 3))
    rows = []
    for path in variants:
        v = json.loads(path.read_text())
        paired = [(base[r["salt"]], r) for r in v["splits"] if r["salt"] in base]
        cells = []
        for _, pick, digits in figures:
            diffs = [pick(variant) - pick(baseline_row) for baseline_row, variant in paired]
            sem = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
            cells.append(f"{statistics.fmean(pick(x) for _, x in paired):.{digits}f} "
                         f"({statistics.fmean(diffs):+.{digits}f} ± {sem:.{digits}f})")
        rows.append([f"`{v['label']}` {json.dumps({**v['config'], **v['options']})}", len(paired), *cells])
    return ("\n\nVariants over the same splits and seeds; in brackets the mean paired difference from the baseline "
            "± its standard error:\n\n" + _table(["variant", "splits", *[name for name, _, _ in figures]], rows))


def query_expansion_section() -> str:
    qe = _load("query_expansion")
    if not qe:
        return "_Not run yet: `python benchmarks/bench_query_expansion.py --model artifacts/model`._"
    parts = []
    for m in qe["models"]:
        rows = []
        for d in DIRECTIONS:
            c, a, b = m["chosen_on_val"][d], m["test_plain"][d], m["test_expanded"][d]
            setting = f"k {c['k']}, weight {c['weight']}" if c["weight"] else "off"
            rows.append([d.replace("_", " "), setting, f"{c['val_r1_plain']:.3f} → {c['val_r1']:.3f}",
                         f"{a['r1']:.3f} → **{b['r1']:.3f}**", f"{a['r10']:.3f} → {b['r10']:.3f}",
                         f"{a['medr']:.1f} → **{b['medr']:.1f}**"])
        t = m["expand_one_query"]
        parts.append(f"`{m['model']}` (memory: {m['memory_rows']} training rows; recipe vector {m['recipe_vector']}; "
                     f"expanding one query costs {t['p50_ms']:.2f} ms median, p90 {t['p90_ms']:.2f}, one thread):\n\n"
                     + _table(["direction", "chosen on val", "val R@1 plain → expanded", "test R@1 plain → expanded",
                               "test R@10", "test MedR"], rows))
    return ("The query's nearest training rows in its own modality lend their partner vectors "
            "(model/memory.py); each direction's k and weight are chosen on val, weight 0 (off) when nothing beats "
            f"the plain query. Protocol: {qe['protocol']}.\n\n" + "\n\n".join(parts) + f"\n\n{_source(qe)}")


def features_section() -> str:
    f = _load("features")
    if not f:
        return "_Not run yet: `python benchmarks/bench_features.py`._"
    kinds = (("recipe_rows", "recipe texts (title + ingredients + instructions, MiniLM)"),
             ("title_rows", "titles only (MiniLM)"), ("photos", "photos (EfficientNet-Lite0)"))
    table = _table(["rows", "per second (median)", "min – max", "rows × repeats"],
                   [[label, f"{f[k]['median_per_s']:.1f}", f"{f[k]['min_per_s']:.1f} – {f[k]['max_per_s']:.1f}",
                     f"{f[k]['rows']} × {f[k]['repeats']}"] for k, label in kinds])
    return (table + f"\n\ntrain/features.py's extractors over a fixed random draw of the sample, "
            f"{f['torch_threads']} torch threads; {_load_note(f)}.  \n{_source(f)}")


def size_table(sizes: dict) -> str:
    from benchmarks.bench_index import ivf_default

    lines = ["| rows | exact median ms (p10–p90) | exact peak RSS | IVF lists / nprobe | IVF median ms (p10–p90) | "
             "IVF recall@10 | IVF build s | IVF peak RSS |", "|---|---|---|---|---|---|---|---|"]
    for n in sorted(sizes, key=int):
        e, ivf = sizes[n]["exact"], sizes[n]["ivf"]
        chosen = ivf_default(ivf)
        q, c = e["per_query"], chosen["per_query"]
        lines.append(f"| {int(n):,} | {q['median_ms']:.2f} ({q['p10_ms']:.2f}–{q['p90_ms']:.2f}), {e['searched_dtype']} | "
                     f"{e['peak_rss_mb'] / 1024:.2f} GB | {ivf['nlist']} / {ivf['default_nprobe']} | "
                     f"{c['median_ms']:.2f} ({c['p10_ms']:.2f}–{c['p90_ms']:.2f}) | {chosen['recall_at_10']:.3f} | "
                     f"{ivf['build_seconds']:.1f} | {ivf['peak_rss_mb'] / 1024:.2f} GB |")
    return "\n".join(lines)


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
        syn = ix["synthetic"]
        baseline = min(s["exact"]["baseline_rss_mb"] for s in syn["sizes"].values())
        lines.append(f"\n### Search latency against index size\n\nTop-10 of one query at a time over synthetic 512-d unit "
                     f"vectors stored float16 (clustered: rows / 100 centres), exact (torch; a float32 copy below 512 MB) "
                     f"and faiss IVF at the nprobe the index uses (recall@10 against exact over the same queries; "
                     f"{syn['sizes'][max(syn['sizes'], key=int)]['exact']['queries']} queries). Each size and "
                     f"backend in its own process; peak RSS includes ~{baseline / 1024:.1f} GB of interpreter, torch and "
                     f"faiss.\n\n{size_table(syn['sizes'])}\n\n![latency vs size](search_latency_vs_size.png)\n\n"
                     f"{_load_note(syn).capitalize()}. Command: `{syn['command']}` ({syn['date']}).")
    return "\n".join(lines)


def app_section() -> str:
    app = _load("app")
    if not app:
        return "_Not run yet: `python benchmarks/bench_app.py`._"
    table = _table(["handler", "median ms", "p95 ms", "calls"],
                   [[h, app[h]["median_ms"], app[h]["p95_ms"], app[h]["calls"]]
                    for h in ("photo_to_recipe", "title_to_recipe", "recipe_to_photo", "similar_photos")])
    return (table + f"\n\nIndex of {app['index_rows']} rows, model `{app['model']}`; `python app.py` to serving "
            f"{app['start_to_serving_s']} s; app RSS {app['app_rss_at_start_mb'] / 1024:.2f} GB at start, "
            f"{app['app_peak_rss_mb'] / 1024:.2f} GB peak.  \n{_source(app)}")


def load_section() -> str:
    ld = _load("load")
    if not ld:
        return "_Not run yet: `python benchmarks/bench_load.py`._"
    from benchmarks.bench_load import KINDS

    table = _table(["queries", "answered", "p50 ms", "p99 ms"],
                   [[kind, ld[kind]["count"], f"{ld[kind]['p50_ms']:.0f}", f"{ld[kind]['p99_ms']:.0f}"] for kind in (*KINDS, "overall")])
    before, after = ld["server_memory_before_mb"], ld["server_memory_after_mb"]
    errors = f"**{ld['errors']} errors**" + (f" (e.g. {ld['error_examples'][0]})" if ld["errors"] else "")
    return (f"{ld['queries']} mixed queries (photo → recipe, title → recipe, recipe → photo; photos, titles and recipes "
            f"drawn from the sample) from {ld['concurrency']} concurrent gradio_client sessions against `python app.py` on "
            f"127.0.0.1: {errors}, {ld['throughput_qps']:.1f} queries/s over {ld['wall_s']:.0f} s.\n\n" + table +
            f"\n\nServer resident memory {before['rss_mb'] / 1024:.2f} GB before, {after['rss_mb'] / 1024:.2f} GB after "
            f"(high-water mark {after['peak_rss_mb'] / 1024:.2f} GB). Latency is client-side and includes the photo upload "
            f"and waiting in the app's queue (two searches run at once); clients and server share the "
            f"{ld['cpu_cores']} cores; {_load_note(ld)}.  \n{_source(ld)}")


def seed_section() -> str:
    sd = _load("seed")
    if not sd:
        return "_Not run yet: `python benchmarks/bench_seed.py`._"
    step, head = sd["seed_step"], sd["our_head_step"]
    if step["scaled_from_batch"]:
        how = f"at batch {step['scaled_from_batch']}, time scaled linearly to 128"
    elif step["micro_batch"] < sd["batch"]:
        how = (f"as {sd['batch'] // step['micro_batch']} micro-batches of {step['micro_batch']} with accumulated gradients"
               + (f" (a batch of 128 was predicted to need {step['predicted_peak_rss_mb_at_128'] / 1024:.0f} GB)"
                  if "predicted_peak_rss_mb_at_128" in step else ""))
    else:
        how = "in one batch"
    ours = sd["our_full_run_source"]
    lines = ["| | one training step (batch 128) | full training run on the sample |", "|---|---|---|",
             f"| seed: ResNet50 + 2 × DistilBERT, end to end ({step['parameters_m']:.0f} M parameters) | "
             f"{step['median_step_seconds_at_128']:.1f} s (steps: {', '.join(f'{t:.1f}' for t in step['step_seconds'])}) | "
             f"~{sd['seed_full_run_minutes'] / 60:.1f} h (estimate) |",
             f"| ours: heads on cached features ({head['trainable_parameters_m']:.1f} M trainable) | "
             f"{head['p50_ms']:.1f} ms (p10–p90 {head['p10_ms']:.1f}–{head['p90_ms']:.1f}) | "
             f"{sd['our_full_run_minutes_from_nothing']:.1f} min from nothing, {sd['our_full_run_minutes_with_cache']:.1f} min "
             f"with the feature cache (measured) |",
             f"| ratio seed / ours | {sd['ratio_step_seed_over_our_head_step']:,.0f}× | "
             f"{sd['ratio_run_seed_over_ours_from_nothing']:,.0f}× (from nothing), "
             f"{sd['ratio_run_seed_over_ours_with_cache']:,.0f}× (with the cache) |"]
    return ("\n".join(lines) + f"\n\nSeed step: random weights at the real sizes (torchvision `resnet50(weights=None)`, "
            f"`DistilBertModel(DistilBertConfig())` twice; photos 224 × 224, titles 32 tokens, recipe texts 200), "
            f"forward + backward + AdamW, {step.get('warmup_steps', 1)} warm-up then {len(step['step_seconds'])} timed, run {how}; peak RSS "
            f"{step['peak_rss_mb'] / 1024:.1f} GB. Full run = step × {sd['steps_per_epoch']} steps an epoch "
            f"({sd['train_rows']:,} training rows / 128) × {sd['epochs']} epochs ({sd['epochs_assumption']}); it leaves "
            f"out photo decoding and per-epoch validation, so the seed's real cost is higher. Ours: `{ours['command']}` "
            f"(benchmarks/results/train.json, {ours['date']}, commit {ours['commit']}; timed at another hour, its load "
            f"not recorded). Seed and head steps: {_load_note(sd)}.  \n{_source(sd)}")


def quick_run_line() -> str:
    run = _load("run")
    if not run or "quick" not in run:
        return ""
    q = run["quick"]
    return (f"`make bench QUICK=1` (smoke runs, `*_quick.json`, never shown here) last took **{q['wall_seconds'] / 60:.1f} min** "
            f"({', '.join(f'{n} {s:.0f} s' for n, s in q['step_seconds'].items())}) on {q['machine']}, "
            f"{_load_note(q)}; {q['date']}, commit {q['commit']}.")


def write_report():
    m = machine()
    text = f"""# Benchmark results

Generated by `python -m benchmarks.run` (`make bench`) from `benchmarks/results/*.json`.
Report written {m['date']} on {m['machine']}, commit {m['commit']}. Each section names the
command that produced its figures. Data: the Epicurious sample (`../shared/data/epicurious`,
10,692 photos, 3,836 full recipes; split by a hash of the photo name, 70/15/15). The
machine is shared: each benchmark stores the load average at its start and end.

{quick_run_line()}

## Retrieval quality (test split)

{headline()}

![R@K](recall_at_k.png)

## How much a test figure moves with the split

{split_noise_section()}

## Query expansion through the training pairs

{query_expansion_section()}

## Quality against CPU minutes: the quality ladder

{quality_ladder_section()}

## Feature extraction throughput

{features_section()}

## The seed design side by side

{seed_section()}

## Ablations

{ablation_section()}

## Index: build, size, search

{index_section()}

## App handlers

{app_section()}

## Load run: the served app under concurrent users

{load_section()}
"""
    OUT.write_text(text)
    update_readme(f"### The quality ladder (issue #6)\n\n{quality_ladder_section()}\n\n"
                  f"### Query expansion through the training pairs\n\n{query_expansion_section()}\n\n"
                  f"### The frozen-heads pipeline (speed reference)\n\n{headline()}\n\n"
                  f"### How much a test figure moves with the split (issue #2's floor)\n\n"
                  f"{split_noise_section()}")
    return OUT


def update_readme(section: str) -> None:
    """The README's results section is RESULTS.md's headline, pasted by code between markers."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        # RESULTS.md sits beside its plots in benchmarks/; the README is one folder up.
        section = re.sub(r"\]\(([\w.-]+\.png)\)", r"](benchmarks/\1)", section)
        readme.write_text(f"{head}{start}\n{section}\n{end}{rest.split(end, 1)[1]}")


if __name__ == "__main__":
    print(write_report())
