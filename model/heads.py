"""Projection heads: backbone features -> the shared space."""
from torch import nn


class ProjectionHead(nn.Sequential):
    """Linear -> GELU -> LayerNorm -> Dropout (the seed design), then a last Linear so the
    output is not pinned to the LayerNorm's affine range. (B, in_dim) -> (B, out_dim);
    the retriever L2-normalises the result."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__(
            nn.Linear(in_dim, out_dim),
            nn.GELU(),
            nn.LayerNorm(out_dim),
            nn.Dropout(dropout),
            nn.Linear(out_dim, out_dim),
        )
