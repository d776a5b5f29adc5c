"""Index format, verification and search, on indexes of random vectors (no model)."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from test_index_helpers import unit_rows, write_synthetic_index

from embeddings import CorruptIndexError, Hit, load_index
from embeddings.serving.manifest import EMBEDDINGS_FILE, MANIFEST_FILE, RECIPES_FILE
from embeddings.serving.search import ExactSearcher, FaissSearcher


@pytest.fixture()
def index_dir(tmp_path):
    write_synthetic_index(tmp_path / "index")
    return tmp_path / "index"


def test_reload_exposes_the_app_interface(index_dir):
    index = load_index(index_dir)
    assert index.count == 300 and index.manifest["dim"] == 32 and index.manifest["count"] == 300
    assert list(index.recipes.columns) == ["id", "title", "ingredients", "instructions", "has_recipe"]
    assert index.recipes["ingredients"].iat[60] == ["60 cups flour"]  # a list, not a numpy array
    assert index.recipes["has_recipe"].sum() == 250
    assert index.thumbnail(0).size == (40, 30)
    assert set(index.manifest["model"]) >= {"source", "revision"}


@pytest.mark.parametrize("field", ["image", "title", "recipe", "fused"])
def test_every_row_finds_itself_first(index_dir, field):
    index = load_index(index_dir)
    vectors = index.vectors(field).float().numpy()
    rows = np.nonzero(index.recipes["has_recipe"].to_numpy())[0] if field == "recipe" else range(index.count)
    for row in rows:
        hits = index.search(vectors[row], field, 5)
        assert isinstance(hits[0], Hit) and hits[0].row == row and hits[0].id == index.recipes["id"].iat[row]
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_rows_without_a_recipe_never_appear_in_recipe_results(index_dir):
    index = load_index(index_dir)
    hits = index.search(unit_rows(1, 32, seed=9)[0], "recipe", k=1000)
    assert len(hits) == 250 and all(index.recipes["has_recipe"].iat[h.row] for h in hits)


def test_fused_is_title_plus_recipe_or_the_title_alone(index_dir):
    index = load_index(index_dir)
    title, recipe, fused = (index.vectors(f).numpy() for f in ("title", "recipe", "fused"))
    expected = (title[100] + recipe[100]) / np.linalg.norm(title[100] + recipe[100])
    assert np.allclose(fused[100], expected, atol=1e-6) and np.allclose(fused[0], title[0])


def test_float16_and_float32_agree_on_every_top1(tmp_path):
    write_synthetic_index(tmp_path / "f32", n=500, dim=64, dtype="float32")
    write_synthetic_index(tmp_path / "f16", n=500, dim=64, dtype="float16")
    f32, f16 = load_index(tmp_path / "f32"), load_index(tmp_path / "f16")
    assert f16.vectors("image").dtype.itemsize == 2
    noise = unit_rows(500, 64, seed=7) * 0.5  # queries near each row, not equal to it
    for field in ("image", "title", "fused"):
        queries = f32.vectors(field).numpy() + noise
        for query in queries:
            assert f32.search(query, field, 1)[0].row == f16.search(query, field, 1)[0].row


def test_exact_faiss_equals_torch(index_dir):
    exact = load_index(index_dir, backend="exact")
    flat = load_index(index_dir, backend="faiss-flat")
    for query in unit_rows(40, 32, seed=3):
        for field in ("image", "recipe"):
            truth = exact.search(query, field, 10)
            got = flat.search(query, field, 10)
            assert [h.row for h in got] == [h.row for h in truth]
            assert np.allclose([h.score for h in got], [h.score for h in truth], atol=1e-5)


def test_float16_search_of_large_matrices_equals_float32(monkeypatch):
    """Past FLOAT32_COPY_BYTES the float16 matrix is searched as is, then rescored."""
    import embeddings.serving.search as search

    monkeypatch.setattr(search, "FLOAT32_COPY_BYTES", 0)
    matrix = torch.from_numpy(unit_rows(3000, 64, seed=11)).half()
    half, single = ExactSearcher(matrix), ExactSearcher(matrix.float())
    assert half.matrix.dtype == torch.float16
    for query in torch.from_numpy(unit_rows(30, 64, seed=12)):
        a, b = half.search(query, 10), single.search(query, 10)
        assert list(a[1]) == list(b[1]) and np.allclose(a[0], b[0], atol=1e-6)


def test_ivf_probing_every_cell_is_exact_and_default_probing_returns_valid_rows(index_dir):
    """Recall at the default nprobe is a benchmark figure (random tiny data has no
    structure to exploit); here: the plumbing, and exhaustive probing equals exact."""
    matrix = torch.from_numpy(unit_rows(2000, 32, seed=5))
    exact = ExactSearcher(matrix)
    full = FaissSearcher(matrix, approximate=True, nlist=16, nprobe=16)
    default = FaissSearcher(matrix, approximate=True)
    for query in unit_rows(20, 32, seed=6):
        query = torch.from_numpy(query)
        assert list(full.search(query, 10)[1]) == list(exact.search(query, 10)[1])
        scores, rows = default.search(query, 10)
        assert len(rows) == 10 and all(0 <= r < 2000 for r in rows) and list(scores) == sorted(scores, reverse=True)
    ivf = load_index(index_dir, backend="faiss-ivf")
    assert all(ivf.recipes["has_recipe"].iat[h.row] for h in ivf.search(unit_rows(1, 32, 8)[0], "recipe", 10))


def test_bad_queries_say_what_is_wrong(index_dir):
    index = load_index(index_dir)
    with pytest.raises(ValueError, match="dimensions"):
        index.search(np.ones(7), "image", 3)
    with pytest.raises(ValueError, match="field"):
        index.search(np.ones(32), "photo", 3)
    with pytest.raises(ValueError, match="norm"):
        index.search(np.zeros(32), "image", 3)
    with pytest.raises(ValueError, match="norm"):
        index.search(np.full(32, np.nan), "image", 3)


# --- corrupt and mismatched indexes: one error class, naming the file ------------------------
def test_truncated_file(index_dir):
    data = (index_dir / EMBEDDINGS_FILE).read_bytes()
    (index_dir / EMBEDDINGS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptIndexError, match=f"{EMBEDDINGS_FILE}.*truncated"):
        load_index(index_dir)


def test_tampered_file(index_dir):
    data = bytearray((index_dir / RECIPES_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (index_dir / RECIPES_FILE).write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match=f"{RECIPES_FILE}.*sha256"):
        load_index(index_dir)


@pytest.mark.parametrize("name", [EMBEDDINGS_FILE, RECIPES_FILE, MANIFEST_FILE])
def test_missing_file(index_dir, name):
    (index_dir / name).unlink()
    with pytest.raises(CorruptIndexError, match=f"{name}.*missing"):
        load_index(index_dir)


def edit_manifest(index_dir, **changes):
    manifest = json.loads((index_dir / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (index_dir / MANIFEST_FILE).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"count": 301}, r"\(300, 32\).*\(301, 32\)"),
        ({"dim": 64}, r"\(300, 32\).*\(300, 64\)"),
        ({"dtype": "float16"}, "float32.*float16"),
        ({"format_version": 99}, "v99"),
    ],
)
def test_vectors_that_disagree_with_the_manifest(index_dir, changes, message):
    edit_manifest(index_dir, **changes)
    with pytest.raises(CorruptIndexError, match=message):
        load_index(index_dir)


def test_consistent_rewrite_with_wrong_vectors_is_caught(index_dir):
    """Someone rewrites the vectors and the checksums: shapes and norms still must hold."""
    from embeddings.serving.manifest import file_entries

    tensors = load_file(str(index_dir / EMBEDDINGS_FILE))
    tensors["recipe"][0] = tensors["title"][0]  # row 0 has no recipe: must stay zero
    save_file(tensors, str(index_dir / EMBEDDINGS_FILE))
    edit_manifest(index_dir, files=file_entries(index_dir))
    with pytest.raises(CorruptIndexError, match="'recipe' row 0 has norm 1.000, expected 0"):
        load_index(index_dir)
