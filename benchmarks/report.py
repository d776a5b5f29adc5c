"""benchmarks/results/*.json and results/experiments.jsonl -> the generated blocks of
benchmarks/RESULTS.md and README.md (`python -m benchmarks.report`). Both are written by hand:
the report rewrites only the text between `<!-- table:NAME:start -->` and `<!-- table:NAME:end -->`,
from the spec NAME in benchmarks/tables.toml, whose values are dotted paths into stored rows or
small expressions over them. It imports no benchmark script and nothing heavy."""

from __future__ import annotations

import builtins
import functools
import json
import math
import re
import statistics
import tomllib
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, shown

SPECS = ROOT / "benchmarks" / "tables.toml"
OUT = ROOT / "benchmarks" / "RESULTS.md"
DOCUMENTS = (OUT, ROOT / "README.md")
LOG = "experiments.jsonl"  # one experiment run a line (benchmarks/experiment.py writes it)
# A block's markers stand on lines of their own (a marker quoted in a sentence is not one),
# indented alike when the block sits inside a list item (its text is indented with them).
BLOCK = re.compile(r"^([ \t]*)(<!-- table:([\w-]+):start -->)$.*?^\1(<!-- table:\3:end -->)$", re.S | re.M)
# A folder written as an absolute path (/work/runs/..., /tmp/...): one machine's, not the reader's.
_ABSOLUTE = re.compile(r"(?<![\w.])/(?:[\w.+-]+/)*[\w.+-]+")


class Record(dict):
    """A stored object whose fields read as attributes too (`test.image_to_recipe.r1`; `row["4"]`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None  # a missing field: the cell shows "–"


def results(pattern: str) -> dict[str, Record]:
    """Every stored results file a name or a glob (`split_noise_*`) matches, by name."""
    paths = sorted(RESULTS.glob(f"{pattern}.json")) if "*" in pattern else [RESULTS / f"{pattern}.json"]
    return {path.stem: json.loads(path.read_text(), object_hook=Record) for path in paths if path.is_file()}


def log_entries(experiment: str, unique: str) -> list[Record]:
    """The experiment log's runs of one experiment; a run repeated (the same `unique` key:
    variant, seed and split) counts once, the latest date winning."""
    path = RESULTS / LOG
    lines = path.read_text().splitlines() if path.is_file() else []
    rows = [json.loads(line, object_hook=Record) for line in lines if line.strip()]
    runs = sorted((r for r in rows if r.get("experiment") == experiment), key=lambda r: r.get("date", ""))
    return list({evaluate(unique, scope(r)): r for r in runs}.values())  # the latest of each key stays


_SCRIPT = re.compile(r"benchmarks/[\w]+\.py")


def portable(command: str) -> str:
    """A command as a reader can run it: the machine's absolute folders become DIR (relative ones stay)."""
    return _ABSOLUTE.sub("DIR", command)


def children(value) -> list[tuple]:
    """(key, child) pairs of a dict or a list; none of a plain value."""
    return list(value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ())


def get(obj, path: str):
    """The value at a dotted path; a `*` step takes every child, giving a list."""
    found = [obj]
    for step in path.split("."):
        found = [v for c in found for k, v in children(c) if step in ("*", k)]
    return found if "*" in path else (found[0] if found else None)


def each(obj, path: str) -> dict[tuple, object]:
    """The children at a path of `*` steps, keyed by the keys that led there (rows of nested dicts)."""
    level = {(): obj}
    for step in path.split("."):
        level = {
            (*ks, k) if step == "*" else ks: v for ks, o in level.items() for k, v in children(o) if step in ("*", k)
        }
    return level


def mean(values) -> float:
    return sum(values := list(values)) / len(values)  # as train.loop.val_score sums: the same last digit


def sd(values) -> float:
    return statistics.stdev(values) if len(values := list(values)) > 1 else 0.0


def sem(values) -> float:
    return sd(values := list(values)) / math.sqrt(len(values))


def pairs(splits: list, baseline: list) -> list[tuple]:
    """(baseline, variant) of each split both ran on the same rows (before the sample grew: none)."""
    base = {r["salt"]: r for r in baseline}
    same = [r for r in splits if r["salt"] in base and r.get("full_recipes") == base[r["salt"]].get("full_recipes")]
    return [(base[r["salt"]], r) for r in same]


def paired(pairs: list[tuple], path: str) -> tuple[float, float, float]:
    """(variant's mean, mean paired difference, its standard error); a `*` path averages (val.*.r1)."""

    def pick(r):
        return mean(v) if isinstance(v := get(r, path), list) else v

    diffs = [pick(v) - pick(b) for b, v in pairs]
    return statistics.fmean(pick(v) for _, v in pairs), statistics.fmean(diffs), sem(diffs)


LABELS: dict[str, str] = {}  # benchmarks/tables.toml [labels]: a stored key -> its name in a table


def evaluate(expression: str, names: dict):
    # One namespace (no separate locals), so that comprehensions and lambdas see the row too.
    return eval(expression, {"__builtins__": SAFE, **HELPERS, **names})  # noqa: S307 (the repository's own specs)


def scope(row, **names) -> dict:
    """The names a value sees: the row's own fields, then `row`, `key`, `src`, ... ."""
    return {**(row if isinstance(row, dict) else {}), "row": row, **names}


def shown_value(value, form: str = "") -> str:
    """A value in a cell: `form` is a format spec (`.3f`) or a template (`{:+.4f}`, `{0} × {1}`)."""
    if value is None:
        return "–"
    if isinstance(value, str) or not form:
        return str(value)
    return (
        form.format(*value) if isinstance(value, tuple) else form.format(value) if "{" in form else format(value, form)
    )


BUILTINS = "abs all any bool dict enumerate float int isinstance len list max min range round sorted str sum tuple zip"
SAFE = {name: getattr(builtins, name) for name in BUILTINS.split()}
HELPERS = {"get": get, "each": each, "mean": mean, "sd": sd, "sem": sem, "pairs": pairs, "paired": paired} | {
    "label": lambda key: LABELS.get(str(key), str(key).replace("_", " ")),  # a key's name, else the key spaced
    "portable": portable, "shown": shown, "json": json.dumps, "fmt": shown_value,
    "result": lambda name: results(name).get(name), "bullets": lambda xs: "\n".join(f"- {x}" for x in xs),
    # A measured model by the command that trains it again; a record made before that was stored: its folder.
    "made_by": lambda r: f"`{r.get('model_trained_by') or portable(str(r.get('model')))}`",
}  # fmt: skip


def value_of(column: dict, names: dict):
    """A column's value for one row; a missing field (a benchmark that stored less) is None."""
    try:
        value = evaluate(column["value"], names)
        return (value, evaluate(column["pm"], names)) if "pm" in column else value
    except (LookupError, NameError, AttributeError, TypeError, ZeroDivisionError):
        return None


def form_of(column: dict) -> str:
    form = column.get("format", "")
    return "{0:%s} ± {1:%s}" % (form, form) if "pm" in column and "{" not in form else form


def grouped(column: dict, rows: list[dict], how: str) -> str:
    """A column over a group's runs (a variant's seeds or splits): `mean_sd`, `mean_se`, `range`,
    the count `n`; a text (the label) or a single run shows the value itself."""
    how = column.get("aggregate", how)
    if how == "n":
        return str(len(rows))
    values = [value_of(column, names) for names in rows]
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    form = column.get("format", "")
    if how == "first" or len(numbers) < 2 or len(numbers) < len(values):
        return shown_value(values[0], form_of(column))
    if how == "range":
        low, high = shown_value(min(numbers), form), shown_value(max(numbers), form)
        return low if low == high else f"{low}–{high}"
    spread = sd(numbers) if how == "mean_sd" else sem(numbers)
    return f"{shown_value(mean(numbers), form)} ± {shown_value(spread, form.replace('+', ''))}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join(
        "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |" for cells in lines
    )


def gather(spec: dict) -> tuple[dict, list, list[dict]] | None:
    """(the names its values see, its rows unless it names some, the stored records its figures
    come from), or None while nothing is stored."""
    if "log" in spec:
        entries = log_entries(spec["log"], spec.get("unique", "(variant, seed, split)"))
        return ({"src": entries[-1], "srcs": {}}, entries, entries) if entries else None
    sources = [spec["source"]] if isinstance(spec["source"], str) else spec["source"]
    files = {name: data for pattern in sources for name, data in results(pattern).items()}
    if not files:
        return None
    first = next(iter(files.values()))
    src = get(first, spec["root"]) if "root" in spec else first
    names = {"src": src, "srcs": Record(files), **{k: results(v).get(v) for k, v in spec.get("with", {}).items()}}
    return names, files, [src] if "root" in spec else list(files.values())


def rows_of(spec: dict, names: dict, default) -> list[tuple]:
    """(key, row) pairs of the `rows` expression (a list or a dict), else of the default, kept by `where`."""
    found = children(evaluate(spec["rows"], scope(names["src"], **names)) if "rows" in spec else default)
    if "where" in spec:
        found = [(k, r) for k, r in found if evaluate(spec["where"], scope(r, **names, key=k))]
    return found


def figures_table(spec: dict, at: dict) -> str:
    """One source's figures, figure | value; one with a target (a fixed goal) says if it met it."""
    header, met = spec.get("header", ["figure", "value"]), {True: "met", False: "**missed**", None: ""}

    def cells(f: dict) -> list[str]:
        check = met[value_of({"value": f.get("check", "None")}, at)]
        return [f["label"], shown_value(value_of(f, at), form_of(f)), f.get("target", ""), check][: len(header)]

    return table(header, [cells(f) for f in spec["figures"]])


def body(spec: dict, names: dict, default) -> tuple[str, list | None]:
    """The block's table, lines or figures, without its command line, and its rows."""
    if "figures" in spec:
        return figures_table(spec, scope(names["src"], **names)), None
    rows = rows_of(spec, names, default) if "rows" in spec or "line" not in spec else [(None, names["src"])]
    everyone = [r for _, r in rows]
    scopes = [scope(r, **names, key=k, all_rows=everyone) for k, r in rows]
    if "line" in spec:  # a template (an f-string over the row) per row
        template = 'f"""' + spec["line"] + '"""'
        return spec.get("join", "\n").join(evaluate(template, at) for at in scopes), everyone
    columns = spec["columns"]
    if "group" in spec:  # one line per group (a variant), its runs aggregated
        keys = [evaluate(spec["group"], at) for at in scopes]
        groups = [[at for k, at in zip(keys, scopes) if k == key] for key in dict.fromkeys(keys)]
        cells = [[grouped(c, group, spec.get("aggregate", "mean_sd")) for c in columns] for group in groups]
    else:
        cells = [[shown_value(value_of(c, at), form_of(c)) for c in columns] for at in scopes]
    return table([c["label"] for c in columns], cells), everyone


def load_note(r: dict) -> str:
    """Other work on the machine while a benchmark ran (1-minute load average), in its four stored shapes."""
    load = r.get("load_average") or {}
    load = dict(zip(("start", "end"), load)) if isinstance(load, list) and isinstance(load[0], list) else load
    start = r.get("load_average_start") or r.get("load_start") or (load.get("start") if isinstance(load, dict) else 0)
    end = r.get("load_average_end") or r.get("load_end") or (load.get("end") if isinstance(load, dict) else 0)
    return f"load average {start[0]:.1f} at start, {end[0]:.1f} at end" if start and end else ""


def command_line(spec: dict, records: list[dict]) -> str:
    """Command: `...` (date, commit) of the stored records the block's figures came from."""
    if "dated_by" in spec:  # rows that keep their own date and commit (a run with --only replaced them)
        records = [{"command": records[0].get("command"), **m} for m in get(records[0], spec["dated_by"]) if m]
    commands = list(dict.fromkeys(portable(r["command"]) for r in records if r.get("command")))
    dates = sorted(r["date"] for r in records if r.get("date"))
    commits = list(dict.fromkeys(r["commit"] for r in records if r.get("commit")))
    when = [dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"] if dates else []
    when += [f"commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}"] if commits else []
    load = load_note(records[0]) if len(records) == 1 else ""
    line = f"Command: {', '.join(f'`{c}`' for c in commands)} ({', '.join(when)}{'; ' + load if load else ''})."
    return line + retired_note(commands)


def retired_note(commands: list[str]) -> str:
    """Where a command names a benchmark script that no longer exists: how to get it back."""
    gone = sorted({s for c in commands for s in _SCRIPT.findall(c) if not (ROOT / s).is_file()})
    kept = [f"`git show {commit}:{s}`" for s in gone if (commit := last_commit_with(s))]
    return f" Retired script{'s' if len(kept) > 1 else ''}, kept in git: {', '.join(kept)}." if kept else ""


@functools.cache  # many blocks name the same retired script: three git calls each, once
def last_commit_with(path: str) -> str | None:
    """The newest commit holding `path` (the one before its deletion), short; None outside git."""
    import subprocess

    def git(*args) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    touched = git("rev-list", "-1", "HEAD", "--", path).stdout.strip()
    if not touched:
        return None
    held = touched if git("cat-file", "-e", f"{touched}:{path}").returncode == 0 else f"{touched}^"
    return git("rev-parse", "--short", held).stdout.strip() or None


def render(spec: dict) -> str:
    """A block's text: its figures and the command that made them, or the command to run."""
    if (found := gather(spec)) is None:
        return f"_Not run yet: `{spec['missing']}`._"
    names, default, records = found
    text, rows = body(spec, names, default)
    # The files a `where` kept, not every one; a line over all its sources names them all.
    if rows is not None and "rows" not in spec and "line" not in spec:
        records = rows
    return text + (f"\n\n{command_line(spec, records)}" if spec.get("command", True) else "")


def load_specs(path: Path = SPECS) -> dict[str, dict]:
    """tables.toml: [labels] and one [NAME] a block; `like = OTHER` starts from OTHER's fields."""
    specs = tomllib.loads(path.read_text())
    LABELS.update(specs.pop("labels", {}))
    return {name: {**specs.get(spec.get("like"), {}), **spec} for name, spec in specs.items()}


def fill(text: str, specs: dict[str, dict]) -> str:
    """The text with every generated block rewritten; the rest untouched."""

    def block(m: re.Match) -> str:
        try:  # a block without a spec is a KeyError too
            body = "\n".join(m[1] + line if line else line for line in render(specs[m[3]]).split("\n"))
            return f"{m[1]}{m[2]}\n{body}\n{m[1]}{m[4]}"
        except Exception as error:
            error.add_note(f"in the block [{m[3]}] of {SPECS.name}")
            raise

    return BLOCK.sub(block, text)


def write_report(documents=DOCUMENTS) -> Path:
    specs = load_specs()
    for path in documents:
        path.write_text(fill(path.read_text(), specs))
    return OUT


if __name__ == "__main__":
    print(write_report())
