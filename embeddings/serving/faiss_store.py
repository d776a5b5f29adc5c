"""The faiss index an index folder stores, so a large index opens without training one.

`embeddings build` trains an inverted-file index per searched field once and writes it
beside the vectors (`faiss_<field>.index`, checksummed in the manifest like every other
file); loading memory-maps it (faiss.IO_FLAG_MMAP): its inverted lists stay on disk and
in the page cache, not in the process's memory. Which kind, by the number of rows:

  below APPROX_THRESHOLD   none: exact search over the vectors is fast there
  below PQ_FROM_ROWS       IVF-Flat: float32 lists, exact scores within the probed cells
  from PQ_FROM_ROWS        IVF-PQ: 8 bits per 8 dimensions (64 bytes a 512-d row), its
                           candidates rescored on the stored vectors (embeddings/serving/search.py)

A folder written before this (no "faiss" in its manifest) trains at load, as it did.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from model.atomic import atomic_write

from .manifest import CorruptIndexError

APPROX_THRESHOLD = 250_000  # rows; from here "auto" searches an IVF index, below it exactly
PQ_FROM_ROWS = 500_000  # IVF-Flat's float32 lists pass 1 GB a field at 512-d here
KINDS = {"auto": None, "none": None, "ivf-flat": "IVF-Flat", "ivf-pq": "IVF-PQ"}  # option -> manifest name
IVF_PROBE_FRACTION = 1 / 32  # nprobe = nlist / 32: recall@10 >= 0.95 (benchmarks/RESULTS.md, index size)
PQ_DIMS_PER_CODE = 8  # dimensions a PQ sub-quantizer codes (one byte each at 8 bits)


def choose_kind(count: int, option: str = "auto") -> str | None:
    """The kind of faiss index to store for `count` rows ("IVF-Flat", "IVF-PQ"), or None."""
    if option not in KINDS:
        raise ValueError(f"--faiss must be one of {sorted(KINDS)}, got {option!r}")
    if option != "auto":
        return KINDS[option]
    if count < APPROX_THRESHOLD:
        return None
    return "IVF-Flat" if count < PQ_FROM_ROWS else "IVF-PQ"


def stored_fields(manifest: dict) -> tuple[str, ...]:
    """The fields the app searches: photos ("image"), titles' recipes ("fused") and the
    recipe vector training chose, when that is the recipe text alone."""
    return ("image", "fused") + (("recipe",) if manifest.get("recipe_vector") == "recipe" else ())


def file_name(field: str) -> str:
    return f"faiss_{field}.index"


def default_nlist(count: int) -> int:
    # ~4 sqrt(n) cells, and faiss wants >= 39 training points a cell: small indexes get fewer.
    return max(1, min(int(4 * math.sqrt(count)), count // 40))


def default_nprobe(nlist: int) -> int:
    return max(1, math.ceil(nlist * IVF_PROBE_FRACTION))


def pq_shape(dim: int, count: int) -> tuple[int, int]:
    """(sub-quantizers, bits each): one per PQ_DIMS_PER_CODE dimensions (a divisor of
    dim), 8 bits where there are rows enough to train 256 centroids each (39 a centroid)."""
    parts = max(1, dim // PQ_DIMS_PER_CODE)
    while dim % parts:
        parts -= 1
    bits = int(min(8, max(4, math.floor(math.log2(max(2, count // 39))))))
    return parts, bits


def train_index(data: np.ndarray, kind: str, nlist: int | None = None, nprobe: int | None = None, seed: int = 0):
    """A trained and filled faiss index over the unit rows `data` ((n, D) float32):
    "Flat" (exact inner product), "IVF-Flat" or "IVF-PQ"."""
    import faiss  # start-up: only the faiss backends and `build` load it

    n, dim = data.shape
    if kind == "Flat":
        index = faiss.IndexFlatIP(dim)
        index.add(data)
        return index
    nlist = nlist or default_nlist(n)
    quantizer = faiss.IndexFlatIP(dim)
    if kind == "IVF-Flat":
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    elif kind == "IVF-PQ":
        parts, bits = pq_shape(dim, n)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, parts, bits, faiss.METRIC_INNER_PRODUCT)
    else:
        raise ValueError(f"unknown faiss index kind {kind!r}")
    # Spherical k-means (unit centroids): with inner-product assignment, unnormalised
    # centroids let a few long ones swallow the cells. 40 points a cell (faiss asks for
    # 39), 10 rounds: ~4 min for 1M x 512 on 2 busy cores.
    index.cp.spherical = True
    index.cp.niter = 10
    size = 40 * nlist
    if kind == "IVF-PQ":
        size = max(size, 40 * 2**bits)  # the PQ codebooks want 39 points a centroid too
    sample = data[np.random.default_rng(seed).choice(n, size=size, replace=False)] if n > size else data
    index.train(sample)
    index.add(data)
    index.nprobe = nprobe or default_nprobe(nlist)
    return index


def describe(index) -> dict:
    """What the manifest says of a stored index."""
    import faiss  # start-up: only the faiss backends and `build` load it

    record = {"nlist": int(index.nlist), "nprobe": int(index.nprobe)}
    if isinstance(index, faiss.IndexIVFPQ):
        record.update(pq_subquantizers=int(index.pq.M), pq_bits=int(index.pq.nbits), rescored="stored vectors")
    return record


def write_index(index, path: Path) -> None:
    """Written whole under a temporary name, then renamed: a killed build leaves no half file."""
    import faiss  # start-up: only the faiss backends and `build` load it

    atomic_write(path, lambda tmp: faiss.write_index(index, str(tmp)))


def read_index(path: Path, count: int, dim: int):
    """The stored index at `path`, memory-mapped; refused (naming the file) when faiss
    cannot read it or it does not hold `count` rows of `dim` dimensions."""
    import faiss  # start-up: only the faiss backends and `build` load it

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError as err:
        raise CorruptIndexError(f"{path}: unreadable faiss index ({str(err).strip().splitlines()[-1]})") from err
    if index.ntotal != count or index.d != dim:
        raise CorruptIndexError(
            f"{path}: {index.ntotal} rows of {index.d} dimensions, the manifest says {count} of {dim}"
        )
    return index


def open_stored(directory: Path, manifest: dict, field: str, backend: str):
    """The memory-mapped index the folder stores for `field`, or None: none stored (an
    older folder, a small index), or a backend asked for that is not the stored one."""
    record = manifest.get("faiss")
    if not record or field not in record["files"] or backend not in ("auto", "faiss-ivf"):
        return None
    return read_index(Path(directory) / record["files"][field], int(manifest["count"]), int(manifest["dim"]))
