"""The quick benchmark run's photo queries (issue 25: `make bench QUICK=1` stopped when
bench_flip_tta read the collection's photos through the app's upload check). Here its
code path runs on a generated collection, and no benchmark or tool may read a photo
through ui.inputs.read_photo, which opens only files Gradio received from a visitor."""

from __future__ import annotations

import ast
from pathlib import Path

from benchmarks.bench_flip_tta import photo_latency

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("benchmarks", "train", "pipeline", "embeddings", "model")


def test_the_quick_flip_tta_step_times_photos_from_the_collection(tiny_model_dir, kaggle_folder):
    from embeddings.serving.hub import load_model
    from pipeline.read import load_recipes

    recipes = [r for r in load_recipes(kaggle_folder, progress=False) if r.image_path]
    latency = photo_latency(load_model(tiny_model_dir), recipes, 2)  # as the quick run calls it, with fewer photos
    assert latency["plain"]["p50_ms"] > 0 and latency["flip_tta"]["p50_ms"] > 0


def upload_checked_reads(path: Path) -> list[int]:
    """Lines of `path` that call ui.inputs.read_photo without naming the folders it may read:
    such a call opens only what Gradio received, so it refuses every collection photo."""
    tree = ast.parse(path.read_text())
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in ("ui.inputs", "inputs")
        for alias in node.names
        if alias.name == "read_photo"
    }
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id in imported)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "read_photo")
        )
        and len(node.args) + len(node.keywords) < 2
    ]


def test_no_benchmark_or_tool_reads_photos_through_the_upload_check():
    readers = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in TOOLS
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line in upload_checked_reads(path)
    ]
    assert readers == [], "use ui.decoding.decode_photo (or the pipeline's reader) instead: " + ", ".join(readers)
