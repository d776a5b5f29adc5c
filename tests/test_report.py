"""The generic report (benchmarks/report.py): it rewrites only the generated blocks of a
hand-written page, from table specs that are data, over results files and the experiment log
the tests write here."""

import json
import subprocess
import sys

import pytest

import benchmarks.report as report

SPECS = """
[labels]
image_to_recipe = "photo → recipe"

[quality]
source = "train"
missing = "python benchmarks/bench_train.py"
rows = "test"
columns = [{ label = "direction", value = "label(key)" },
  { label = "R@1", value = "r1", pm = "r1_std", format = ".3f" }, { label = "MedR", value = "medr", format = ".1f" }]

[speed]
source = "speed"
missing = "python benchmarks/bench_speed.py"
line = "Served after **{page_s / 60:.1f} min**."

[ablations]
log = "ablations"
missing = "python -m benchmarks.experiment benchmarks/variants/ablations.toml"
group = "variant"
columns = [
  { label = "variant", value = "variant" },
  { label = "runs", value = "seed", aggregate = "n" },
  { label = "test photo → recipe R@1", value = "figures.test.image_to_recipe.r1", format = ".3f" },
  { label = "best epoch", value = "figures.best_epoch", aggregate = "range" },
]
"""

PAGE = """# Results

Hand-written prose, kept as it is.

<!-- table:quality:start -->
stale figures
<!-- table:quality:end -->

More prose between blocks: `<!-- table:quoted:start -->` in a sentence is not a block.

<!-- table:speed:start -->
<!-- table:speed:end -->

<!-- table:ablations:start -->
<!-- table:ablations:end -->
"""


def direction(r1: float, medr: float = 12.0) -> dict:
    return {"r1": r1, "r1_std": 0.004, "r5": 0.3, "r10": 0.4, "medr": medr, "pool": 500, "bags": 10}


def run(variant: str, seed: int, r1: float, date: str, epoch: int = 13) -> dict:
    """One line of the experiment log (benchmarks/experiment.py's schema)."""
    test = {"image_to_recipe": direction(r1)}
    return {
        "experiment": "ablations",
        "variant": variant,
        "seed": seed,
        "split": None,
        "figures": {"val": test, "test": test, "best_epoch": epoch, "train_seconds": 120.0},
        "commit": f"c{seed}{date[-5:-3]}",
        "date": date,
        "command": "python -m benchmarks.experiment benchmarks/variants/ablations.toml",
    }


@pytest.fixture
def results(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    folder.mkdir()
    monkeypatch.setattr(report, "RESULTS", folder)
    specs = tmp_path / "tables.toml"
    specs.write_text(SPECS)
    train = {
        "command": "python benchmarks/bench_train.py --work /tmp/run-17/work",
        "date": "2026-12-07 10:00 UTC",
        "commit": "abc1234",
        "load_average_start": [1.04, 1.0, 1.0],
        "load_average_end": [2.26, 1.0, 1.0],
        "test": {"image_to_recipe": direction(0.1019, 15.44)},
    }
    (folder / "train.json").write_text(json.dumps(train))
    return folder, report.load_specs(specs)


def test_a_block_is_rewritten_and_the_text_around_it_kept(results):
    _, specs = results
    page = report.fill(PAGE, specs)
    assert "stale figures" not in page
    assert "| photo → recipe | 0.102 ± 0.004 | 15.4 |" in page
    # The command, its absolute folder shown as DIR, with the date, commit and load average.
    command = "Command: `python benchmarks/bench_train.py --work DIR` (2026-12-07 10:00 UTC, commit abc1234;"
    assert command + " load average 1.0 at start, 2.3 at end)." in page
    for prose in ("# Results\n\nHand-written prose, kept as it is.\n", "More prose between blocks: `<!-- table:"):
        assert prose in page
    # Hand edits outside the blocks survive a second run, and a run over its own output changes nothing.
    edited = page.replace("kept as it is", "edited by hand")
    assert report.fill(edited, specs) == edited


def test_a_source_not_stored_yet_says_not_run_yet_with_its_command(results):
    _, specs = results
    page = report.fill(PAGE, specs)
    assert "<!-- table:speed:start -->\n_Not run yet: `python benchmarks/bench_speed.py`._\n" in page
    assert "_Not run yet: `python -m benchmarks.experiment benchmarks/variants/ablations.toml`._" in page


def test_a_line_block_formats_its_figures(results):
    folder, specs = results
    (folder / "speed.json").write_text(json.dumps({"page_s": 402, "date": "d", "commit": "c", "command": "x"}))
    assert "Served after **6.7 min**.\n\nCommand: `x` (d, commit c)." in report.fill(PAGE, specs)


def test_the_log_gives_each_variant_the_mean_and_sd_over_its_seeds(results):
    folder, specs = results
    lines = [
        run("default", 0, 0.100, "2026-12-07 10:00 UTC"),
        run("default", 1, 0.104, "2026-12-07 10:10 UTC", epoch=15),
        run("default", 2, 0.999, "2026-12-07 10:20 UTC"),  # replaced below: the latest run of seed 2 wins
        run("lr_3e-4", 0, 0.090, "2026-12-07 10:30 UTC"),
        run("default", 2, 0.108, "2026-12-07 11:00 UTC", epoch=17),
        {"experiment": "other", "variant": "default", "seed": 0, "date": "2026-12-07 12:00 UTC"},
    ]
    (folder / "experiments.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    page = report.fill(PAGE, specs)
    # default: seeds 0, 1, 2 at 0.100, 0.104, 0.108: mean 0.104, sd 0.004; one run shows its value.
    assert "| default | 3 | 0.104 ± 0.004 | 13–17 |" in page
    assert "| lr_3e-4 | 1 | 0.090 | 13 |" in page
    assert "(2026-12-07 10:00 UTC to 2026-12-07 11:00 UTC, commits" in page


def test_every_block_of_results_md_and_the_readme_has_a_spec_that_renders():
    """The checked-in pages and tables.toml agree: no block without its spec, none fails."""
    specs = report.load_specs()
    for path in report.DOCUMENTS:
        text = path.read_text()
        names = [m[3] for m in report.BLOCK.finditer(text)]
        assert names and set(names) <= set(specs), path
        report.fill(text, specs)


def test_the_report_imports_no_benchmark_script_and_no_torch():
    code = "import sys, benchmarks.report; print(sorted(sys.modules))"
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code]).decode().replace("'", '"'))
    assert not [m for m in loaded if m.startswith(("torch", "benchmarks.bench_", "benchmarks.heads_lab"))]


def test_a_command_naming_a_retired_script_says_which_commit_still_holds_it():
    import subprocess

    note = report.retired_note(["python benchmarks/bench_refine.py --index DIR", "python benchmarks/bench_app.py"])
    assert note.startswith(" Retired script, kept in git: `git show ")
    assert "bench_app" not in note  # a script that exists needs no note
    held = note.split("`git show ", 1)[1].split("`", 1)[0]
    shown = subprocess.run(["git", "show", held], cwd=report.ROOT, capture_output=True, text=True)
    assert shown.returncode == 0 and "Like this, but" in shown.stdout
    assert report.retired_note(["python benchmarks/bench_never_written.py"]) == ""
