"""The house rule, read from the source (AST only, nothing imported): dependencies between
the product's packages point one way, no import cycle, and an import inside a function
only where it saves start-up time and says so.

    app.py -> ui -> embeddings.serving -> model
    embeddings.building -> embeddings.serving, pipeline -> model
    train  -> embeddings (both sides), pipeline, model
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "pipeline", "embeddings", "train", "ui")
# package -> the project packages it may import (besides itself).
# embeddings is two layers: its serving side (what the app loads) may import model only;
# its building side (and `python -m embeddings`) also pipeline; the package's own
# __init__ re-exports the serving side.
ALLOWED = {
    "model": set(),
    "pipeline": {"model"},
    "embeddings": {"model", "embeddings.serving"},  # model first: its OpenMP setting before torch
    "embeddings.serving": {"model"},
    "embeddings.building": {"model", "pipeline", "embeddings", "embeddings.serving"},
    "train": {"model", "pipeline", "embeddings", "embeddings.serving", "embeddings.building"},
    "ui": {"model", "embeddings", "embeddings.serving"},
    "app": {"model", "embeddings", "embeddings.serving", "ui"},
}


def layer(module: str) -> str:
    """The ALLOWED key a module belongs to: its package, or for embeddings its side."""
    parts = module.split(".")
    if parts[0] == "embeddings" and len(parts) > 1:
        return "embeddings.building" if parts[1] in ("building", "__main__") else f"embeddings.{parts[1]}"
    return parts[0]


LATE_IMPORT_REASON = "start-up"  # the comment a function-level import must carry


def product_modules() -> dict[str, Path]:
    modules = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for each import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    late_lines = {
        node.lineno
        for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(func)
        if isinstance(node, (ast.Import, ast.ImportFrom))
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno, node.lineno in late_lines))
    return found


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int, bool]]]:
    modules = product_modules()
    edges, details = {name: set() for name in modules}, []
    for name, path in modules.items():
        for target, line, late in imports_of(name, path, modules):
            edges[name].add(target)
            details.append((name, target, line, late))
    return edges, sorted(set(details))


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    edges, _ = graph()
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


def test_dependencies_point_one_way():
    _, details = graph()
    against = [
        f"{a} -> {b} (line {line})"
        for a, b, line, _ in details
        if layer(a) != layer(b) and layer(b) not in ALLOWED[layer(a)]
    ]
    assert not against, "imports against the one-way rule:\n" + "\n".join(against)


def test_imports_inside_functions_say_why():
    modules = product_modules()
    _, details = graph()
    unexplained = []
    for source, target, line, late in details:
        if not late:
            continue
        lines = modules[source].read_text().splitlines()
        context = " ".join(lines[max(0, line - 2) : line])  # the import's line and the one above it
        if LATE_IMPORT_REASON not in context:
            unexplained.append(f"{source}:{line} imports {target} inside a function")
    assert not unexplained, (
        f"imports inside functions need a comment saying what {LATE_IMPORT_REASON} time "
        "they save:\n" + "\n".join(unexplained)
    )


def test_the_rule_catches_a_cycle_and_a_wrong_arrow():
    """The checks above can fail: a made-up graph with both faults is caught."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "train" not in ALLOWED["embeddings"] and "train" not in ALLOWED["ui"]
    assert not ALLOWED["model"]
    assert ALLOWED["embeddings.serving"] == {"model"}  # no pipeline, train or building on the app's side
    assert layer("embeddings.serving.index") == "embeddings.serving" and layer("embeddings") == "embeddings"
    assert layer("embeddings.__main__") == layer("embeddings.building.cli") == "embeddings.building"


def test_the_app_starts_without_the_training_code_or_the_feature_pipeline():
    """What the served app imports (a fresh interpreter) holds nothing of train/ or pipeline/."""
    import subprocess
    import sys

    probe = (
        "import sys, app; from ui import layout, search, startup; from embeddings.serving import hub; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'train', 'pipeline'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
