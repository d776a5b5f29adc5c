"""RESULTS.md's sections on where a served query's time goes and on the near-duplicate
rule of "Similar dishes": results JSON in, markdown out."""

from __future__ import annotations

from benchmarks.report_format import load_note, load_result, markdown_table, source_line

PHASES = ("upload", "queue", "handler", "response", "thumbnails")
BROWSER_STEPS = ("upload", "join", "answer", "images", "painted")


def _ms(value) -> str:
    return "–" if value is None else f"{value:.0f}"


def query_time_section() -> str:
    r = load_result("query_time")
    if not r:
        return "_Not run yet: `python benchmarks/bench_query_time.py`._"
    rows = []
    for label in r["apps"]:
        for kind, browser in (("title", "title_click_to_painted"), ("photo", "photo_chosen_to_painted")):
            s, c = r["split"][label][kind], r["gradio_client"][label]
            painted = r.get("browser", {}).get(label, {}).get(browser, {})
            steps = " / ".join(_ms(painted.get(f"{step}_step_median_ms")) for step in BROWSER_STEPS)
            rows.append(
                [
                    f"{label}: {kind}",
                    f"**{_ms(painted.get('median_ms'))}** (p90 {_ms(painted.get('p90_ms'))})",
                    steps,
                    _ms(c[f"{kind}_without_downloads"]["median_ms"]),
                    _ms(c[f"{kind}_with_downloads"]["median_ms"]),
                    " / ".join(_ms(s[f"{p}_median_ms"]) for p in PHASES),
                    f"{1000 * r['split'][label]['server_cpu_s'] / (2 * r['queries_each']):.0f}",
                ]
            )
    table = markdown_table(
        [
            "app: query",
            "browser: to gallery painted, ms",
            "… steps: upload / query sent / answer in / files in / painted",
            "gradio_client ms",
            "… with file downloads",
            "protocol ms: upload / queue / handler / response / thumbnails",
            "server CPU ms per query",
        ],
        rows,
    )
    apps = "; ".join(f"{label}: `{app}`" for label, app in r["apps"].items())
    idle = ", ".join(f"{label} {100 * share:.0f}%" for label, share in r["server_idle_cpu_share"].items())
    return (
        f"One query at a time against `python app.py` on 127.0.0.1 ({apps}; with two apps, every query goes to "
        f"both in turn, so both see the same load), {r['queries_each']} titles and {r['queries_each']} photos "
        "(medians). Browser: Debian's chromium, headless, from the click (title) or the file chosen (photo: the "
        "upload starts the search) until every gallery image is loaded and painted, and the step each part took "
        "(from Resource Timing). Protocol: Gradio's queue protocol spoken directly, phase by phase; handler is the "
        "server's own timing of the function; thumbnails are the answer's gallery files fetched 6 at a time. "
        f"gradio_client downloads each file with a new HTTP client.\n\n{table}\n\nServer idle: {idle} of a core. "
        f"{load_note(r).capitalize()}. {source_line(r)}"
    )


def near_duplicates_section() -> str:
    nd = load_result("near_duplicates")
    if not nd:
        return "_Not run yet: `python benchmarks/bench_near_duplicates.py`._"
    chosen, variants = nd["chosen"], nd["variants"]
    in_app = nd.get("in_app")
    rows = []
    for name in ("phash", "dhash"):
        for t in (4, 6, 8, 10, 12):
            a = nd["all_rows"][name][str(t)]
            is_chosen = (name, t) == (chosen["method"], chosen["max_distance"])
            row = [f"{name} ≤ {t}" + (" **(chosen)**" if is_chosen else "")]
            row += [f"{a['caught'][v]:.3f}" for v in variants]
            row.append(f"{100 * a['copies_with_a_wrong_drop']:.2f}%")
            if in_app:
                i = in_app["table"][name][str(t)]
                row += [f"{i['caught'][v]:.3f}" for v in nd["must_catch"]]
                row.append(f"{100 * i['copies_with_a_wrong_drop']:.2f}%")
            rows.append(row)
    header = ["rule", *(f"caught: {v}" for v in variants), "another dish hidden (every row)"]
    if in_app:
        header += [*(f"in the app: {v}" for v in nd["must_catch"]), "another dish hidden (in the app)"]
    before = ""
    if in_app:
        shown = ", ".join(f"{v} {m['own_shown_in_top_k']:.2f}" for v, m in in_app["per_variant"].items())
        old = ", ".join(f"{v} {m['old_rule_caught']:.2f}" for v, m in in_app["per_variant"].items())
        before = (
            f" Without a rule the copy's own photo is in the top {in_app['candidates'].split()[1]} for: {shown}; "
            f"the old rule (cosine ≥ 0.999) left it out for: {old}."
        )
    return (
        f"{nd['queries']} photos of the sample, each altered five ways, hashed against all {nd['rows']:,} rows' index "
        f"thumbnails (share of copies whose own row is within the distance; share of copies for which a row showing "
        f"another dish is within it; rows showing the same picture are not counted). The rule is chosen as the one "
        f"catching most of {', '.join(nd['must_catch'])} while hiding another dish for at most "
        f"{100 * nd['max_wrong_share']:.1f}% of copies"
        + (" inside the app's candidates" if in_app else "")
        + f" and {100 * nd.get('all_rows_max_wrong_share', 1):.0f}% over every row.{before}\n\n"
        + markdown_table(header, rows)
        + f"\n\nHashing one thumbnail: {nd['hash_ms_per_thumbnail']['phash']} ms (phash); {load_note(nd)}.  \n"
        + source_line(nd)
    )
