"""Sequence recipe encoders: a recipe's per-line text-backbone vectors (its ingredient
lines and its method's sentences, model/recipe_lines.py) -> one feature vector that the
recipe head maps into the shared space. RetrieverConfig.recipe_encoder picks one:

  "pooled"        (not here) the whole ingredient list and the whole method, each mean-pooled
                  by the text backbone in one pass: the first run's quick model, the seed and
                  CLIP presets, and what a config.json saved before this field reads as.
  "lstm"          the product default (RetrieverConfig's field default). im2recipe / AdaMine:
                  a bi-LSTM over the ingredient lines (hidden d per direction) and an LSTM
                  over the sentences (hidden 2d), their final states concatenated: 4d features.
  "hierarchical"  H-T (Salvador et al. 2021): a transformer encoder over the ingredient
                  lines as a SET (no position embeddings: their order means little) and one
                  over the sentences WITH learned position embeddings (the method's order
                  matters), each mean-pooled over its real items: 2d features, which the
                  retriever merges with the title's backbone vector.

d is RetrieverConfig.recipe_sequence_dim (256 by default: the LSTMs train in seconds an
epoch on a CPU over cached line vectors). Padding never enters: the LSTMs read packed
sequences and the transformers' attention and pooling a key-padding mask. A recipe with
no ingredient lines, or no method, has a learned "empty" vector for that part instead
(an all-masked attention would give NaN, a zero-length pack is refused).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .config import RECIPE_ENCODERS
from .recipe_lines import RecipeLines

TRANSFORMER_LAYERS = 2
TRANSFORMER_HEADS = 4
TRANSFORMER_DROPOUT = 0.1


def with_empty(features: torch.Tensor, counts: torch.Tensor, empty: nn.Parameter) -> torch.Tensor:
    """features (B, F) with the rows of count 0 replaced by the learned `empty` vector.
    torch.where keeps `empty` in the graph on every batch (a zero gradient when no row is
    empty), so DistributedDataParallel always finds its gradient."""
    has_items = (counts > 0).to(features.device)[:, None]
    return torch.where(has_items, features, empty.to(features.dtype).expand_as(features))


def readable(counts: torch.Tensor) -> torch.Tensor:
    """Counts with 0 read as 1: an empty row reads its first (zero) padding position, whose
    output with_empty then discards, so no sequence is empty and no attention all-masked."""
    return counts.clamp(min=1)


class LSTMRecipeEncoder(nn.Module):
    """(ingredient lines, sentences) -> [bi-LSTM final states ; LSTM final state], (B, 4d)."""

    reads_title = False  # im2recipe's recipe side reads the recipe alone

    def __init__(self, line_dim: int, width: int):
        super().__init__()
        self.ingredients = nn.LSTM(line_dim, width, batch_first=True, bidirectional=True)
        self.steps = nn.LSTM(line_dim, 2 * width, batch_first=True)
        self.empty_ingredients = nn.Parameter(torch.zeros(2 * width))
        self.empty_steps = nn.Parameter(torch.zeros(2 * width))
        self.output_dim = 4 * width

    @staticmethod
    def final_state(lstm: nn.LSTM, lines: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """The last real step's hidden state (both directions' for a bi-LSTM), (B, dirs * hidden)."""
        packed = pack_padded_sequence(lines, readable(counts).cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = lstm(packed)  # (dirs, B, hidden), rows back in the batch's order
        return hidden.transpose(0, 1).reshape(len(counts), -1)

    def forward(self, batch: RecipeLines) -> torch.Tensor:
        ingredients = self.final_state(self.ingredients, batch.ingredients, batch.ingredient_counts)
        steps = self.final_state(self.steps, batch.steps, batch.step_counts)
        return torch.cat(
            [
                with_empty(ingredients, batch.ingredient_counts, self.empty_ingredients),
                with_empty(steps, batch.step_counts, self.empty_steps),
            ],
            dim=1,
        )


class LineTransformer(nn.Module):
    """(B, M, H) line vectors -> (B, d): a projection to d, optional learned positions, a
    small pre-norm transformer encoder, the mean over the real lines."""

    def __init__(self, line_dim: int, width: int, positions: int):
        super().__init__()
        self.project = nn.Linear(line_dim, width)
        # Ingredients are a set (positions 0): no position embeddings, attention sees no order.
        self.position = nn.Embedding(positions, width) if positions else None
        layer = nn.TransformerEncoderLayer(
            width,
            TRANSFORMER_HEADS,
            2 * width,
            dropout=TRANSFORMER_DROPOUT,
            batch_first=True,
            norm_first=True,
        )
        # No nested tensors: they would drop the padded positions' outputs in eval only,
        # and the mean below already ignores them.
        self.encoder = nn.TransformerEncoder(layer, TRANSFORMER_LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, lines: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """(B, d); a row without lines gets zeros, which with_empty replaces. Title-only rows
        (most of a collection like the sample) never run the transformer: the batch's rows
        with lines do, trimmed to their longest. One row runs at least, so the parameters
        always get a gradient (DistributedDataParallel expects one every step)."""
        run = (counts > 0).to(lines.device)
        if not bool(run.any()):
            run[0] = True
        if bool(run.all()):
            return self.encode(lines, counts)
        kept = counts[run.to(counts.device)]
        longest = int(readable(kept).max())
        out = lines.new_zeros(len(counts), self.norm.normalized_shape[0])
        out[run] = self.encode(lines[run, :longest], kept)
        return out

    def encode(self, lines: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        x = self.project(lines)
        width = x.shape[1]
        if self.position is not None:
            if width > self.position.num_embeddings:
                raise ValueError(
                    f"{width} steps, more than the {self.position.num_embeddings} positions the encoder has "
                    "(recipe_max_steps caps them; split_lines applies it)"
                )
            x = x + self.position.weight[:width]
        real = torch.arange(width, device=x.device)[None, :] < readable(counts).to(x.device)[:, None]  # (B, M)
        x = self.norm(self.encoder(x, src_key_padding_mask=~real))
        weights = real.to(x.dtype)[..., None]
        return (x * weights).sum(1) / weights.sum(1)  # mean over the real lines (>= 1 by readable)


class HierarchicalRecipeEncoder(nn.Module):
    """(ingredient lines, sentences) -> [set transformer mean ; ordered transformer mean], (B, 2d)."""

    # H-T merges the title's backbone vector with these: the retriever appends it to the
    # encoder's output before the recipe head (Retriever.sequence_inputs).
    reads_title = True

    def __init__(self, line_dim: int, width: int, max_steps: int):
        super().__init__()
        if width % TRANSFORMER_HEADS:
            raise ValueError(f"recipe_sequence_dim must be a multiple of {TRANSFORMER_HEADS} heads, got {width}")
        self.ingredients = LineTransformer(line_dim, width, positions=0)
        self.steps = LineTransformer(line_dim, width, positions=max_steps)
        self.empty_ingredients = nn.Parameter(torch.zeros(width))
        self.empty_steps = nn.Parameter(torch.zeros(width))
        self.output_dim = 2 * width

    def forward(self, batch: RecipeLines) -> torch.Tensor:
        ingredients = self.ingredients(batch.ingredients, batch.ingredient_counts)
        steps = self.steps(batch.steps, batch.step_counts)
        return torch.cat(
            [
                with_empty(ingredients, batch.ingredient_counts, self.empty_ingredients),
                with_empty(steps, batch.step_counts, self.empty_steps),
            ],
            dim=1,
        )


def build_recipe_sequence_encoder(kind: str, line_dim: int, width: int, max_steps: int) -> nn.Module:
    if kind == "lstm":
        return LSTMRecipeEncoder(line_dim, width)
    if kind == "hierarchical":
        return HierarchicalRecipeEncoder(line_dim, width, max_steps)
    raise ValueError(f"recipe_encoder must be one of {list(RECIPE_ENCODERS)}, got {kind!r}")
