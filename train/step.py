"""One training step's computation: embed a rank's rows (`EmbedRows`, the module
DistributedDataParallel wraps), gather the global batch, and score it (`global_loss`).
In a world of one the gather is the identity, so a plain run computes exactly what it
computed before there were ranks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from model import Retriever, multi_pair_loss
from pipeline.world import World

from .distributed import gather_rows

MODALITIES = ("image", "title", "recipe")


class EmbedRows(torch.nn.Module):
    """Everything that trains and runs per row, in one forward: the photo tail on cached
    activations (inside source.batch) and the three heads. DDP needs every trainable use
    inside forward to hook its gradient exchange onto."""

    def __init__(self, model: Retriever):
        super().__init__()
        self.model = model

    def forward(self, source, rows: torch.Tensor, device: torch.device, views: torch.Tensor | None):
        features = source.batch(rows, device, training=True, views=views)
        return {
            "image": self.model.embed_image_features(features["image"]),
            "title": self.model.embed_title_features(features["title"]),
            "recipe": self.model.embed_recipe_features(features["recipe"]),
        }


def global_loss(
    model: Retriever,
    local: dict[str, torch.Tensor],
    has_recipe: torch.Tensor,
    world: World = World(),
    labels: torch.Tensor | None = None,
    ingredient_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Six-pair InfoNCE over the global batch (+ the ingredient-word loss): `local` holds
    this rank's embeddings; `has_recipe` and `labels` are the global batch's (every rank
    knows them, no exchange needed). Every rank returns the same loss."""
    sizes = world.batch_sizes(len(has_recipe))
    embeds = {m: gather_rows(local[m], world, sizes) for m in MODALITIES}
    ones = torch.ones_like(has_recipe)
    present = {"image": ones, "title": ones, "recipe": has_recipe}
    loss, terms = multi_pair_loss(embeds, present, model.clamped_logit_scale())
    if ingredient_weight and labels is not None:
        # Both the photo and the recipe embedding should tell which ingredients the dish has.
        logits = {m: model.ingredient_head(embeds[m]) for m in ("image", "recipe")}
        if bool(has_recipe.any()):
            target = labels[has_recipe]
            ingredients = sum(F.binary_cross_entropy_with_logits(logits[m][has_recipe], target) for m in logits) / 2
            terms["ingredients"] = float(ingredients.detach())
            loss = loss + ingredient_weight * ingredients
        else:
            loss = loss + 0.0 * sum(x.sum() for x in logits.values())
    if world.size > 1:
        # DDP waits for a gradient of every trainable parameter each step; a term left out
        # (a batch with no full recipe) would leave its head without one. Zero keeps the value.
        loss = loss + 0.0 * sum(local[m].sum() for m in MODALITIES)
    return loss, terms
