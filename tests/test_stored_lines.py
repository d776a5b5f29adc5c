"""The re-ranker's ingredient lines stored in the index folder (embeddings/serving/line_store.py):
what the build writes equals what PhotoReranker computes on the fly, a query then runs no
text backbone, a tampered file is refused by name, and an index without it still re-ranks."""

import json

import pytest
import torch
from safetensors.torch import load_file

from embeddings import CorruptIndexError, load_index
from embeddings.building.build import build_index
from embeddings.serving.manifest import LINES_FILE, MANIFEST_FILE, data_files
from embeddings.serving.rerank import PhotoReranker
from model import load_pretrained, save_pretrained
from tiny import make_kaggle_folder, make_tiny_model_dir


@pytest.fixture(scope="module")
def rerank_model_dir(tmp_path_factory):
    folder = make_tiny_model_dir(tmp_path_factory.mktemp("rerank_model"), rerank=4)
    model = load_pretrained(folder)
    with torch.no_grad():
        model.reranker.alpha.fill_(50.0)  # the local score weighs in the final scores compared
    save_pretrained(model, folder)
    return folder


@pytest.fixture(scope="module")
def built(rerank_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("lines_index")
    data = make_kaggle_folder(root / "data", n=24, title_only=4)
    # On torch (engine_precision None): the stored lines are compared with the re-ranker's own
    # torch passes to the last bit; the engine's agreement with torch is tests/test_engine.py's.
    build_index(rerank_model_dir, data, root / "index", progress=False, feature_cache=None, engine_precision=None)
    return root / "index", load_pretrained(rerank_model_dir)


def on_the_fly(model, index, rows):
    """The fallback path: PhotoReranker over an index whose stored lines are hidden."""
    return PhotoReranker(index, model, stored_lines=False).lines_of(rows)


def test_the_build_stores_every_rows_lines_as_the_reranker_computes_them(built):
    directory, model = built
    index = load_index(directory, model=model)
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    assert LINES_FILE in manifest["files"] and LINES_FILE in data_files(manifest)
    raw = load_file(str(directory / LINES_FILE))
    assert raw["lines"].dtype == torch.float16 and raw["counts"].dtype == torch.int64
    assert raw["counts"].tolist()[:4] == [0, 0, 0, 0], "title-only rows have no lines"
    assert raw["counts"].tolist()[4:] == [4] * (index.count - 4)
    rows = list(range(index.count))
    computed = on_the_fly(model, index, rows)
    stored = PhotoReranker(index, model).lines_of(rows)
    assert torch.equal(stored.counts, computed.counts)
    # Both are float16 values: the stored ones read back as float32 bit for bit.
    assert stored.flat.dtype == computed.flat.dtype == torch.float32
    assert torch.equal(stored.flat, computed.flat)


def reranked(reranker, hits, seeds=range(6)):
    """[(order, final scores)] of re-ranking `hits` for photos of random regions."""
    model, out, scores = reranker.model, [], []
    original = model.rerank_scores
    model.rerank_scores = lambda *args: scores.append(original(*args)) or scores[-1]
    try:
        for seed in seeds:
            torch.manual_seed(seed)
            regions = torch.randn(4, model.image_encoder.feature_dim)
            out.append(([h.row for h in reranker.rerank(hits, regions)], scores[-1] if scores else None))
    finally:
        del model.rerank_scores
    return out


def test_a_query_reads_the_stored_lines_and_runs_no_text_backbone(built, monkeypatch):
    directory, model = built
    index = load_index(directory, model=model)
    hits = index.search(index.vectors("image")[5].float().numpy(), "recipe", 8)
    fallback = PhotoReranker(index, model, stored_lines=False)
    expected = reranked(fallback, hits)

    def refuse(*args, **kwargs):
        raise AssertionError("a query with stored lines must not run the text backbone")

    for name in ("ingredient_line_features", "line_features"):
        monkeypatch.setattr(model, name, refuse)
    monkeypatch.setattr(model.recipe_encoder, "forward", refuse)
    reranker = PhotoReranker(index, model)
    assert reranker.stored is not None
    for (order, scores), (expected_order, expected_scores) in zip(reranked(reranker, hits), expected):
        assert order == expected_order, "the stored lines give the on-the-fly order"
        assert torch.equal(scores, expected_scores), "and the very same scores"


def test_a_tampered_lines_file_is_refused_by_name(built, tmp_path):
    import shutil

    directory, model = built
    copy = tmp_path / "index"
    shutil.copytree(directory, copy)
    path = copy / LINES_FILE
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match=f"{LINES_FILE}: sha256"):
        load_index(copy)
    path.unlink()
    with pytest.raises(CorruptIndexError, match=f"{LINES_FILE}: missing"):
        load_index(copy)


def test_an_index_without_the_file_loads_and_re_ranks_on_the_fly(built, tmp_path, monkeypatch):
    import shutil

    directory, model = built
    old = tmp_path / "old"
    shutil.copytree(directory, old)
    manifest = json.loads((old / MANIFEST_FILE).read_text())
    del manifest["ingredient_lines"], manifest["files"][LINES_FILE]  # as a build before this made it
    (old / MANIFEST_FILE).write_text(json.dumps(manifest))
    (old / LINES_FILE).unlink()
    index = load_index(old, model=model)
    assert index.ingredient_lines is None
    reranker = PhotoReranker(index, model)
    assert reranker.stored is None
    calls = []
    original = model.ingredient_line_features
    monkeypatch.setattr(model, "ingredient_line_features", lambda rows: calls.append(len(rows)) or original(rows))
    hits = index.search(index.vectors("image")[5].float().numpy(), "recipe", 6)
    out = reranker.rerank(hits, torch.randn(4, model.image_encoder.feature_dim))
    assert calls == [4] and sorted(h.row for h in out[:4]) == sorted(h.row for h in hits[:4])


def test_lines_stored_under_other_settings_are_not_used(built, rerank_model_dir, capsys):
    import dataclasses

    directory, _ = built
    other = load_pretrained(rerank_model_dir)  # the same weights, another ingredient cap
    other.config = dataclasses.replace(other.config, recipe_max_ingredients=2)
    reranker = PhotoReranker(load_index(directory, model=other), other)
    assert reranker.stored is None and "computing them per query" in capsys.readouterr().err
    assert reranker.lines_of([4]).counts.tolist() == [2], "computed under the model's own cap"


def test_an_incremental_rebuild_copies_kept_rows_lines_and_computes_new_ones(rerank_model_dir, tmp_path, monkeypatch):
    # On torch: the engine's int8 text quantises each batch's activations by its own range,
    # so equal bits need equal paths (its agreement with torch: tests/test_engine.py).
    monkeypatch.setenv("RECIPE_ENGINE", "torch")
    data = make_kaggle_folder(tmp_path / "collection", n=20)
    build_index(rerank_model_dir, data, tmp_path / "index", progress=False, feature_cache=None)
    make_kaggle_folder(tmp_path / "collection", n=26)  # same first rows; more usable ones
    model = load_pretrained(rerank_model_dir)
    lines_computed = []
    original = model.line_features
    monkeypatch.setattr(model, "line_features", lambda lines: lines_computed.append(len(lines)) or original(lines))
    report = build_index(rerank_model_dir, data, tmp_path / "index", model=model, progress=False, feature_cache=None)
    new_rows = report.count - report.reused
    assert 0 < new_rows < report.count
    assert sum(lines_computed) == 4 * new_rows, "only the new rows' lines are computed"
    monkeypatch.undo()
    monkeypatch.setenv("RECIPE_ENGINE", "torch")
    index = load_index(tmp_path / "index", model=model)
    rows = list(range(index.count))
    stored = PhotoReranker(index, model).lines_of(rows)
    computed = on_the_fly(model, index, rows)
    assert torch.equal(stored.counts, computed.counts) and torch.equal(stored.flat, computed.flat)


def test_a_model_without_a_re_ranker_stores_no_lines(tiny_model_dir, tmp_path):
    data = make_kaggle_folder(tmp_path / "collection", n=12)
    build_index(tiny_model_dir, data, tmp_path / "index", progress=False, feature_cache=None)
    assert not (tmp_path / "index" / LINES_FILE).exists()
    index = load_index(tmp_path / "index")
    assert index.ingredient_lines is None and "ingredient_lines" not in index.manifest


def test_a_first_build_reads_the_lines_from_the_training_cache(rerank_model_dir, tmp_path, monkeypatch):
    import embeddings.building.line_build as line_build
    from pipeline.features import FeatureCache
    from pipeline.read import load_recipes

    monkeypatch.setenv("RECIPE_ENGINE", "torch")  # equal bits need equal paths (as above)
    data = make_kaggle_folder(tmp_path / "collection", n=16)
    model = load_pretrained(rerank_model_dir)
    recipes = load_recipes(data, progress=False)
    cache = tmp_path / "cache"
    entry = FeatureCache(cache, recipes, progress=False).lines(model)["ingredients"]  # as training makes it

    def refuse(*args, **kwargs):
        raise AssertionError("the cache holds the lines: none should be computed")

    monkeypatch.setattr(line_build, "compute_ingredient_lines", refuse)
    build_index(rerank_model_dir, data, tmp_path / "index", model=model, progress=False, feature_cache=cache)
    stored = load_index(tmp_path / "index").ingredient_lines
    assert torch.equal(stored.counts, entry.counts)
    assert torch.equal(stored.compact().flat, entry.compact().flat)
    # And without the entry (another cache folder), the build computes them.
    monkeypatch.undo()
    monkeypatch.setenv("RECIPE_ENGINE", "torch")
    build_index(rerank_model_dir, data, tmp_path / "index2", model=model, progress=False, feature_cache=tmp_path / "c2")
    assert torch.equal(load_index(tmp_path / "index2").ingredient_lines.compact().flat, stored.compact().flat)
