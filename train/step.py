"""One training step's computation: embed a rank's rows (`EmbedRows`, the module
DistributedDataParallel wraps), gather the global batch, and score it (`global_loss`).
In a world of one the gather is the identity, so a plain run computes exactly what it
computed before there were ranks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from model import Retriever
from pipeline.world import World

from .distributed import gather_rows
from .objectives import INFONCE, Objective, contrastive_loss

MODALITIES = ("image", "title", "recipe")


class EmbedRows(torch.nn.Module):
    """Everything that trains and runs per row, in one forward: the photo tail on cached
    activations (inside source.batch) and the three heads. DDP needs every trainable use
    inside forward to hook its gradient exchange onto."""

    def __init__(self, model: Retriever):
        super().__init__()
        self.model = model

    def forward(self, source, rows: torch.Tensor, device: torch.device, views: torch.Tensor | None):
        return embed_features(self.model, source.batch(rows, device, training=True, views=views))


def embed_features(model: Retriever, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each modality's unit vectors; with a debiasing model also "image_plain", the photo's
    vector before debiasing: what its ingredient head reads, and so what it trains on."""
    plain = model.embed_image_plain(features["image"])
    embeds = {
        "image": model.debias_image(plain),
        "title": model.embed_title_features(features["title"]),
        "recipe": model.embed_recipe_features(features["recipe"]),
    }
    if model.config.debias:
        embeds["image_plain"] = plain
    return embeds


def global_loss(
    model: Retriever,
    local: dict[str, torch.Tensor],
    has_recipe: torch.Tensor,
    world: World = World(),
    labels: torch.Tensor | None = None,
    ingredient_weight: float = 0.0,
    *,
    objective: Objective = INFONCE,
    dish_labels: torch.Tensor | None = None,
    draw: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The objective (train/objectives.py; six-pair InfoNCE by default) over the global batch
    (+ the ingredient-word loss): `local` holds this rank's embeddings; `has_recipe`,
    `labels` and `dish_labels` are the global batch's (every rank knows them, no exchange
    needed), and `draw` is seeded alike on every rank. Every rank returns the same loss."""
    sizes = world.batch_sizes(len(has_recipe))
    gathered = {name: gather_rows(vectors, world, sizes) for name, vectors in local.items()}
    embeds = {m: gathered[m] for m in MODALITIES}
    ones = torch.ones_like(has_recipe)
    present = {"image": ones, "title": ones, "recipe": has_recipe}
    loss, terms = contrastive_loss(model, embeds, present, objective, dish_labels, draw)
    if ingredient_weight and labels is not None:
        # Both the photo and the recipe embedding should tell which ingredients the dish has.
        # A debiased photo's head reads the vector before debiasing, as it does when serving.
        readers = {"image": gathered.get("image_plain", embeds["image"]), "recipe": embeds["recipe"]}
        logits = {m: model.ingredient_head(vectors) for m, vectors in readers.items()}
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
        loss = loss + 0.0 * sum(vectors.sum() for vectors in local.values())
    return loss, terms
