"""The served model's backbone passes as engine graphs, kept in the index folder.

`embeddings build` exports, from the very weights that made the index's vectors, the photo
backbone whole (with whatever top blocks training tuned) and each text tower (model/engine.py),
into <index>/engine/, and records each graph in manifest.json like every other file
(sha256 and bytes under "files", so loading refuses an altered graph by name; the weights'
fingerprint and precision under "engine"). The app attaches them after checking the model
against the index (use_index_engine): a query's backbone pass then runs in ONNX Runtime.
An index built before the engine, or a machine without onnxruntime, serves with torch,
said in one log line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from model import engine

LOG = logging.getLogger(__name__)
ENGINE_FOLDER = "engine"


def graph_files(manifest: dict) -> tuple[str, ...]:
    """The index's graph files (relative paths), for the manifest's checksums."""
    return tuple(graph["file"] for graph in manifest.get("engine", {}).get("graphs", {}).values())


def export_serving_graphs(model, directory: Path, precision: dict[str, str] | None) -> dict | None:
    """Export `model`'s served passes into directory/engine; the manifest's "engine" record
    (None: no engine here, the index serves with torch)."""
    if precision is None:
        return None
    folder = Path(directory) / ENGINE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    backbones = engine.engine_backbones(model)
    limits = engine.text_limits(model.config)
    graphs = {}
    for name, backbone in backbones.items():
        if name == "image":
            module, inputs, names, fingerprint = engine.image_pass(backbone, model.config, None)
            kind, chosen = "image-pooled", precision["image"]
        else:
            module, inputs, names, fingerprint = engine.text_pass(backbone, limits[name])
            kind, chosen = f"text-{name}", precision["text"]
        file = f"{ENGINE_FOLDER}/{kind}.onnx"
        record = engine.export_graph(module, inputs, names, Path(directory) / file, fingerprint, chosen, sidecar=False)
        graphs[kind] = {"file": file, **{k: record[k] for k in ("precision", "fingerprint", "parity_cosine")}}
    return {"engine": engine.ENGINE, "graphs": graphs} if graphs else None


def use_index_engine(model, index) -> str:
    """Attach the index's graphs to `model` (already checked against the index); one line
    saying what serves the queries' backbone passes."""
    record = index.manifest.get("engine")
    if os.environ.get(engine.ENGINE_VARIABLE, "").lower() == "torch":
        return f"backbone passes in torch: {engine.ENGINE_VARIABLE}=torch"
    if not record:
        return "backbone passes in torch: this index has no engine graphs (`python -m embeddings build` adds them)"
    if not engine.available():
        return "backbone passes in torch: onnxruntime is not installed (pip install onnxruntime)"
    engine.detach(model)
    backbones = engine.engine_backbones(model)
    limits = engine.text_limits(model.config)
    for kind, graph in record["graphs"].items():
        name = "image" if kind == "image-pooled" else kind.removeprefix("text-")
        backbone = backbones.get(name)
        if backbone is None:
            raise engine.EngineError(f"{index.directory / graph['file']}: this model has no {name} backbone")
        if name == "image":
            fingerprint = engine.image_pass(backbone, model.config, None)[3]
        else:
            fingerprint = engine.text_pass(backbone, limits[name])[3]
        entry = {**graph, **index.manifest["files"][graph["file"]]}
        opened = engine.open_graph(index.directory / graph["file"], fingerprint, graph["precision"], entry)
        if name == "image":
            backbone.graphs["pooled"] = opened
        else:
            backbone.graph = opened
    kinds = ", ".join(f"{kind} ({graph['precision']})" for kind, graph in record["graphs"].items())
    return f"backbone passes in {record['engine']}: {kinds}"
