"""Cached augmented views: augmentation and top-block fine-tuning at cached-feature speed.

Heads trained on one cached feature vector per photo see the same input every epoch and
overfit the sample's few thousand pairs within a few epochs. Here every photo is run
through the frozen part of the image backbone (the trunk) `views` times once: view 0 is
the plain evaluation crop, the others random resized crops, flips and colour jitter,
each drawn from a seed of (photo id, view) so the cache is reproducible. Training then
draws one view per photo per step, and with `top` > 0 runs the backbone's top blocks
(the tail) on the cached trunk activations, so those blocks fine-tune too, on a CPU.
"""
from __future__ import annotations

import hashlib

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from model import Retriever
from model.preprocess import to_rgb

from .data import Recipe
from .features import cache_keys, cached_tensors
from .sources import train_augmentation

VIEWS_FORMAT = 1  # bump when what a views cache entry holds changes


def view_seed(recipe_id: str, view: int) -> int:
    return int.from_bytes(hashlib.sha1(f"{recipe_id}/{view}".encode()).digest()[:4], "little")


class ViewDataset(Dataset):
    """Item i is view i % V of photo i // V, decoded and transformed in a loader worker."""

    def __init__(self, recipes: list[Recipe], model: Retriever, views: int):
        self.recipes, self.views = recipes, views
        self.plain, self.augment = model.preprocess, train_augmentation(model)

    def __len__(self) -> int:
        return len(self.recipes) * self.views

    def __getitem__(self, index: int) -> torch.Tensor:
        recipe, view = self.recipes[index // self.views], index % self.views
        with recipe.open_image() as image:
            image = to_rgb(image)
            if view == 0:
                return self.plain(image)
            torch.manual_seed(view_seed(recipe.id, view))  # this worker's draws for this view only
            return self.augment(image)


@torch.inference_mode()
def extract_views(model: Retriever, recipes: list[Recipe], views: int, top: int, batch_size: int = 64,
                  workers: int = 1, progress: bool = True) -> dict[str, torch.Tensor]:
    """{"pooled": (N, V, C) pooled backbone features of every view, and with top > 0
    "trunk": (N, V, c, h, w) float16 activations below the top `top` blocks}."""
    model.eval()
    encoder = model.image_encoder
    loader = DataLoader(ViewDataset(recipes, model, views), batch_size=batch_size, num_workers=workers)
    pooled, trunk = [], []
    for pixels in tqdm(loader, desc=f"photo features, {views} views", unit="batch", disable=not progress):
        below = encoder.forward_trunk(pixels.to(model.device), top)
        pooled.append(encoder.forward_tail(below, top).cpu())
        if top:
            trunk.append(below.cpu().to(torch.float16).contiguous())
    n = len(recipes)
    out = {"pooled": torch.cat(pooled).reshape(n, views, -1)}
    if top:
        activations = torch.cat(trunk)
        out["trunk"] = activations.reshape(n, views, *activations.shape[1:])
    return out


def view_features(model: Retriever, recipes: list[Recipe], views: int, top: int, cache_dir,
                  progress: bool = True) -> dict[str, torch.Tensor]:
    """extract_views over the collection in id order, cached on disk, returned row-aligned
    with `recipes` (like features.backbone_features)."""
    canonical = sorted(recipes, key=lambda r: r.id)
    key = cache_keys(model, canonical, extra={"views": views, "top": top, "format": VIEWS_FORMAT})["image"]
    compute = lambda: extract_views(model, canonical, views, top, progress=progress)  # noqa: E731
    tensors = compute() if cache_dir is None else cached_tensors(cache_dir / f"views-{key}.safetensors", compute)
    position = {r.id: i for i, r in enumerate(canonical)}
    rows = torch.tensor([position[r.id] for r in recipes], dtype=torch.long)
    return {name: tensor[rows] for name, tensor in tensors.items()}


class CachedViews:
    """A training source over cached views: one random view per photo per training step
    (view 0, the plain crop, for evaluation); with top > 0 the image tail runs on the
    cached trunk activations so its blocks train."""

    def __init__(self, model: Retriever, views: dict[str, torch.Tensor], text: dict[str, torch.Tensor],
                 has_recipe: torch.Tensor, rows: torch.Tensor, top: int):
        self.model, self.top = model, top
        self.images = views["trunk" if top else "pooled"][rows]
        self.text = {name: text[name][rows] for name in ("title", "recipe")}
        self.has_recipe = has_recipe[rows]

    def __len__(self) -> int:
        return len(self.has_recipe)

    def batch(self, rows: torch.Tensor, device: torch.device, training: bool) -> dict[str, torch.Tensor]:
        # The loop seeds torch per epoch, so a resumed run draws the same views.
        view = torch.randint(self.images.shape[1], (len(rows),)) if training else torch.zeros(len(rows), dtype=torch.long)
        image = self.images[rows, view].to(device, torch.float32)
        if self.top:
            image = self.model.image_encoder.forward_tail(image, self.top)
        return {"image": image, **{name: t[rows].to(device) for name, t in self.text.items()}}
