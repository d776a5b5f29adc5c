"""Top-k by cosine over a (n, D) matrix of unit vectors: exact (a matrix-vector product)
or faiss (exact IndexFlatIP, or approximate IVF for large indexes), optionally among
allowed rows only: a boolean row mask applied inside the search, before ranking, so a
filtered search still returns k rows whenever k rows pass the filter.

Exact search on a large float16 matrix keeps it in float16: the product streams half
the bytes (memory bandwidth is the cost: ~100 ms instead of ~190 ms for 1M x 512 on
this machine); torch accumulates in float32, and the best RERANK_FACTOR*k + RERANK_EXTRA
candidates are rescored in float32, so results equal a float32 search over the same
stored vectors (float16 rounding of a score is ~1e-4, far inside that margin).
"""

from __future__ import annotations

import math

import numpy as np
import torch

BACKENDS = ("auto", "exact", "faiss-flat", "faiss-ivf")
APPROX_THRESHOLD = 250_000  # rows; "auto" switches to faiss-ivf at or above this
RERANK_FACTOR, RERANK_EXTRA = 4, 32
FLOAT32_COPY_BYTES = 512 * 2**20  # exact search on float32 up to 512 MB (~260k rows of 512-d)
IVF_PROBE_FRACTION = 1 / 32  # nprobe = nlist / 32: recall@10 >= 0.95 in benchmarks/bench_index.py


class ExactSearcher:
    def __init__(self, matrix: torch.Tensor):
        # Small float16 matrices are upcast once: torch's float16 matrix-vector product is
        # 3-5x slower than float32 at 10k rows; past FLOAT32_COPY_BYTES the halved memory
        # traffic wins and so does the halved RAM.
        if matrix.dtype != torch.float32 and matrix.numel() * 4 <= FLOAT32_COPY_BYTES:
            matrix = matrix.float()
        self.matrix = matrix  # (n, D), float16 or float32, rows unit length

    def search(self, query: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the best k rows, best first; `allowed`: (n,) bool, rows that may appear."""
        n = self.matrix.shape[0]
        k = min(k, n if allowed is None else int(allowed.sum()))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores = torch.mv(self.matrix, query.to(self.matrix.dtype)).float()  # (n,); topk on float16 is slow
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        if self.matrix.dtype != torch.float32:
            candidates = torch.topk(
                scores, min(n if allowed is None else int(allowed.sum()), RERANK_FACTOR * k + RERANK_EXTRA)
            ).indices
            rescored = torch.mv(self.matrix[candidates].float(), query)
            best = torch.topk(rescored, k)
            return best.values.numpy(), candidates[best.indices].numpy()
        best = torch.topk(scores, k)
        return best.values.numpy(), best.indices.numpy()


class FaissSearcher:
    """faiss over a float32 copy of the matrix. `approximate=False`: IndexFlatIP, same
    top-k as ExactSearcher. True: IndexIVFFlat with nlist ~ 4*sqrt(n) inner-product cells."""

    def __init__(
        self,
        matrix: torch.Tensor,
        approximate: bool = False,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
    ):
        import faiss  # loaded only by the faiss backends: the exact one never needs it

        data = np.ascontiguousarray(matrix.float().numpy())
        n, dim = data.shape
        if not approximate:
            self.index = faiss.IndexFlatIP(dim)
        else:
            # faiss wants >= 39 training points per cell; small indexes get fewer cells.
            nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 40))
            quantizer = faiss.IndexFlatIP(dim)
            self.index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            # Spherical k-means (unit centroids): with inner-product assignment, unnormalised
            # centroids let a few long ones swallow the cells. 40 points a cell (faiss asks
            # for 39), 10 rounds: ~4 min for 1M x 512 on 2 busy cores.
            self.index.cp.spherical = True
            self.index.cp.niter = 10
            rng = np.random.default_rng(seed)
            sample = data[rng.choice(n, size=40 * nlist, replace=False)] if n > 40 * nlist else data
            self.index.train(sample)
            self.index.nprobe = nprobe or max(1, math.ceil(nlist * IVF_PROBE_FRACTION))
        self.index.add(data)

    def search(self, query: torch.Tensor, k: int, allowed: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss  # loaded only by the faiss backends: the exact one never needs it

        k = min(k, self.index.ntotal if allowed is None else int(allowed.sum()))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        params = None
        if allowed is not None:
            # faiss reads the mask as a bitmap, bit i of byte i // 8 for row i; `bitmap` must
            # live until the search returns (the selector only points at it).
            bitmap = np.packbits(allowed.numpy().astype(bool), bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
            if isinstance(self.index, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=selector, nprobe=self.index.nprobe)
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, rows = self.index.search(query.float().numpy()[None, :], k, params=params)
        keep = rows[0] >= 0  # IVF returns -1 when the probed cells hold fewer than k rows
        return scores[0][keep], rows[0][keep].astype(np.int64)


def make_searcher(matrix: torch.Tensor, backend: str = "auto"):
    if backend not in BACKENDS:
        raise ValueError(f"search backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = "faiss-ivf" if matrix.shape[0] >= APPROX_THRESHOLD else "exact"
    if backend == "exact":
        return ExactSearcher(matrix)
    return FaissSearcher(matrix, approximate=(backend == "faiss-ivf"))
