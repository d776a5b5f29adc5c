"""RESULTS.md's section on what a photo bomb costs the app (issue 25): results JSON in, markdown out."""

from __future__ import annotations

from benchmarks.report_format import load_result, markdown_table, source_line


def _outcome(row: dict) -> str:
    text = row.get("outcome") or "; ".join(f"{name}: {o.split(':')[0]}" for name, o in row["outcomes"].items())
    return text if len(text) <= 70 else text[:69] + "…"


def photo_memory_section() -> str:
    now, before = load_result("photo_memory"), load_result("photo_memory_before")
    if not now:
        return "_Not run yet: `python benchmarks/bench_photo_memory.py`._"
    rows = []
    for name, row in now["reader"].items():
        was = (before or {}).get("reader", {}).get(name)
        size = f"{row['file_bytes'] / 1000:,.0f} kB" if row.get("file_bytes") else ""
        cells = [name, size, f"+{row['peak_over_idle_mb']:.0f}", f"{row['seconds']:.2f}", _outcome(row)]
        if before:
            cells += [f"+{was['peak_over_idle_mb']:.0f}" if was else "–", f"{was['seconds']:.2f}" if was else "–"]
        rows.append(cells)
    header = ["photo", "file", "MB over idle", "s", "outcome"]
    if before:
        header += ["before: MB over idle", "before: s"]
    text = (
        "Each photo read as the app reads an upload (`ui.inputs.read_photo`, then the model's own "
        "preprocessing), in a fresh process whose resident high-water mark is reset after a warm-up photo; "
        '"two at once": the photos in pairs on two threads, as two searches run at once. Target: the peak '
        f"within {now['target_mb']} MB of the idle figure; worst now **+{now['worst_peak_over_idle_mb']:.0f} MB**"
        + (f" (before: +{before['worst_peak_over_idle_mb']:,.0f} MB)" if before else "")
        + ".\n\n"
        + markdown_table(header, rows)
        + f"\n\n{source_line(now)}"
    )
    if before:
        text += f"  \nBefore, the app code at commit {before.get('root_commit', '?')}: {source_line(before)}"
    if now.get("served"):
        served = [[name, f"+{r['peak_over_idle_mb']:.0f}", r["outcome"][:70]] for name, r in now["served"].items()]
        text += "\n\nThe served app (`python app.py`), each photo sent with gradio_client:\n\n"
        text += markdown_table(["photo", "server MB over idle", "outcome"], served)
    return text
