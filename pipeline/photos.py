"""Stage 2 of the pipeline, decode and augment photos: a row's photo -> the backbone's
input tensor, either the plain evaluation crop (the model's own preprocessing) or an
augmented view drawn reproducibly from a seed of (photo id, view number)."""

from __future__ import annotations

import hashlib

import torch
from torch.utils.data import Dataset
from torchvision import transforms

from model import Retriever
from model.preprocess import to_rgb

from .records import Recipe


def train_augmentation(model: Retriever) -> transforms.Compose:
    """Random resized crops, flips and mild colour jitter: a dish stays the same dish."""
    c = model.config
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(
                (c.image_size, c.image_width or c.image_size),
                scale=(0.6, 1.0),
                interpolation=transforms.InterpolationMode(c.image_interpolation),
            ),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(0.2, 0.2, 0.2),
            transforms.ToTensor(),
            transforms.Normalize(c.image_mean, c.image_std),
        ]
    )


def view_seed(recipe_id: str, view: int) -> int:
    return int.from_bytes(hashlib.sha1(f"{recipe_id}/{view}".encode()).digest()[:4], "little")


def plain_pixels(model: Retriever, recipe: Recipe) -> torch.Tensor:
    """The evaluation crop of a row's photo, as the model preprocesses every photo."""
    with recipe.open_image() as image:
        return model.preprocess(to_rgb(image))


class ViewDataset(Dataset):
    """Item i is view views[i] of photo recipes[i] (view 0: the plain crop), decoded and
    transformed in a DataLoader worker while the backbone runs on the previous batch."""

    def __init__(self, items: list[tuple[Recipe, int]], model: Retriever):
        self.items = items
        self.plain, self.augment = model.preprocess, train_augmentation(model)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> torch.Tensor:
        recipe, view = self.items[index]
        with recipe.open_image() as image:
            image = to_rgb(image)
            if view == 0:
                return self.plain(image)
            torch.manual_seed(view_seed(recipe.id, view))  # this worker's draws for this view only
            return self.augment(image)
