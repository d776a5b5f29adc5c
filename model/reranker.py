"""HF-ICMA's local score: a small cross-attention between a photo's regions and a recipe's
ingredient lines, added to the dual encoder's global cosine to re-rank its top K.

Regions are the image backbone's last spatial feature map before pooling (Lite0: conv_head
output, 1280 x 7 x 7 -> 49 region vectors): the deepest map that still says WHERE things
are, and the very map the pooled features average, so one backbone pass gives both.
Ingredients are the per-line text-backbone vectors of the recipe's ingredient lines
(model/recipe_lines.py split them; pipeline/lines.py caches them).

Both are projected to d (unit length); each ingredient attends over the regions
(softmax of scaled cosines), and its local score is the cosine between the attended
region feature and the ingredient. A recipe's local score is the mean over its real
ingredient lines (padding never enters; a recipe with none scores 0). The final score is
global + alpha * local, alpha learned from a small start, so an untrained scorer barely
moves the dual encoder's order.

Memory: the attended feature is never built. With unit regions v_r, attention a_r and a
unit ingredient i, cos(sum_r a_r v_r, i) = (sum_r a_r v_r.i) / sqrt(a^T G a), G = V V^T
the regions' Gram matrix, so a batch of Q photos x N recipes costs (Q, N, M, R) numbers,
not (Q, N, M, d): in-batch training over 64 x 64 pairs fits in tens of MB.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

RERANK_WIDTH = 256  # d: projected regions and ingredients
INITIAL_ALPHA = 0.1  # the local score's weight at the start: small beside the global cosine
INITIAL_ATTENTION_SCALE = 10.0  # softmax over cosines: a temperature of 0.1, learned from there


class RegionIngredientScorer(nn.Module):
    """(photo regions, recipe ingredient lines) -> local scores, and the final re-ranking score."""

    def __init__(self, region_dim: int, line_dim: int, width: int = RERANK_WIDTH):
        super().__init__()
        self.regions = nn.Linear(region_dim, width)
        self.ingredients = nn.Linear(line_dim, width)
        self.alpha = nn.Parameter(torch.tensor(INITIAL_ALPHA))
        self.log_attention_scale = nn.Parameter(torch.tensor(math.log(INITIAL_ATTENTION_SCALE)))

    def project_regions(self, regions: torch.Tensor) -> torch.Tensor:
        """(..., R, C) backbone regions -> (..., R, d) unit vectors."""
        return F.normalize(self.regions(regions.to(self.regions.weight.dtype)), dim=-1)

    def project_ingredients(self, lines: torch.Tensor) -> torch.Tensor:
        """(..., M, H) ingredient-line vectors -> (..., M, d) unit vectors."""
        return F.normalize(self.ingredients(lines.to(self.ingredients.weight.dtype)), dim=-1)

    def local(self, regions: torch.Tensor, lines: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Local scores of every (photo, recipe) pair the shapes broadcast to.

        regions (..., R, C); lines (..., M, H) zero-padded past `counts` (...,) real lines.
        In-batch training: regions (Q, 1, R, C), lines (1, N, M, H), counts (1, N) -> (Q, N).
        Re-ranking: regions (Q, 1, R, C), lines (Q, K, M, H), counts (Q, K) -> (Q, K)."""
        return self.local_projected(self.project_regions(regions), self.project_ingredients(lines), counts)

    def local_projected(self, v: torch.Tensor, i: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """local() on already projected regions v (..., R, d) and ingredients i (..., M, d):
        evaluation projects each row once and pairs them up afterwards."""
        cosines = i @ v.transpose(-1, -2)  # (..., M, R): every ingredient against every region
        attention = torch.softmax(self.log_attention_scale.exp() * cosines, dim=-1)
        along = (attention * cosines).sum(-1)  # (..., M): attended feature . ingredient
        gram = v @ v.transpose(-1, -2)  # (..., R, R)
        length = ((attention @ gram) * attention).sum(-1).clamp(min=1e-12).sqrt()  # |attended feature|
        per_line = along / length
        counts = counts.to(per_line.device)
        real = torch.arange(per_line.shape[-1], device=per_line.device) < counts[..., None]
        # torch.where, not a product: a padded position's value never reaches the sum, even if it were NaN.
        total = torch.where(real, per_line, torch.zeros_like(per_line)).sum(-1)
        return total / counts.clamp(min=1).to(total.dtype)  # 0 for a recipe with no ingredient lines

    def final(self, global_scores: torch.Tensor, local_scores: torch.Tensor) -> torch.Tensor:
        """global cosine + alpha * local score."""
        return global_scores + self.alpha * local_scores


def regions_of(feature_map: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) feature map -> (B, h*w, C) region vectors rounded through float16 (the
    cache's precision)."""
    regions = feature_map.flatten(2).transpose(1, 2)
    return regions.to(torch.float16).to(feature_map.dtype).contiguous()
