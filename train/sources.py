"""Where a training batch's backbone features come from.

CachedFeatures: frozen backbones, features read from the on-disk cache (heads-only
training: an epoch takes seconds on a CPU).
LiveFeatures: the backbones run on every batch, so their unfrozen top blocks train too
(fine-tune mode; meant for a GPU).
"""
from __future__ import annotations

import torch
from torchvision import transforms

from model import Retriever
from model.preprocess import to_rgb

from .data import Recipe


class CachedFeatures:
    def __init__(self, features: dict[str, torch.Tensor], rows: torch.Tensor):
        self.features = {name: tensor[rows] for name, tensor in features.items()}
        self.has_recipe = self.features["has_recipe"]

    def __len__(self) -> int:
        return len(self.has_recipe)

    def batch(self, rows: torch.Tensor, device: torch.device, training: bool) -> dict[str, torch.Tensor]:
        return {name: self.features[name][rows].to(device) for name in ("image", "title", "recipe")}


def train_augmentation(model: Retriever) -> transforms.Compose:
    """Random resized crops, flips and mild colour jitter: a dish stays the same dish."""
    c = model.config
    return transforms.Compose([
        transforms.RandomResizedCrop((c.image_size, c.image_width or c.image_size), scale=(0.6, 1.0),
                                     interpolation=transforms.InterpolationMode(c.image_interpolation)),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(0.2, 0.2, 0.2),
        transforms.ToTensor(),
        transforms.Normalize(c.image_mean, c.image_std),
    ])


class LiveFeatures:
    def __init__(self, model: Retriever, recipes: list[Recipe]):
        self.model, self.recipes = model, recipes
        self.has_recipe = torch.tensor([r.has_recipe for r in recipes], dtype=torch.bool)
        self.augment = train_augmentation(model)

    def __len__(self) -> int:
        return len(self.recipes)

    def batch(self, rows: torch.Tensor, device: torch.device, training: bool) -> dict[str, torch.Tensor]:
        picked = [self.recipes[i] for i in rows.tolist()]
        transform = self.augment if training else self.model.preprocess
        pixels = []
        for recipe in picked:
            with recipe.open_image() as image:
                pixels.append(transform(to_rgb(image)))
        model = self.model
        return {
            "image": model.image_features(torch.stack(pixels).to(device)),
            "title": model.title_inputs([r.title for r in picked]),
            "recipe": model.recipe_inputs([r.ingredients for r in picked], [r.instructions for r in picked]),
        }


def unfreeze_top(model: Retriever, top: int, towers: tuple[str, ...] = ("image", "text")) -> list[str]:
    """Freeze every backbone parameter, then unfreeze the last `top` blocks of the image
    backbone and the last `top` layers of each text backbone, for the towers named.
    Heads always train. Returns the names of the trainable backbone parameters."""
    encoders = {"image": [model.image_encoder], "text": list(model.text_encoders.values())}
    for encoder in encoders["image"] + encoders["text"]:
        encoder.requires_grad_(False)
    for tower in towers:
        for encoder in encoders[tower]:
            for block in encoder.blocks()[-top:] if top > 0 else []:
                block.requires_grad_(True)
    return [n for n, p in model.named_parameters() if p.requires_grad and "encoder" in n]
