"""Formatting shared by the report's sections: results files in, markdown out."""

from __future__ import annotations

import json
import re

from benchmarks.common import RESULTS

DIRECTIONS = ("image_to_recipe", "recipe_to_image", "title_to_image", "image_to_title")


def load_result(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def quality_table(test: dict) -> str:
    lines = ["| direction | pool × bags | MedR | R@1 | R@5 | R@10 |", "|---|---|---|---|---|---|"]
    for d in DIRECTIONS:
        m = test[d]
        lines.append(
            f"| {d.replace('_', ' ')} | {m['pool']} × {m['bags']} | {m['medr']:.1f} | "
            f"{m['r1']:.3f} ± {m['r1_std']:.3f} | {m['r5']:.3f} ± {m['r5_std']:.3f} | "
            f"{m['r10']:.3f} ± {m['r10_std']:.3f} |"
        )
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A markdown table."""
    return "\n".join("| " + " | ".join(map(str, cells)) + " |" for cells in [header, ["---"] * len(header), *rows])


# A folder written as an absolute path (/work/runs/..., /tmp/...): one machine's, not the reader's.
_ABSOLUTE = re.compile(r"(?<![\w.])/(?:[\w.+-]+/)*[\w.+-]+")


def portable(command: str) -> str:
    """A command as a reader can run it: absolute folders of the machine that ran it become
    DIR (relative paths, such as ../shared/data/epicurious, stay)."""
    return _ABSOLUTE.sub("DIR", command)


def source_line(figures: dict) -> str:
    """The command, date and commit a section's figures came from."""
    return f"Command: `{portable(figures['command'])}` ({figures['date']}, commit {figures['commit']})."


def load_note(figures: dict) -> str:
    """Other work on the machine while a benchmark ran (1-minute load average, 2 cores)."""
    if "load_average_start" not in figures:
        return ""
    return f"load average {figures['load_average_start'][0]:.1f} at start, {figures['load_average_end'][0]:.1f} at end"
