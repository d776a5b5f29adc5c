"""benchmarks/results/*.json -> benchmarks/RESULTS.md. Formats only: every figure is one a
benchmark printed and stored with the command that made it."""

from __future__ import annotations

import re

from benchmarks.common import ROOT, machine
from benchmarks.report_app import near_duplicates_section, query_time_section
from benchmarks.report_designs import designs_for_readme, seed_designs_section
from benchmarks.report_engine import engine_section
from benchmarks.report_format import load_note, load_result, markdown_table, portable, quality_table, source_line
from benchmarks.report_hardening import photo_memory_section
from benchmarks.report_index import features_section, index_section
from benchmarks.report_people import first_run_section, plain_words_section, refine_section, timings_section
from benchmarks.report_quality import quality_ladder_section
from benchmarks.report_scale import distributed_section, large_index_section
from benchmarks.report_splits import query_expansion_section, split_noise_section
from benchmarks.report_trust import trust_section

OUT = ROOT / "benchmarks" / "RESULTS.md"


def headline() -> str:
    train = load_result("train")
    if not train:
        return "_No training benchmark yet: run `python benchmarks/bench_train.py`._"
    return (
        f"Frozen-heads pipeline (EfficientNet-Lite0 + all-MiniLM-L6-v2 frozen, lexical TF-IDF/SVD text features "
        f"fitted on the training rows, one plain view per photo, six-pair InfoNCE heads, 30 epochs), trained on "
        f"the Epicurious sample's train split, epoch chosen on val, scored on its **test split** (pairs never "
        f"trained on). Protocol: 10 bags of 500 pairs for the recipe directions, 10 bags of 1,000 for the "
        f"title directions (mean ± spread over bags).\n\n{quality_table(train['test'])}\n\n"
        f"Training cost on {train['machine']}: {train['minutes_from_nothing']:.1f} min from nothing "
        f"(feature extraction + heads), {train['minutes_with_cache']:.1f} min with the feature cache; "
        f"photo features {train['photos_per_second']:.1f}/s; peak memory {train['peak_rss_gb']:.2f} GB.  \n"
        f"Command: `{portable(train['command'])}` ({train['date']}, commit {train['commit']})."
    )


# The date the lexical text features (model/lexical.py) joined the default: stored results
# older than this were measured without them.
LEXICAL_SINCE = "2026-12-01"


def ablation_section() -> str:
    ab = load_result("ablations")
    if not ab:
        return "_Not run yet: `python benchmarks/bench_ablations.py`._"
    from benchmarks.bench_ablations import HEADER, HISTORY, HISTORY_NOTE, best_on_val, row
    from train.loop import val_score

    flip = load_result("flip_tta")
    variants = ab["variants"] + ([flip["variant"]] if flip else [])
    best = best_on_val(variants)["name"]
    text = (
        f"Variants of the frozen-heads pipeline, one choice at a time (the quality ladder above chose "
        f"today's default). {ab['protocol']}. Best on val (mean R@1 over the four directions): "
        f"**{best}**.\n\n{HEADER}\n"
        + "\n".join(row(v, " *(history)*" if v["name"] in HISTORY else "") for v in variants)
        + f"\n\nLast run: `{portable(ab['command'])}` ({ab['date']}); `--only` runs merge into the stored table, and "
        "`python benchmarks/bench_ablations.py` with no `--only` regenerates every row (plus Lite2) but the "
        "history rows, which it keeps as stored."
    )
    if ab["date"] < LEXICAL_SINCE:
        text += (
            "\n\n**Measured before the lexical text features existed** (they came on "
            f"{LEXICAL_SINCE}): every row here, the default row included, has MiniLM text features only. The rows "
            "compare choices with each other; for today's pipeline see the split-noise section above."
        )
    text += history_note([v["name"] for v in variants if v["name"] in HISTORY], HISTORY, HISTORY_NOTE)
    ensemble = next((v for v in variants if v["name"].startswith("heads_ensemble")), None)
    if ensemble:
        seeds = ensemble["options"]["ensemble_seeds"]
        text += (
            f"\n\n`{ensemble['name']}`: {len(seeds)} frozen-heads models trained with seeds {seeds} over the same "
            f"cached features, used together (unit vectors concatenated and scaled by 1/√{len(seeds)}: a cosine is "
            f"the members' mean cosine); {ensemble['head_training_seconds'] / 60:.1f} min of head training in all. "
            "It beats the single frozen-heads model on val, but it is not the default: the default (the quality "
            "ladder's fine-tuned step) scores higher on the same val split, an ensemble of fine-tuned photo tails "
            "costs a tail's training per member, and a retriever that holds several heads (with a wider index) is "
            "not built yet."
        )
    if flip:
        base, latency = flip["baseline"], flip["photo_query_latency"]
        flipped = flip["variant"]["test_by_recipe_vector"]
        text += (
            f"\n\n`hflip_tta`: the frozen-heads model that was the default on {flip['date']} "
            f"(`{flip['variant']['model']}`, not retrained) with each photo "
            f"embedded as the normalised mean of the photo and its mirror image; the same model without it scores val "
            f"mean R@1 {val_score(base['val']):.4f}, test im→rec R@1 {base['test']['image_to_recipe']['r1']:.3f}. "
            f"With the recipe vector held at the default's (`{base['recipe_vector']}`), test im→rec R@1 / R@10 is "
            f"{flipped[base['recipe_vector']]['r1']:.3f} / {flipped[base['recipe_vector']]['r10']:.3f} "
            f"with flipping against "
            f"{base['test']['image_to_recipe']['r1']:.3f} / {base['test']['image_to_recipe']['r10']:.3f} without. "
            f"Cost per photo query (photo file to query vector, 1 torch thread as served): "
            f"{latency['plain']['p50_ms']:.1f} ms → {latency['flip_tta']['p50_ms']:.1f} ms median "
            f"(+{latency['extra_ms_median']:.1f} ms; "
            f"p90 {latency['plain']['p90_ms']:.1f} → {latency['flip_tta']['p90_ms']:.1f}; "
            f"{latency['plain']['count']} photos); {load_note(flip)}. {source_line(flip)}"
        )
    return text


def history_note(names: list[str], history: dict[str, str], note: str) -> str:
    """What the rows marked *(history)* were: options removed from the product."""
    if not names:
        return ""
    options = {}
    for name in names:  # one entry per option, naming every row it had
        options.setdefault(history[name], []).append(f"`{name}`")
    listed = "; ".join(f"{', '.join(rows)}: {what}" for what, rows in options.items())
    return f"\n\nRows marked *(history)*: {note}. They can no longer be re-run. {listed}."


def app_section() -> str:
    app = load_result("app")
    if not app:
        return "_Not run yet: `python benchmarks/bench_app.py`._"
    # The same bench on the pooled recipe encoder's model (the default before the LSTM),
    # run back to back with the one above, so the two columns share the machine's speed.
    before = load_result("app_pooled_encoder")
    handlers = ("photo_to_recipe", "title_to_recipe", "recipe_to_photo", "similar_photos")
    header, rows = (
        ["handler", "median ms", "p95 ms", "calls"],
        [[h, app[h]["median_ms"], app[h]["p95_ms"], app[h]["calls"]] for h in handlers],
    )
    if before:
        header += ["pooled encoder's model: median ms", "p95 ms"]
        rows = [row + [before[h]["median_ms"], before[h]["p95_ms"]] for row, h in zip(rows, handlers)]
    table = markdown_table(header, rows)
    if before:
        table += (
            "\n\nA pasted recipe is read line by line by the LSTM default: the text backbone embeds each "
            f"ingredient line and method sentence, hence the slower recipe→photo. Pooled encoder's model: "
            f"{source_line(before)}"
        )
    return (
        table + f"\n\nIndex of {app['index_rows']} rows, model `{app['model']}`; `python app.py` to serving "
        f"{app['start_to_serving_s']} s; app RSS {app['app_rss_at_start_mb'] / 1024:.2f} GB at start, "
        f"{app['app_peak_rss_mb'] / 1024:.2f} GB peak.  \n{source_line(app)}"
    )


def load_section() -> str:
    ld = load_result("load")
    if not ld:
        return "_Not run yet: `python benchmarks/bench_load.py`._"
    from benchmarks.bench_load import KINDS

    table = markdown_table(
        ["queries", "answered", "p50 ms", "p99 ms"],
        [
            [kind, ld[kind]["count"], f"{ld[kind]['p50_ms']:.0f}", f"{ld[kind]['p99_ms']:.0f}"]
            for kind in (*KINDS, "overall")
        ],
    )
    before, after = ld["server_memory_before_mb"], ld["server_memory_after_mb"]
    errors = f"**{ld['errors']} errors**" + (f" (e.g. {ld['error_examples'][0]})" if ld["errors"] else "")
    return (
        f"{ld['queries']} mixed queries (photo → recipe, title → recipe, recipe → photo; photos, titles and recipes "
        f"drawn from the sample) from {ld['concurrency']} concurrent gradio_client sessions against `python app.py` on "
        f"127.0.0.1: {errors}, {ld['throughput_qps']:.1f} queries/s over {ld['wall_s']:.0f} s.\n\n"
        + table
        + f"\n\nServer resident memory {before['rss_mb'] / 1024:.2f} GB before, {after['rss_mb'] / 1024:.2f} GB after "
        f"(high-water mark {after['peak_rss_mb'] / 1024:.2f} GB). Latency is client-side and includes the photo upload "
        f"and waiting in the app's queue (two searches run at once); clients and server share the "
        f"{ld['cpu_cores']} cores; {load_note(ld)}."
        + (
            f" CPU per query: server {ld['server_cpu_ms_per_query']:.0f} ms, load generator "
            f"{ld['client_cpu_ms_per_query']:.0f} ms."
            if "server_cpu_ms_per_query" in ld
            else ""
        )
        + f"  \n{source_line(ld)}"
        + load_before_line()
    )


def load_before_line() -> str:
    """The same run against an older app (bench_load.py --app DIR --save-as load_before), if stored."""
    old = load_result("load_before")
    if not old:
        return ""
    return (
        f"  \nThe same run against the app before its serving changes (`{old['app']}`): "
        f"{old['throughput_qps']:.1f} queries/s, p50 {old['overall']['p50_ms']:.0f} ms, "
        f"server CPU {old['server_cpu_ms_per_query']:.0f} ms and "
        f"load generator {old['client_cpu_ms_per_query']:.0f} ms per query; {load_note(old)}. {source_line(old)}"
    )


def seed_section() -> str:
    sd = load_result("seed")
    if not sd:
        return "_Not run yet: `python benchmarks/bench_seed.py`._"
    step, head = sd["seed_step"], sd["our_head_step"]
    if step["scaled_from_batch"]:
        how = f"at batch {step['scaled_from_batch']}, time scaled linearly to 128"
    elif step["micro_batch"] < sd["batch"]:
        how = (
            f"as {sd['batch'] // step['micro_batch']} micro-batches of {step['micro_batch']} with accumulated gradients"
            + (
                f" (a batch of 128 was predicted to need {step['predicted_peak_rss_mb_at_128'] / 1024:.0f} GB)"
                if "predicted_peak_rss_mb_at_128" in step
                else ""
            )
        )
    else:
        how = "in one batch"
    ours = sd["our_full_run_source"]
    lines = [
        "| | one training step (batch 128) | full training run on the sample |",
        "|---|---|---|",
        f"| seed: ResNet50 + 2 × DistilBERT, end to end ({step['parameters_m']:.0f} M parameters) | "
        f"{step['median_step_seconds_at_128']:.1f} s (steps: {', '.join(f'{t:.1f}' for t in step['step_seconds'])}) | "
        f"~{sd['seed_full_run_minutes'] / 60:.1f} h (estimate) |",
        f"| ours: heads on cached features ({head['trainable_parameters_m']:.1f} M trainable) | "
        f"{head['p50_ms']:.1f} ms (p10–p90 {head['p10_ms']:.1f}–{head['p90_ms']:.1f}) | "
        f"{sd['our_full_run_minutes_from_nothing']:.1f} min from nothing, "
        f"{sd['our_full_run_minutes_with_cache']:.1f} min with the feature cache (measured) |",
        f"| ratio seed / ours | {sd['ratio_step_seed_over_our_head_step']:,.0f}× | "
        f"{sd['ratio_run_seed_over_ours_from_nothing']:,.0f}× (from nothing), "
        f"{sd['ratio_run_seed_over_ours_with_cache']:,.0f}× (with the cache) |",
    ]
    return (
        "\n".join(lines) + f"\n\nSeed step: random weights at the real sizes (torchvision `resnet50(weights=None)`, "
        f"`DistilBertModel(DistilBertConfig())` twice; photos 224 × 224, titles 32 tokens, recipe texts 200), "
        f"forward + backward + AdamW, {step.get('warmup_steps', 1)} warm-up then {len(step['step_seconds'])} timed, "
        f"run {how}; peak RSS "
        f"{step['peak_rss_mb'] / 1024:.1f} GB. Full run = step × {sd['steps_per_epoch']} steps an epoch "
        f"({sd['train_rows']:,} training rows / 128) × {sd['epochs']} epochs ({sd['epochs_assumption']}); it leaves "
        f"out photo decoding and per-epoch validation, so the seed's real cost is higher. "
        f"Ours: `{portable(ours['command'])}` "
        f"(benchmarks/results/train.json, {ours['date']}, commit {ours['commit']}; timed at another hour, its load "
        f"not recorded). Seed and head steps: {load_note(sd)}.  \n{source_line(sd)}"
    )


def quick_run_line() -> str:
    # The last quick run: results/run_quick.json (quick runs write only *_quick.json), else
    # the one stored in run.json before they did.
    run = load_result("run_quick") or load_result("run")
    if not run or "quick" not in run:
        return ""
    q = run["quick"]
    # CPU seconds are stored since quick runs train their own model and run two steps at a time.
    cpu = f", {q['cpu_seconds'] / 60:.1f} min of CPU" if "cpu_seconds" in q else ""
    steps = "steps two at a time: " if "cpu_seconds" in q else ""
    return (
        f"`make bench QUICK=1` (smoke runs, `*_quick.json`, never shown here) last took "
        f"**{q['wall_seconds'] / 60:.1f} min**{cpu} "
        f"({steps}{', '.join(f'{n} {s:.0f} s' for n, s in q['step_seconds'].items())}) on {q['machine']}, "
        f"{load_note(q)}; {q['date']}, commit {q['commit']}."
    )


def write_report():
    m = machine()
    text = f"""# Benchmark results

Generated by `python -m benchmarks.run` (`make bench`) from `benchmarks/results/*.json`.
Report written {m["date"]} on {m["machine"]}, commit {m["commit"]}. Each section names the
command that produced its figures. Data: the Epicurious sample (`../shared/data/epicurious`,
10,692 photos; split by a hash of the photo name, 70/15/15). It holds 4,407 full recipes
since 2026-12-02 (571 title-only rows gained their recipe; no row changed split): figures
whose command is dated before then were measured on the 3,836 of the time. The machine is
shared: each benchmark stores the load average at its start and end.

{quick_run_line()}

## In plain words

{plain_words_section()}

## A first `make demo`: where the time goes

{first_run_section()}

## "Like this, but …": how far typed words move a photo search

{refine_section()}

## Answers a person can trust: how sure, looks like, more like this, diet chips

{trust_section()}

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

## The seed systems' designs on one table

{seed_designs_section()}

## The seed design side by side

{seed_section()}

## Ablations

{ablation_section()}

## Index: build, size, search

{index_section()}

## A million-row index: open time, memory, latency, recall

{large_index_section()}

## Training on two processes (gloo)

{distributed_section()}

## App handlers

{app_section()}

## Load run: the served app under concurrent users

{load_section()}

## Where a served query's time goes

{query_time_section()}

## "Similar dishes": which photos are copies of the query

{near_duplicates_section()}

## A photo that asks for gigabytes: memory of the probe's photo bombs

{photo_memory_section()}

## Inference engine: backbone passes in ONNX Runtime against eager torch

{engine_section()}
"""
    OUT.write_text(text)
    update_readme(plain_words_section(for_readme=True))
    update_readme(timings_section(), "timings")
    update_readme(designs_for_readme(), "designs")
    return OUT


def update_readme(section: str, name: str = "results") -> None:
    """The README's figures are pasted by code between markers (`<!-- name:start -->`)."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        # RESULTS.md sits beside its plots in benchmarks/; the README is one folder up.
        section = re.sub(r"\]\(([\w.-]+\.png)\)", r"](benchmarks/\1)", section)
        readme.write_text(f"{head}{start}\n{section}\n{end}{rest.split(end, 1)[1]}")


if __name__ == "__main__":
    print(write_report())
