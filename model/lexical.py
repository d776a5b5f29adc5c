"""Lexical text features: TF-IDF over words and word pairs, reduced to a few hundred
dimensions by a truncated SVD fitted on the training rows (latent semantic analysis).

Why: mean-pooled MiniLM vectors blur the words that name a dish ("farro", "panna cotta",
"short ribs"); a photo is told apart from the others by exactly those. Beside the MiniLM
features, on the Epicurious sample over 8 train/val/test draws (frozen heads; the
split-noise variants of benchmarks/variants/split_noise.toml, default against no_lexical),
they raised mean val R@1 from 0.053 to 0.077, test image->recipe R@1 from 0.069 to 0.111
(MedR 26.3 -> 14.7) and title->image R@1 from 0.029 to 0.045.

Terms are kept as 64-bit hashes (sorted, looked up with searchsorted), so the fitted
vocabulary is three tensors in model.safetensors and needs no pickle and no extra file:
term_ids (V,), idf (V,), components (V, dims).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

import torch
from torch import nn

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # words of two or more letters/digits (scikit-learn's default)
MIN_DOCUMENTS = 2  # a term must occur in at least this many training texts
MAX_DOCUMENT_SHARE = 0.5  # ... and in at most this share of them ("and", "the", "salt")


NULL_SINGULAR = 1e-4  # relative to the largest singular value: below it, a direction is noise


def terms(text: str) -> list[str]:
    """Lower-cased words, then every pair of neighbouring words ("short ribs")."""
    words = TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


def term_id(term: str) -> int:
    """A stable signed 64-bit hash of a term (Python's hash() changes between runs)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little", signed=True)


class LexicalEncoder(nn.Module):
    """texts -> (B, dims) LSA vectors. Unfitted (0 terms) it returns zeros, so a model can be
    built before its training rows are known; `fit` fills the buffers."""

    def __init__(self, vocabulary_size: int, dims: int):
        super().__init__()
        self.dims = dims
        self.register_buffer("term_ids", torch.zeros(vocabulary_size, dtype=torch.int64))
        self.register_buffer("idf", torch.zeros(vocabulary_size))
        self.register_buffer("components", torch.zeros(vocabulary_size, dims))

    @property
    def vocabulary_size(self) -> int:
        return self.term_ids.shape[0]

    def tfidf(self, texts: list[str]) -> torch.Tensor:
        """Sparse (B, V) rows: (1 + log count) * idf, L2-normalised, over the fitted terms."""
        rows, cols, values = [], [], []
        term_ids, idf = self.term_ids.cpu(), self.idf.cpu()  # built on the CPU, whatever device the model is on
        for row, text in enumerate(texts):
            counts = Counter(terms(text))
            if not counts or self.vocabulary_size == 0:
                continue
            ids = torch.tensor([term_id(t) for t in counts], dtype=torch.int64)
            where = torch.searchsorted(term_ids, ids).clamp(max=self.vocabulary_size - 1)
            known = term_ids[where] == ids
            tf = 1 + torch.log(torch.tensor(list(counts.values()), dtype=torch.float32))
            weights = tf[known] * idf[where[known]]
            if len(weights):
                rows.append(torch.full((len(weights),), row))
                cols.append(where[known])
                values.append(weights / weights.norm())
        if not rows:
            return torch.sparse_coo_tensor(
                torch.zeros(2, 0, dtype=torch.int64), torch.zeros(0), (len(texts), self.vocabulary_size)
            )
        indices = torch.stack([torch.cat(rows), torch.cat(cols)])
        return torch.sparse_coo_tensor(
            indices, torch.cat(values), (len(texts), self.vocabulary_size), check_invariants=False
        ).coalesce()  # built valid above

    def forward(self, texts: list[str]) -> torch.Tensor:
        if self.vocabulary_size == 0:
            return torch.zeros(len(texts), self.dims, device=self.components.device)
        return torch.sparse.mm(self.tfidf(texts).to(self.components.device), self.components)

    @torch.no_grad()
    def fit(self, texts: list[str], max_terms: int) -> "LexicalEncoder":
        """Vocabulary, idf and SVD from the training texts (empty ones are skipped). Keeps
        the `max_terms` most frequent terms among those in [MIN_DOCUMENTS, MAX_DOCUMENT_SHARE]
        of the texts; idf is scikit-learn's smooth idf."""
        texts = [t for t in texts if t.strip()]
        n = len(texts)
        document_counts, total_counts = Counter(), Counter()
        for text in texts:
            counts = Counter(terms(text))
            document_counts.update(counts.keys())
            total_counts.update(counts)
        eligible = [t for t, df in document_counts.items() if MIN_DOCUMENTS <= df <= MAX_DOCUMENT_SHARE * n]
        kept = sorted(eligible, key=lambda t: (-total_counts[t], t))[:max_terms]
        ids = torch.tensor([term_id(t) for t in kept], dtype=torch.int64)
        order = torch.argsort(ids)
        self.term_ids = ids[order]
        self.idf = torch.tensor([math.log((1 + n) / (1 + document_counts[t])) + 1 for t in kept], dtype=torch.float32)[
            order
        ]
        self.components = torch.zeros(len(kept), self.dims)
        rank = min(self.dims, len(kept), n)
        if rank > 0:
            matrix = self.tfidf(texts)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # svd_lowrank draws a random start: fixed, so a refit is identical
                _, singular, v = torch.svd_lowrank(matrix, q=min(rank + 10, len(kept), n), niter=5)
            v = v[:, :rank]
            # Directions of (numerically) zero singular value span the training texts' null
            # space: any rotation of them is an SVD, and which one comes out depends on the
            # BLAS threads (measured: a 40-title vocabulary's last components differ by 1.41
            # between one and two threads). They carry nothing, so they stay zero.
            v = v * (singular[:rank] > NULL_SINGULAR * singular[0]).to(v.dtype)
            # Each direction's sign fixed by its largest entry (an SVD is unique only up to sign).
            signs = torch.sign(v.gather(0, v.abs().argmax(0, keepdim=True)))
            self.components[:, :rank] = v * signs
        return self
