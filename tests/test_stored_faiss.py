"""What lets a large index open fast: the faiss index a folder stores
(embeddings/serving/faiss_store.py), vectors memory-mapped (embeddings/serving/mapped.py) and thumbnails
read when shown (embeddings/serving/thumbnail_column.py), on indexes of random vectors."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file
from test_index_helpers import jpeg_bytes, synthetic_recipes, unit_rows, write_index, write_synthetic_index

import embeddings.serving.faiss_store as faiss_store
import embeddings.serving.search as search
import embeddings.serving.thumbnail_column as thumbnail_column
from embeddings import CorruptIndexError, load_index
from embeddings.serving.manifest import EMBEDDINGS_FILE, MANIFEST_FILE, RECIPES_FILE, file_entries
from embeddings.serving.mapped import map_safetensors
from embeddings.serving.thumbnail_column import THUMBNAIL_ROW_GROUP, ThumbnailColumn

FIELDS = ("image", "fused")  # what the app searches (and "recipe" when the model chose it)


def no_training(*args, **kwargs):
    raise AssertionError("a stored index must be read, not trained at load")


def top_k(index, queries, field, rows=None, k=10):
    return [[h.row for h in index.search(q, field, k, rows=rows)] for q in queries]


def test_a_stored_index_returns_the_top_k_of_one_trained_at_load(tmp_path, monkeypatch):
    write_synthetic_index(tmp_path / "stored", n=2000, faiss="ivf-flat")
    write_synthetic_index(tmp_path / "plain", n=2000, faiss="none")
    manifest = json.loads((tmp_path / "stored" / MANIFEST_FILE).read_text())
    assert manifest["faiss"]["kind"] == "IVF-Flat" and set(manifest["faiss"]["files"]) == {"image", "fused"}
    assert all(name in manifest["files"] for name in manifest["faiss"]["files"].values()), "checksummed"
    assert "faiss" not in json.loads((tmp_path / "plain" / MANIFEST_FILE).read_text())

    at_load = load_index(tmp_path / "plain", backend="faiss-ivf")  # trains the same IVF-Flat at load
    queries = unit_rows(25, 32, seed=21)
    expected = {f: (top_k(at_load, queries, f), top_k(at_load, queries, f, at_load.has_recipe)) for f in FIELDS}
    monkeypatch.setattr(search, "train_index", no_training)
    stored = load_index(tmp_path / "stored")
    for field in FIELDS:
        assert top_k(stored, queries, field) == expected[field][0], field
        # A row filter runs inside the stored index's search too: only recipe rows come back.
        filtered = top_k(stored, queries, field, rows=stored.has_recipe)
        assert filtered == expected[field][1], field
        assert all(stored.has_recipe[row] for rows in filtered for row in rows)
        assert all(len(rows) == 10 for rows in filtered)


def test_an_ivf_pq_index_rescores_its_candidates_on_the_stored_vectors(tmp_path):
    vectors = write_synthetic_index(tmp_path / "pq", n=2000, title_only=0, faiss="ivf-pq")
    index = load_index(tmp_path / "pq")
    assert index.manifest["faiss"]["kind"] == "IVF-PQ"
    for row in range(0, 2000, 97):
        hits = index.search(vectors["image"][row], "image", 5)
        assert hits[0].row == row, "a row's own vector finds it first"
        exact = vectors["image"][[h.row for h in hits]] @ vectors["image"][row]
        assert np.allclose([h.score for h in hits], exact, atol=1e-5), "scores are exact, not PQ's"


def test_a_tampered_faiss_file_is_refused_with_its_name(tmp_path):
    write_synthetic_index(tmp_path / "index", n=2000, faiss="ivf-flat")
    path = tmp_path / "index" / faiss_store.file_name("image")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match=r"faiss_image\.index.*altered"):
        load_index(tmp_path / "index")
    # Unverified loading still refuses a file faiss cannot read, by name.
    path.write_bytes(b"not a faiss index")
    index = load_index(tmp_path / "index", verify=False)
    with pytest.raises(CorruptIndexError, match=r"faiss_image\.index: unreadable faiss index"):
        index.search(unit_rows(1, 32, seed=1)[0], "image", 3)


def test_the_kind_follows_the_size_unless_asked():
    assert faiss_store.choose_kind(10_000) is None
    assert faiss_store.choose_kind(300_000) == "IVF-Flat"
    assert faiss_store.choose_kind(2_000_000) == "IVF-PQ"
    assert faiss_store.choose_kind(100, "ivf-pq") == "IVF-PQ"
    with pytest.raises(ValueError, match="--faiss must be one of"):
        faiss_store.choose_kind(100, "hnsw")


def test_thumbnails_are_read_when_shown(tmp_path, monkeypatch):
    n = 2 * THUMBNAIL_ROW_GROUP + 40  # three row groups
    recipes = [
        dataclasses.replace(r, image_bytes=jpeg_bytes(colour=(i % 256, 40, 40), size=(20 + i % 7, 10)))
        for i, r in enumerate(synthetic_recipes(n))
    ]
    vectors = {field: unit_rows(n, 16, seed=k) for k, field in enumerate(("image", "title", "recipe"))}
    write_index(tmp_path / "index", recipes, vectors)
    index = load_index(tmp_path / "index")
    assert isinstance(index._thumbnails, ThumbnailColumn) and pq.ParquetFile(index._thumbnails.path).num_row_groups == 3
    for row in (0, THUMBNAIL_ROW_GROUP - 1, THUMBNAIL_ROW_GROUP, n - 1, 5):
        assert index.thumbnail_bytes(row) == recipes[row].image_bytes, row
    with pytest.raises(IndexError, match="outside"):
        index.thumbnail_bytes(n)
    assert set(index._thumbnails._groups) == {0, 1, 2}  # all three fit the default budget

    # A budget of about one group keeps only the group read last, and still reads every row.
    monkeypatch.setattr(thumbnail_column, "BYTES_KEPT", index._thumbnails._groups[0].nbytes + 1)
    small = load_index(tmp_path / "index")
    for row in (0, n - 1, THUMBNAIL_ROW_GROUP, 1):
        assert small.thumbnail_bytes(row) == recipes[row].image_bytes, row
    assert list(small._thumbnails._groups) == [0]
    assert small._thumbnails._bytes == small._thumbnails._groups[0].nbytes

    # A folder written before row groups were small (one group) still loads and shows them.
    table = pq.read_table(tmp_path / "index" / RECIPES_FILE)
    pq.write_table(table, tmp_path / "index" / RECIPES_FILE, row_group_size=n)
    manifest = json.loads((tmp_path / "index" / MANIFEST_FILE).read_text())
    manifest["files"] = file_entries(tmp_path / "index")
    (tmp_path / "index" / MANIFEST_FILE).write_text(json.dumps(manifest))
    old = load_index(tmp_path / "index")
    assert old.thumbnail_bytes(n - 1) == recipes[n - 1].image_bytes


def file_mapped_at(address: int) -> str | None:
    """The file whose mapping holds `address` in this process (Linux's /proc/self/maps)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)  # address range, perms, offset, device, inode[, path]
        start, end = (int(x, 16) for x in parts[0].split("-"))
        if start <= address < end:
            return parts[5] if len(parts) == 6 else None
    return None


def test_vectors_are_memory_mapped_as_safetensors_reads_them(tmp_path):
    write_synthetic_index(tmp_path / "index", n=50, dtype="float16")
    path = tmp_path / "index" / EMBEDDINGS_FILE
    mapped, read = map_safetensors(path), load_file(str(path))
    assert mapped.keys() == read.keys() and all(torch.equal(mapped[k], read[k]) for k in read)
    assert file_mapped_at(load_index(tmp_path / "index").vectors("image").data_ptr()) == str(path)
    # A header whose offsets overrun the file is refused, naming the file, even unverified.
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["image"]["data_offsets"][1] += 2
    header["image"]["shape"][0] += 1
    text = json.dumps(header).encode().ljust(size)
    path.write_bytes(data[:8] + text + data[8 + size :])
    with pytest.raises(CorruptIndexError, match=r"embeddings\.safetensors: unreadable safetensors"):
        load_index(tmp_path / "index", verify=False)
