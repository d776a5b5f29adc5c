"""The inference-engine seam (model/engine.py): exported graphs equal torch on tiny random
towers, a stale or altered graph is refused by name and exported again, the feature cache
keeps engine and torch features apart, the index carries its served graphs, and without
onnxruntime everything runs on torch."""

import dataclasses
import json

import pytest
import torch

from embeddings import CorruptIndexError, load_index
from embeddings.building.build import build_index
from embeddings.serving.engine_graphs import use_index_engine
from model import Retriever, engine, load_pretrained
from model.engine import EngineError
from pipeline.features import FeatureCache
from pipeline.read import load_recipes
from tiny import tiny_config

pytest.importorskip("onnxruntime")
FP32 = {"image": "fp32", "text": "fp32"}
# Tolerance of an fp32 graph against torch on the same inputs: the export's own check
# (engine.PARITY_COSINE) and an absolute bound on the features themselves.
ATOL = 1e-4


@pytest.fixture()
def model(text_backbone_dir):
    return Retriever(tiny_config(text_backbone_dir)).eval()


def torch_and_engine(model, folder, run):
    """run() on torch, then with the engine's graphs attached."""
    with torch.inference_mode():
        expected = run()
        with engine.attached(model, folder, FP32, image_tops=(None, 0, 1)):
            got = run()
    return expected, got


def test_image_graphs_equal_torch(model, tmp_path):
    pixels = torch.randn(5, 3, model.config.image_size, model.config.image_size)
    encoder = model.image_encoder
    for run in (
        lambda: encoder(pixels),
        lambda: encoder.forward_trunk(pixels, 0),
        lambda: encoder.forward_trunk(pixels, 1),
    ):
        expected, got = torch_and_engine(model, tmp_path, run)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=ATOL), (got - expected).abs().max()
    assert not encoder.graphs, "detached after the block: training runs torch"


def test_graphs_of_one_backbone_at_another_photo_size_are_not_taken(model, tmp_path):
    """train/first_run.py's quick model reads 160 px photos with the default's backbone
    weights, in the feature cache the 224 px default uses: a graph traced at one size
    (only its batch axis is dynamic) must not serve the other."""
    other_size = dataclasses.replace(model.config, image_size=40, image_resize=44)
    for top in (None, 0):
        engine.image_graph(model.image_encoder, other_size, tmp_path, top)
    pixels = torch.randn(2, 3, model.config.image_size, model.config.image_size)
    encoder = model.image_encoder
    for run in (lambda: encoder(pixels), lambda: encoder.forward_trunk(pixels, 0)):
        expected, got = torch_and_engine(model, tmp_path, run)
        assert torch.allclose(got, expected, atol=ATOL), (got - expected).abs().max()


def test_text_graph_equals_torch_at_any_batch_and_length(model, tmp_path):
    texts = ["salt", "chocolate cake with butter and sugar", "grilled salmon with lemon rice " * 6]
    for batch in (texts, texts[:1], texts * 7):
        expected, got = torch_and_engine(model, tmp_path, lambda b=batch: model.title_features(b))
        assert torch.allclose(got, expected, atol=ATOL), (got - expected).abs().max()


def test_the_engine_never_runs_where_gradients_are_needed(model, tmp_path):
    pixels = torch.randn(2, 3, model.config.image_size, model.config.image_size)
    engine.attach(model, tmp_path, FP32)
    calls = []
    graph = model.image_encoder.graphs["pooled"]
    model.image_encoder.graphs["pooled"] = lambda x: calls.append(1) or graph(x)
    model.image_encoder(pixels)  # gradients on: torch
    model.train()
    with torch.no_grad():
        model.image_encoder(pixels)  # training mode: torch
    model.eval()
    with torch.no_grad():
        model.image_encoder(pixels)
    assert calls == [1]


def test_an_altered_graph_is_refused_by_name_and_exported_again(model, tmp_path, caplog):
    engine.attach(model, tmp_path, FP32, image_tops=(None,), text=False)
    (path,) = tmp_path.glob("image-pooled-*.onnx")
    engine.detach(model)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    fingerprint = engine.image_pass(model.image_encoder, model.config, None)[3]
    with pytest.raises(EngineError, match=f"{path.name}.*altered"):
        engine.open_graph(path, fingerprint, "fp32")
    engine.attach(model, tmp_path, FP32, image_tops=(None,), text=False)
    assert "altered" in caplog.text and "exporting it again" in caplog.text
    engine.open_graph(path, fingerprint, "fp32")  # exported again from the weights


def test_a_graph_of_other_weights_is_stale(model, tmp_path):
    engine.attach(model, tmp_path, FP32, image_tops=(None,), text=False)
    (path,) = tmp_path.glob("image-pooled-*.onnx")
    with torch.no_grad():
        model.image_encoder.blocks()[-1][0].weight.add_(0.1)  # what fine-tuning the top block does
    fingerprint = engine.image_pass(model.image_encoder, model.config, None)[3]
    with pytest.raises(EngineError, match=f"{path.name}.*stale"):
        engine.open_graph(path, fingerprint, "fp32")
    with pytest.raises(EngineError, match="stale"):
        engine.open_graph(path, engine.image_pass(model.image_encoder, model.config, None)[3], "int8")


def test_the_cache_keeps_torch_fp32_and_int8_features_apart(model, kaggle_folder, tmp_path):
    recipes = load_recipes(kaggle_folder, progress=False)
    paths = {}
    for name, precision in (("torch", None), ("fp32", FP32), ("int8", {"image": "fp32", "text": "int8"})):
        cache = FeatureCache(tmp_path, recipes, progress=False, precision=precision)
        paths[name] = cache.text_path(model)
        text = cache.text(model)
        if name == "torch":
            reference = text["title"]
        else:
            cos = torch.nn.functional.cosine_similarity(text["title"], reference)
            assert float(cos.min()) > (0.999 if name == "fp32" else engine.INT8_PARITY_COSINE)
    assert len(set(paths.values())) == 3, "each engine and precision under a key of its own"
    assert all(p.is_file() for p in paths.values())


def test_the_index_carries_its_served_graphs_and_refuses_an_altered_one(tiny_model_dir, kaggle_folder, tmp_path):
    build_index(tiny_model_dir, kaggle_folder, tmp_path / "index", progress=False, feature_cache=None)
    model = load_pretrained(tiny_model_dir)
    index = load_index(tmp_path / "index", model=model)
    photo = [load_recipes(kaggle_folder, progress=False)[0].open_image()]
    expected = model.encode_photos([p.convert("RGB") for p in photo])
    line = use_index_engine(model, index)
    assert "onnxruntime" in line and "image-pooled (fp32)" in line
    assert model.image_encoder.graphs["pooled"] is not None and model.title_encoder.graph is not None
    assert torch.allclose(model.encode_photos([p.convert("RGB") for p in photo]), expected, atol=ATOL)

    graph = tmp_path / "index" / "engine" / "text-title.onnx"
    graph.write_bytes(graph.read_bytes()[:-4] + b"xxxx")
    with pytest.raises(CorruptIndexError, match="text-title.onnx.*altered"):
        load_index(tmp_path / "index", model=model)
    # `embeddings build` makes it again from the weights.
    build_index(tiny_model_dir, kaggle_folder, tmp_path / "index", progress=False, feature_cache=None)
    assert use_index_engine(load_pretrained(tiny_model_dir), load_index(tmp_path / "index")).startswith(
        "backbone passes in onnxruntime"
    )


def test_without_onnxruntime_everything_runs_on_torch(
    model, tiny_model_dir, kaggle_folder, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(engine, "available", lambda: False)
    assert engine.default_precision() is None
    assert "onnxruntime is not installed" in caplog.text
    build_index(tiny_model_dir, kaggle_folder, tmp_path / "index", progress=False, feature_cache=None)
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert "engine" not in manifest and not (tmp_path / "index" / "engine").exists()
    line = use_index_engine(load_pretrained(tiny_model_dir), load_index(tmp_path / "index"))
    assert line.startswith("backbone passes in torch")
    recipes = load_recipes(kaggle_folder, progress=False)
    assert FeatureCache(tmp_path / "cache", recipes, progress=False).precision is None
