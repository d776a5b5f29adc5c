"""The one inference-engine seam: the backbone passes that do not train, run by ONNX Runtime.

Every wait in this project is a backbone pass: the feature cache's one pass over a
collection, an index build, a served query. Eager PyTorch runs them far below what a CPU
does (EfficientNet-Lite0, 16 photos, one thread: 925 ms eager, 254 ms in ONNX Runtime;
benchmarks/bench_engine.py measures it again). So each pass that only infers is exported
once from the torch weights to an ONNX graph (data, not code) and run by ONNX Runtime:

  image-pooled     pixels (B, 3, H, W) -> pooled backbone features (B, C): the whole photo
                   backbone with whatever top blocks training tuned (serving, index builds)
  image-trunk<N>   pixels -> the activations below the top N blocks (the feature cache of a
                   model that fine-tunes N blocks: those blocks train, in torch)
  text-<role>      token ids and mask (B, T) -> mean-pooled features (B, H) of a text backbone

Each graph is checked against torch on the same inputs when it is exported (fp32: every
row's cosine >= PARITY_COSINE) and recorded with its sha256, its precision and the
fingerprint of the weights it came from (record_of). Opening a graph (open_graph) refuses by
name a file whose sha256 differs (tampered) or whose weights are not the module's (stale);
callers then export it again (ensure_graph) or serve with torch. torch stays the training
path and the CUDA path: graphs only run on CPU tensors, in eval mode, without gradients
(ImageBackbone / TextBackbone in model/encoders.py check that on every call).

Precision: "fp32", or "int8" (ONNX Runtime's dynamic quantisation of the weights, VNNI
kernels on CPUs that have them), which is kept only where val's retrieval figures stay
within split noise of fp32 (benchmarks/RESULTS.md, "Inference engine").
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .atomic import atomic_write, atomic_write_bytes
from .checksum import model_fingerprint, sha256_file
from .encoders import ImageBackbone, TextBackbone

LOG = logging.getLogger(__name__)
ENGINE = "onnxruntime"
PRECISIONS = ("fp32", "int8")
PARITY_COSINE = 0.999  # fp32 graph vs torch, every row
INT8_PARITY_COSINE = 0.95  # a dynamic-int8 graph must still point where torch does
OPSET = 17
ENGINE_VARIABLE = "RECIPE_ENGINE"
RECORD_SUFFIX = ".json"


class EngineError(ValueError):
    """An engine graph that cannot be used: missing, altered, made from other weights, or
    one whose outputs disagree with torch. The message names the file."""


def available() -> bool:
    """Whether ONNX Runtime can be imported (the app and the cache fall back to torch)."""
    try:
        import onnxruntime  # noqa: F401 (imported here: optional, and 0.3 s of start-up)
    except ImportError:
        return False
    return True


class ImagePass(nn.Module):
    """What an image graph computes: the pooled features (top=None) or the trunk below the
    top `top` blocks."""

    def __init__(self, backbone: nn.Module, top: int | None):
        super().__init__()
        self.backbone, self.top = backbone, top

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.top is None:
            return self.backbone.torch_forward(pixel_values)
        return self.backbone.torch_trunk(pixel_values, self.top)


class TextPass(nn.Module):
    """What a text graph computes: mean-pooled token features."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.backbone.torch_tokens(input_ids, attention_mask)


def image_kind(top: int | None) -> str:
    return "image-pooled" if top is None else f"image-trunk{top}"


def pass_weights(backbone: nn.Module, top: int | None) -> nn.Module:
    """The modules whose weights an image graph holds (the fingerprint covers only these,
    so fine-tuning the top blocks leaves the trunk's graph valid)."""
    if not top:  # None (pooled) or 0: the whole backbone
        return backbone
    return nn.ModuleList(backbone.units()[:-top])


def example_pixels(config, batch: int = 2) -> torch.Tensor:
    height = config.image_size
    return torch.randn(batch, 3, height, config.image_width or height, generator=torch.Generator().manual_seed(0))


def example_tokens(backbone, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two lines of different lengths, so the graph is traced with padding in it."""
    tokens = backbone.tokenize(["2 cups flour", "Heat the olive oil in a large pan over medium heat"], max_tokens)
    return tokens["input_ids"], tokens["attention_mask"]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


class Graph:
    """One ONNX Runtime session; call it with torch tensors, get a float32 torch tensor."""

    def __init__(self, path: Path, record: dict, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # Follow torch's thread setting, so `torch.set_num_threads` (and the benchmarks'
        # --threads) govern both paths alike.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path, self.record = path, record
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __deepcopy__(self, memo) -> None:
        # A session cannot be copied; a copied backbone (a snapshot of the best epoch, an
        # export) runs torch until a graph is attached to it.
        return None

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        feed = {name: t.detach().cpu().numpy() for name, t in zip(self.inputs, tensors)}
        return torch.from_numpy(self.session.run(None, feed)[0])


def _export(module: nn.Module, inputs: tuple, names: list[str], axes: dict, path: Path) -> None:
    def write(tmp: Path) -> None:
        # The tracer warns about Python branches on shapes in transformers' mask code and
        # about opset-9 indexing; both hold for every input we feed (an encoder's mask is as
        # long as its keys; no negative indices), and the parity check below is the proof.
        # A person watching `make demo` should not read a page of them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
            torch.onnx.export(
                module,
                inputs,
                str(tmp),
                input_names=names,
                output_names=["features"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )

    atomic_write(path, write)


def _quantize(path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per output channel: one scale per weight column, not one per matrix. Measured on
    # MiniLM, 64 recipe texts at 128 tokens: the same speed (2.2x fp32 on 2 threads) and the
    # worst row's cosine to torch 0.978 instead of 0.904 (benchmarks/bench_engine.py).
    def write(tmp: Path) -> None:
        # quantize_dynamic logs a root-level hint about static quantisation's pre-processing,
        # which dynamic quantisation does not need: kept off the terminal.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)

    atomic_write(path, write)


def export_graph(
    module: nn.Module,
    inputs: tuple,
    names: list[str],
    path: Path,
    fingerprint: str,
    precision: str = "fp32",
    sidecar: bool = True,
) -> dict:
    """Export `module` (an ImagePass or TextPass) to `path` at `precision`, check it against
    torch on `inputs` and return its record; `sidecar`: also write the record beside it
    (`path`.json; an index keeps its graphs' records in its manifest instead)."""
    if precision not in PRECISIONS:
        raise ValueError(f"engine precision must be one of {PRECISIONS}, got {precision!r}")
    axes = {name: {0: "batch", 1: "tokens"} if names[0] == "input_ids" else {0: "batch"} for name in names}
    axes["features"] = {0: "batch"}
    # Exporting a copy in eval mode (a graph only infers; the caller's model may be in
    # training mode, with drop-path on): torch.onnx's tracer also leaves a transformers model
    # changed for later eager calls (measured: MiniLM's padded rows then differ by up to
    # 0.42 per feature), and the reference below must be an untouched eval-mode copy.
    reference = copy.deepcopy(module).eval()
    _export(copy.deepcopy(module).eval(), inputs, names, axes, path)
    if precision == "int8":
        _quantize(path)
    with torch.inference_mode():
        expected = reference(*inputs).float().numpy()
    got = Graph(path, {})(*inputs).numpy()
    worst = float(cosines(expected, got).min())
    floor = PARITY_COSINE if precision == "fp32" else INT8_PARITY_COSINE
    if not worst >= floor:  # also catches NaN
        path.unlink(missing_ok=True)
        raise EngineError(f"{path}: the exported graph disagrees with torch (cosine {worst:.4f} < {floor})")
    record = {
        "engine": ENGINE,
        "precision": precision,
        "fingerprint": fingerprint,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "parity_cosine": round(worst, 6),
    }
    if sidecar:
        atomic_write_bytes(record_path(path), json.dumps(record, indent=2, sort_keys=True).encode())
    return record


def record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def open_graph(path: Path, fingerprint: str, precision: str, record: dict | None = None) -> Graph:
    """The graph at `path`, if its sha256 is the record's (beside it, or the one given: an
    index manifest's) and it was exported from weights with `fingerprint` at `precision`."""
    if record is None:
        try:
            record = json.loads(record_path(path).read_text())
        except (OSError, ValueError) as error:
            raise EngineError(f"{path}: no readable record beside it ({error})") from error
    if not path.is_file():
        raise EngineError(f"{path}: missing")
    if sha256_file(path) != record.get("sha256"):
        raise EngineError(f"{path}: sha256 differs from its record (altered)")
    if record.get("fingerprint") != fingerprint or record.get("precision") != precision:
        raise EngineError(f"{path}: exported from other weights or at another precision (stale)")
    return Graph(path, record)


def ensure_graph(module: nn.Module, inputs: tuple, names: list[str], path: Path, fingerprint: str, precision: str):
    """open_graph, or (missing, stale or altered: said in one log line) export it again."""
    if path.is_file() or record_path(path).is_file():
        try:
            return open_graph(path, fingerprint, precision)
        except EngineError as error:
            LOG.warning("%s; exporting it again", error)
    # One exporter at a time per graph: under torchrun every rank wants the same graph at
    # once, and an int8 export rewrites its file twice (fp32, then quantised), so a rank
    # could quantise another's already quantised file or read it mid-export and fall back
    # to torch features (seen as two-rank runs drifting apart under load).
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file() and record_path(path).is_file():
            try:
                return open_graph(path, fingerprint, precision)  # another process exported it meanwhile
            except EngineError:
                pass
        export_graph(module, inputs, names, path, fingerprint, precision)
        return open_graph(path, fingerprint, precision)


def image_pass(backbone: nn.Module, config, top: int | None) -> tuple[nn.Module, tuple, list[str], str]:
    """(module, example inputs, input names, weights fingerprint) of an image graph."""
    fingerprint = model_fingerprint(pass_weights(backbone, top))
    return ImagePass(backbone, top), (example_pixels(config),), ["pixels"], fingerprint


def text_pass(backbone: nn.Module, max_tokens: int) -> tuple[nn.Module, tuple, list[str], str]:
    fingerprint = model_fingerprint(backbone.net)
    return TextPass(backbone), example_tokens(backbone, max_tokens), ["input_ids", "attention_mask"], fingerprint


def image_graph(backbone: nn.Module, config, folder: Path, top: int | None, precision: str = "fp32") -> Graph:
    """The image graph of `backbone` (pooled, or the trunk below `top` blocks) in `folder`,
    named by the weights it holds (a cache: graphs of several models sit side by side)."""
    module, inputs, names, fingerprint = image_pass(backbone, config, top)
    # Named by the photo size too: a graph takes only the size it was traced at (just the
    # batch axis is dynamic), and models of one backbone at other sizes hold the same weights
    # (train/first_run.py's 160 px model beside the default's 224 px shared one cache).
    height, width = inputs[0].shape[2:]
    path = folder / f"{image_kind(top)}-{fingerprint[:16]}-{height}x{width}-{precision}.onnx"
    return ensure_graph(module, inputs, names, path, fingerprint, precision)


def text_graph(backbone: nn.Module, role: str, max_tokens: int, folder: Path, precision: str = "fp32") -> Graph:
    module, inputs, names, fingerprint = text_pass(backbone, max_tokens)
    path = folder / f"text-{role}-{fingerprint[:16]}-{precision}.onnx"
    return ensure_graph(module, inputs, names, path, fingerprint, precision)


def text_limits(config) -> dict[str, int]:
    """The token limit each text tower's graph is traced at (any length runs)."""
    return {"title": config.title_max_tokens, "recipe": config.recipe_max_tokens}


# --- attaching graphs to a model's backbones --------------------------------------------------
def engine_tag(precision: dict[str, str] | None = None) -> str:
    """What produced a pass's features, for the feature cache's keys: "torch", or
    "onnxruntime-<image precision>-<text precision>"."""
    if precision is None:
        return "torch"
    return f"{ENGINE}-{precision['image']}-{precision['text']}"


def default_precision() -> dict[str, str] | None:
    """The engine's precision per backbone where ONNX Runtime is installed, else None (torch),
    said in one log line. RECIPE_ENGINE=torch keeps every pass on torch."""
    if os.environ.get(ENGINE_VARIABLE, "").lower() == "torch":
        return None
    if not available():
        LOG.warning("onnxruntime is not installed: backbone passes run in torch (slower; pip install onnxruntime)")
        return None
    return dict(DEFAULT_PRECISION)


# Chosen on val (benchmarks/bench_engine.py, RESULTS.md's "Inference engine"): the text
# backbone at int8 per channel runs 2.3x fp32 on 2 threads with every val R@1 within 0.002
# of torch's (split noise: 0.005-0.016); int8 convolutions run 10x slower than fp32 in ONNX
# Runtime, so photos stay fp32.
DEFAULT_PRECISION = {"image": "fp32", "text": "int8"}


def engine_backbones(model) -> dict[str, nn.Module]:
    """The backbones an engine can run: timm/torchvision photos and transformers text
    towers (CLIP's towers keep their own forward passes, in torch)."""
    out = {}
    if type(model.image_encoder) is ImageBackbone:
        out["image"] = model.image_encoder
    for role, encoder in model.text_encoders.items():
        if type(encoder) is TextBackbone:
            out[role] = encoder
    return out


def attach(model, folder: Path, precision: dict[str, str], image_tops=(None,), text: bool = True) -> list[Graph]:
    """Export (or reuse) the graphs of `model`'s backbones into `folder` and attach them:
    the image backbone's passes named by `image_tops` (None: pooled features; N: the trunk
    below N blocks) and, with `text`, every text tower's. Returns the graphs attached."""
    folder = Path(folder)
    backbones, attached = engine_backbones(model), []
    image = backbones.pop("image", None)
    for top in image_tops if image is not None else ():
        graph = image_graph(image, model.config, folder, top, precision["image"])
        image.graphs["pooled" if top is None else f"trunk{top}"] = graph
        attached.append(graph)
    limits = text_limits(model.config)
    for role, backbone in backbones.items() if text else ():
        backbone.graph = text_graph(backbone, role, limits[role], folder, precision["text"])
        attached.append(backbone.graph)
    return attached


@contextlib.contextmanager
def attached(model, folder: Path, precision: dict[str, str] | None, image_tops=(None,), text: bool = True):
    """`model`'s passes on the engine while the block runs (precision None: torch), then on
    torch again."""
    if precision is None:
        yield
        return
    attach(model, folder, precision, image_tops, text)
    try:
        yield
    finally:
        detach(model)


def detach(model) -> None:
    """Every pass back on torch (before weights change: training, loading new weights)."""
    for name, backbone in engine_backbones(model).items():
        if name == "image":
            backbone.graphs.clear()
        else:
            backbone.graph = None
