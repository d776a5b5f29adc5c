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

from typing import Callable

import numpy as np
import torch

from .faiss_store import APPROX_THRESHOLD, train_index

BACKENDS = ("auto", "exact", "faiss-flat", "faiss-ivf")
RERANK_FACTOR, RERANK_EXTRA = 4, 32
FLOAT32_COPY_BYTES = 512 * 2**20  # exact search on float32 up to 512 MB (~260k rows of 512-d)


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
    top-k as ExactSearcher. True: IndexIVFFlat with nlist ~ 4*sqrt(n) inner-product cells.
    `FaissSearcher.stored` wraps an index an index folder stores (embeddings/serving/faiss_store.py)."""

    def __init__(
        self,
        matrix: torch.Tensor,
        approximate: bool = False,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
    ):
        data = np.ascontiguousarray(matrix.float().numpy())
        self.index = train_index(data, "IVF-Flat" if approximate else "Flat", nlist, nprobe, seed)
        self.rows_of = None  # IVF-Flat and Flat score exactly: nothing to rescore

    @classmethod
    def stored(cls, index, rows_of: Callable[[torch.Tensor], torch.Tensor]) -> FaissSearcher:
        """A searcher over a stored (trained, filled) index; `rows_of(rows)`: those rows'
        stored vectors, on which an IVF-PQ index's approximate candidates are rescored."""
        import faiss  # loaded only by the faiss backends: the exact one never needs it

        searcher = cls.__new__(cls)
        searcher.index = index
        searcher.rows_of = rows_of if isinstance(index, faiss.IndexIVFPQ) else None
        return searcher

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
        wanted = k if self.rows_of is None else RERANK_FACTOR * k + RERANK_EXTRA
        scores, rows = self.index.search(query.float().numpy()[None, :], wanted, params=params)
        keep = rows[0] >= 0  # IVF returns -1 when the probed cells hold fewer than k rows
        scores, rows = scores[0][keep], rows[0][keep].astype(np.int64)
        if self.rows_of is None:
            return scores, rows
        # PQ scores are approximate: rescore the candidates on the stored vectors.
        rescored = torch.mv(self.rows_of(torch.from_numpy(rows)).float(), query.float())
        best = torch.topk(rescored, min(k, len(rows)))
        return best.values.numpy(), rows[best.indices.numpy()]


def make_searcher(matrix: torch.Tensor, backend: str = "auto"):
    if backend not in BACKENDS:
        raise ValueError(f"search backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = "faiss-ivf" if matrix.shape[0] >= APPROX_THRESHOLD else "exact"
    if backend == "exact":
        return ExactSearcher(matrix)
    return FaissSearcher(matrix, approximate=(backend == "faiss-ivf"))
