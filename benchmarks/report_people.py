"""RESULTS.md's sections on a first run, "like this, but…" and the results in plain words,
and the README's results section (plain words only), from results/first_run.json,
refine.json and plain_words.json."""

from __future__ import annotations

from benchmarks.report_format import load_note, load_result, markdown_table, source_line

# How each model the plain words describe is made: a command a reader can run, never the
# folder it sat in on the machine that measured it.
MADE_BY = {
    "The full model (the default)": "trained by `make demo` in the background "
    "(`python -m train --data ../shared/data/epicurious --out artifacts/model`)",
    "The quick model (served first)": "trained first by `make demo` (`python -m train.first_run`'s quick settings)",
}


def plain_words_section(for_readme: bool = False) -> str:
    said = load_result("plain_words")
    if not said:
        return "_Not run yet: `python benchmarks/bench_plain_words.py --model artifacts/model`._"
    parts = []
    for model, figures in said["models"].items():
        name = "The quick model (served first)" if "quick" in model else "The full model (the default)"
        # A model kept from an earlier run (bench_plain_words.py --keep) says when it was measured.
        when = figures.get("measured", {})
        kept = (
            f" (measured {when['date']}, commit {when['commit']})"
            if when.get("date", said["date"]) != said["date"]
            else ""
        )
        parts.append(
            f"**{name}**, {MADE_BY[name]}{kept}:\n\n" + "\n".join(f"- {line}" for line in figures["sentences"])
        )
    text = (
        f"On the Epicurious sample's test split ({said['rows']:,} dishes no model trained on; "
        f"{said['protocol']}):\n\n" + "\n\n".join(parts)
    )
    refine = load_result("refine")
    if refine:
        at, alone = refine["test_at_chosen"], refine["test_photo_alone"]
        text += (
            f"\n\n**Like this, but …**: adding a food word to a photo search puts it in "
            f"{100 * at['moves']:.0f}% of the first ten recipes (the photo alone: {100 * alone['moves']:.0f}%), "
            f"while {100 * at['keeps']:.0f}% of them are still among the photo's own hundred nearest "
            f"(weight {refine['chosen_on_val']:g}, chosen on val; test split, "
            f"{refine['splits']['test']['pairs']:,} photo-and-word pairs)."
        )
    if for_readme:
        text += "\n\nEvery table behind these sentences is in [benchmarks/RESULTS.md](benchmarks/RESULTS.md)."
    return text + f"\n\n{source_line(said)}"


def refine_section() -> str:
    refine = load_result("refine")
    if not refine:
        return "_Not run yet: `python benchmarks/bench_refine.py --index artifacts/index`._"
    val, test = refine["splits"]["val"]["by_weight"], refine["splits"]["test"]["by_weight"]
    rows = [
        [
            f"**{w}**" if float(w) == refine["chosen_on_val"] else w,
            f"{val[w]['moves']:.3f}",
            f"{val[w]['keeps']:.3f}",
            f"{val[w]['balance']:.3f}",
            f"{test[w]['moves']:.3f}",
            f"{test[w]['keeps']:.3f}",
        ]
        for w in val
    ]
    header = ["weight", "val: holds the word", "val: still like the photo", "val: balance (chooses)"]
    header += ["test: holds the word", "test: still like the photo"]
    return (
        f"A photo query moved toward a typed food word: normalize((1 − w)·photo + w·words) "
        f'(`embeddings/serving/refine.py`). {refine["protocol"]}. "Holds the word": share of the top 10 whose '
        f'ingredient lines hold it; "still like the photo": share among the photo-alone top 100 of the '
        f"same pool; the default weight maximises their harmonic mean on val. Words: "
        f"{', '.join(refine['words'])}.\n\n{markdown_table(header, rows)}\n\n"
        f"{source_line(refine)} {load_note(refine)}"
    )


# results/first_run_engine.json: a whole first run with the inference engine (photos fp32,
# text int8), timed until the full model served; first_run_engine_page.json: the engine with
# text at fp32, to the page only. Before the engine (kept with their commits):
# first_run_idle.json / first_run.json, timed to the page; first_run_full.json, a whole run.
FIRST_RUNS = ("first_run_engine", "first_run_engine_page", "first_run_idle", "first_run", "first_run_full")


def paused(run: dict) -> str:
    """A run stopped (SIGSTOP) for a while, e.g. while another first run was timed alone."""
    if not run.get("paused_s"):
        return ""
    return (
        f"Its background run was paused for {run['paused_s'] / 60:.0f} min ({run['paused_when']}) while the "
        "shipped first run was timed; the full-model figures include that pause. "
    )


def first_run_section() -> str:
    parts = []
    for name in FIRST_RUNS:
        run = load_result(name)
        if not run:
            continue
        rows = [[stage, f"{seconds / 60:.1f}"] for stage, seconds in run["stage_seconds"].items()]
        served, swapped = run.get("page_served_s"), run.get("full_model_serving_s")
        loads = [entry[1] for entry in run["load_average_each_minute"]]
        parts.append(
            f"`results/{name}.json`: a cold `make demo` from a fresh clone (commit {run['clone_commit']}) with an "
            f"empty feature cache: **the page was served after {served / 60:.1f} min**"
            + (f", and **the full model replaced the quick one after {swapped / 60:.1f} min**" if swapped else "")
            + f". Stages, in minutes of wall time:\n\n{markdown_table(['stage', 'minutes'], rows)}\n\n"
            f"The machine was shared: 1-minute load average {min(loads):.1f} to {max(loads):.1f} during the run "
            f"(2 cores). {paused(run)}{source_line(run)}"
        )
    return "\n\n".join(parts) or "_Not run yet: `python benchmarks/bench_first_run.py`._"


def timings_section() -> str:
    """The README's line under the two commands: how long a first `make demo` takes."""
    page = load_result("first_run_engine") or load_result("first_run_idle") or load_result("first_run")
    full = (page if page and page.get("full_model_serving_s") else load_result("first_run_full")) or {}
    if not page or not page.get("page_served_s"):
        return "_`make demo` not timed yet: `python benchmarks/bench_first_run.py`._"
    swapped = page.get("full_model_serving_s") or full.get("full_model_serving_s")
    if swapped and full.get("paused_s"):
        swapped -= full["paused_s"]  # that run waited while another was timed (RESULTS.md says when)
    loads = sorted(entry[1] for entry in page["load_average_each_minute"])
    busy = loads[len(loads) // 2] > 2.5  # the run itself keeps both cores busy (load ≈ 2)
    where = (
        f"our shared 2-core machine (load average {loads[len(loads) // 2]:.1f}: another job held about one core)"
        if busy
        else "an otherwise idle 2-core machine"
    )
    return (
        f"The first `make demo` on {where} opened the page after **{page['page_served_s'] / 60:.1f} "
        f"minutes** with a quick model (set-up, then one pass of the photo and text backbones over the sample "
        f"and a minute of training)"
        + (
            f"; the full model, trained in the background, replaced it by itself after about **{swapped / 60:.0f} "
            "minutes** in all"
            if swapped
            else ""
        )
        + " (`python benchmarks/bench_first_run.py`; each stage, and how busy the machine was, in "
        "[benchmarks/RESULTS.md](benchmarks/RESULTS.md))."
    )
