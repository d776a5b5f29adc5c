"""Projection heads: backbone features -> the shared space."""

from torch import nn


class ProjectionHead(nn.Sequential):
    """Linear -> GELU -> LayerNorm -> Dropout (the seed design), then (final_linear) a last
    Linear so the output is not pinned to the LayerNorm's affine range. (B, in_dim) -> (B, out_dim);
    the retriever L2-normalises the result."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, final_linear: bool = True):
        layers = [nn.Linear(in_dim, out_dim), nn.GELU(), nn.LayerNorm(out_dim), nn.Dropout(dropout)]
        super().__init__(*layers, *([nn.Linear(out_dim, out_dim)] if final_linear else []))
