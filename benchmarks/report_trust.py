"""RESULTS.md's section on answers a person can trust (issue 24): how sure the app says it
is against how often it is right, "looks like", "more like this one" (results/confidence.json,
benchmarks/bench_confidence.py) and the diet chips' audit (results/diet_audit.json,
benchmarks/bench_diet_audit.py)."""

from __future__ import annotations

from benchmarks.report_format import load_result, markdown_table, source_line

KINDS = {
    "image_to_recipe": "photo → recipe",
    "title_to_recipe": "title → recipe",
    "recipe_to_image": "pasted recipe → photo",
}
OUTCOMES = {"first": "its own recipe first", "same_kind": "the same kind of dish first"}


def outcome_name(name: str, kind: str) -> str:
    own = "its own photo" if kind == "recipe_to_image" else "its own recipe"
    if name.startswith("shown:"):
        return f"{own} among the first {name.split(':')[1]}"
    return OUTCOMES[name].replace("its own recipe", own)


def mean(bins: list[dict], key: str) -> float:
    return sum(b["queries"] * b[key] for b in bins) / max(1, sum(b["queries"] for b in bins))


def confidence_part(said: dict) -> str:
    test = said["test"]
    rows = []
    for kind, outcomes in test.items():
        if kind == "looks_like":
            continue
        for name, r in outcomes.items():
            rows.append(
                [
                    KINDS[kind],
                    outcome_name(name, kind),
                    r["queries"],
                    f"{mean(r['bins'], 'predicted'):.3f}",
                    f"{mean(r['bins'], 'observed'):.3f}",
                    f"**{r['ece']:.3f}**",
                ]
            )
    summary = markdown_table(["query", "right means", "test queries", "mean said", "came true", "ECE"], rows)
    bins = []
    for kind, outcomes in test.items():
        if kind == "looks_like":
            continue
        for name, r in outcomes.items():
            for b in r["bins"]:
                bins.append(
                    [
                        KINDS[kind],
                        outcome_name(name, kind),
                        f"{b['low']:.1f}–{b['high']:.1f}",
                        b["queries"],
                        f"{b['predicted']:.3f}",
                        f"{b['observed']:.3f}",
                    ]
                )
    reliability = markdown_table(["query", "right means", "said", "queries", "mean said", "came true"], bins)
    looks, fitted = test.get("looks_like", {}), said["fitted_looks_like"]
    if fitted.get("min_votes"):
        rule = (
            f"said when at least {fitted['min_votes']} of the {fitted['closest']} closest agree (val precision "
            f"{fitted['val_precision']:.0%}, coverage {fitted['val_coverage']:.0%}); on test: coverage "
            f"{looks['coverage']:.1%}, precision {looks['precision']:.1%}."
        )
    else:
        rule = (
            "no vote count reached 60% precision on val, so the app never says it and always answers "
            f"\u201cnot sure\u201d with the two or three closest kinds; on test (coverage 0%), the leading kind "
            f"of the closest {fitted.get('closest', 10)} is the photo's own kind for "
            f"{looks['leading_kind_right_any_votes']:.1%} of {looks['queries']} photos."
        )
    first_run = load_result("confidence_first")
    history = ""
    if first_run:
        before = first_run["test"]["image_to_recipe"]["first"]
        top = before["bins"][-1]
        history = (
            f"\n\nThe first test run (`results/confidence_first.json`, {first_run['date']}) fitted steps of any "
            f"size: photo → recipe ECE {before['ece']:.3f}, and its top step said {top['predicted']:.0%} for "
            f"{top['queries']} photos of which {top['observed']:.0%} came true. Each step now rests on at least "
            "20 val queries (`model/confidence.py`); that change was made after seeing that test table, so the "
            "figures above are not blind to it."
        )
    more = said["more_like_this"]
    share, rank = more["same_kind_share"], more["median_rank_in_photo_search"]
    return f"""Protocol: {said["protocol"]}. Each test row with a recipe is a query searched as the app searches it,
against the whole index it serves (`{said["index"]}`: every split's rows, so training recipes compete too;
no filter); right = the query's own row; same kind = the dish class (`model/dish_kinds.py`) of the first
result's title equals the query's own (classes: the rule training uses, fitted on the training titles).
Mappings: isotonic (pool-adjacent-violators) on z = s1 + w·(s1 − s2), w chosen on val by two-fold
Brier score (`train/calibration.py`). Model: `{said["model"]}`, the quick model (refit any model with
`python -m train.calibration --model DIR --index DIR`). A title query here is a collection title typed
exactly, so it is nearly always right; a typed name unlike every title scores lower and gets the
mapping's lower steps, fitted on the few val titles that scored as low.

{summary}

Reliability (10 equal-width bins of what the app said; empty bins left out):

{reliability}{history}

**Looks like** (photos; a vote of the closest 10 results' dish kinds): {rule}

**More like this one**: for the {more["photos"]} of {more["of_test_photos"]} test photos whose own recipe
came 2nd to 10th, the 10 neighbours of the own recipe (its recipe + photo vectors, `embeddings/serving/neighbours.py`)
are the photo's own kind of dish {share["own recipe's neighbours"]:.0%} of the time, against
{share["first answer's neighbours"]:.0%} for the first answer's neighbours and
{share["photo search's first ten"]:.0%} for the photo search's own first ten; in the photo's own ranking the
own recipe's neighbours sit at median rank {rank["own recipe's neighbours"]:.0f}, the first answer's at
{rank["first answer's neighbours"]:.0f}.

{source_line(said)}"""


AUDIT_RUNS = ("diet_audit_before", "diet_audit_first", "diet_audit")


def audit_part(audits: list[dict]) -> str:
    rows = []
    for audit in audits:
        result = audit["figures"]["all"]
        for chip in ("vegetarian", "no_nuts", "no_dairy", "gluten_free"):
            c = result[chip]
            leak = "–" if c["leak"] is None else f"**{c['leak']:.1%}**"
            recall = "–" if c["recall"] is None else f"{c['recall']:.1%}"
            rows.append([audit.get("label") or audit["diets"], chip, c["break"], c["kept_that_break"], leak, recall])
    table = markdown_table(
        ["word lists", "chip", "break it", "kept that break it", "leak (target ≤ 1%)", "recall"], rows
    )
    last = audits[-1]
    random = last["figures"].get("random")
    random_line = (
        " On its random pool alone (an unbiased sample of the catalogue), recall: "
        + ", ".join(
            f"{chip} {random[chip]['recall']:.1%}" for chip in ("vegetarian", "no_nuts", "no_dairy", "gluten_free")
        )
        + "."
        if random
        else ""
    )
    return f"""**Diet chips, audited** against a hand-labelled set (`{last["audit"]}`: {last["figures"]["all"]["found"]}
recipes, a random pool and a pool drawn by keywords, labelled by another engineer without the word lists; how:
`benchmarks/data/diet_audit.md`). Leak: of the recipes that break a chip, the share it keeps; recall: of those
that do not, the share it keeps. The word lists were extended once after seeing the first run's misses (a careful
lexicon's gaps: fluke, mahimahi, kimchi, refried beans, croissant, brioche, kecap manis, bouillon cubes), so the
last rows are measured on the set that found those gaps, not on a fresh one; the middle rows are the blind
measure.{random_line}

{table}

{source_line(last)}"""


def trust_section() -> str:
    said = load_result("confidence")
    parts = [
        confidence_part(said)
        if said
        else "_Not run yet: `python benchmarks/bench_confidence.py --model DIR --index DIR`._"
    ]
    net = load_result("diet_net")
    if net:
        parts_net = []
        for chip, by in net["figures"].items():
            words = by["words only"]
            better = [
                (name, f)
                for name, f in by.items()
                if name != "words only" and f["kept_that_break"] < words["kept_that_break"]
            ]
            if better:
                name, f = max(better, key=lambda item: item[1]["recall"])
                parts_net.append(
                    f"{chip}: {words['kept_that_break']} → {f['kept_that_break']} kept that break it at {name}, "
                    f"recall {words['recall']:.1%} → {f['recall']:.1%}"
                )
            else:
                parts_net.append(f"{chip}: catches none the words miss")
        net_text = (
            "**A second net from the text model** (a line or title within cosine τ of the chip's own words in "
            f"the recipe text backbone's space, `benchmarks/bench_diet_net.py`, on the blind word lists, commit "
            f"cab67ab's `ui/diets.toml` saved as `{net['diets']}`): "
            + "; ".join(parts_net)
            + ". It does not measure better, so the app does not use "
            "it (it would also need every line's vector at start-up). " + source_line(net)
        )
    audits = [audit for audit in map(load_result, AUDIT_RUNS) if audit]
    parts.append(
        audit_part(audits)
        if audits
        else "_The diet audit has not run yet: `python benchmarks/bench_diet_audit.py --data DIR`._"
    )
    if net:
        parts.append(net_text)
    return "\n\n".join(parts)
