"""The benchmarks follow the product's API: every module under benchmarks/ imports, and
importing one runs nothing (its work sits under main()). No benchmark runs here; the
quick run (`python -m benchmarks.run --quick`) is where they run."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py") if path.stem != "__init__")
# Module-level calls a benchmark may make: default the environment when it runs as a
# script. Anything else belongs under main(); none edits sys.path (`pip install -e .`
# makes the packages importable).
ALLOWED_CALLS = {"os.environ.setdefault"}


def test_there_are_benchmarks():
    assert {"run", "experiment", "report", "bench_app", "bench_engine"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_imports(name):
    importlib.import_module(f"benchmarks.{name}")


def called_name(call: ast.Call) -> str:
    return ast.unparse(call.func)


@pytest.mark.parametrize("name", MODULES)
def test_import_runs_nothing(name):
    """Module level holds imports, definitions and constants; the work runs under
    `if __name__ == "__main__":`, so importing a benchmark starts nothing."""
    tree = ast.parse((ROOT / "benchmarks" / f"{name}.py").read_text())
    for node in tree.body:
        where = f"benchmarks/{name}.py:{node.lineno}"
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            continue
        if isinstance(node, ast.If):
            assert ast.unparse(node.test) == "__name__ == '__main__'", f"{where}: a module-level if"
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            assert called_name(node.value) in ALLOWED_CALLS, f"{where}: {called_name(node.value)}() runs at import"
        else:
            assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant), f"{where}: runs at import"


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "variants").glob("*.toml")), ids=lambda p: p.stem)
def test_every_variant_file_names_only_settings_that_exist(path):
    """Each variant of each file builds its run configuration: presets that exist, fields
    that exist, combinations that train (a removed option fails here, not mid-run)."""
    import tomllib

    from benchmarks.experiment import variant_configs
    from train.run_config import checked

    spec = tomllib.loads(path.read_text())
    assert spec.get("about") and spec.get("variants"), f"{path.name}: an about line and variants"
    for config in variant_configs(spec, [], {}, None).values():
        checked(config)


def test_quick_slice_reads_as_the_first_rows(kaggle_folder, tmp_path):
    """The quick run's slice of a collection is its first usable rows, photo bytes and all."""
    from benchmarks.quick import slice_folder
    from pipeline.read import load_recipes

    def rows(recipes):
        return [(r.id, r.title, r.ingredients, r.instructions, r.photo_bytes()) for r in recipes]

    everything = load_recipes(kaggle_folder, progress=False)
    for count in (5, len(everything) + 10):
        part = slice_folder(kaggle_folder, tmp_path / f"slice-{count}", count)
        assert rows(load_recipes(part, progress=False)) == rows(everything[:count])


def test_first_usable_checks_a_chunk_at_a_time():
    from benchmarks.quick import first_usable

    checked = []

    def keep(chunk):  # drops every third row, as a photo check might
        checked.append(len(chunk))
        return [x for x in chunk if x % 3]

    assert first_usable(list(range(1000)), 40, keep) == [x for x in range(1000) if x % 3][:40]
    assert sum(checked) < 1000
