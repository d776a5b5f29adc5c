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
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from model import Retriever
from model.preprocess import to_rgb

from .data import Recipe, fingerprint
from .features import cache_keys, cached_tensors
from .sources import train_augmentation

# Bump when what a views cache entry holds changes. 2: entries made by a model whose tail was
# fine-tuned hold no "pooled" (those were the tuned tail's features under a key that names
# only the pretrained backbone, and heads-only training could read them).
VIEWS_FORMAT = 2


def view_seed(recipe_id: str, view: int) -> int:
    return int.from_bytes(hashlib.sha1(f"{recipe_id}/{view}".encode()).digest()[:4], "little")


class ViewDataset(Dataset):
    """Item i is view views[i] of photo recipes[i], decoded and transformed in a loader worker."""

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


@torch.inference_mode()
def pretrained_tail(model: Retriever) -> bool:
    """Whether the image backbone is still the pretrained one above the trunk too. A model
    that `python -m train` fine-tuned records finetune_top > 0; a fresh one records nothing."""
    return not int(model.config.extra.get("finetune_top", 0))


@torch.inference_mode()
def extract_views(model: Retriever, items: list[tuple[Recipe, int]], top: int, batch_size: int = 64,
                  workers: int = 1, progress: bool = True) -> dict[str, torch.Tensor]:
    """With top > 0 "trunk": (n, c, h, w) float16 activations below the top `top` blocks of
    each (photo, view) item; "pooled": (n, C) pooled backbone features, only while the
    backbone is the pretrained one: the cache key names the pretrained backbone, so a tuned
    tail's output must never be stored under it."""
    model.eval()
    encoder = model.image_encoder
    keep_pooled = pretrained_tail(model)
    if not top and not keep_pooled:
        raise ValueError("a fine-tuned image backbone has no cached pooled features; use its trunk (top > 0)")
    loader = DataLoader(ViewDataset(items, model), batch_size=batch_size, num_workers=workers)
    pooled, trunk = [], []
    for pixels in tqdm(loader, desc="photo views", unit="batch", disable=not progress):
        below = encoder.forward_trunk(pixels.to(model.device), top)
        if keep_pooled:
            pooled.append(encoder.forward_tail(below, top).cpu())
        if top:
            trunk.append(below.cpu().to(torch.float16).contiguous())
    out = {"pooled": torch.cat(pooled)} if keep_pooled else {}
    if top:
        out["trunk"] = torch.cat(trunk)
    return out


def _views_key(model: Retriever, recipes: list[Recipe], views: int, top: int, augmented: set[str] | None,
               data: str | None = None):
    canonical = sorted(recipes, key=lambda r: r.id)
    augmented = {r.id for r in canonical} if augmented is None else set(augmented)
    chosen = [r for r in canonical if r.id in augmented] if views > 1 else []
    spec = {"views": views, "top": top, "format": VIEWS_FORMAT,
            "augmented": hashlib.sha256("\n".join(r.id for r in chosen).encode()).hexdigest()}
    return canonical, chosen, cache_keys(model, canonical, extra=spec, data=data)["image"]


def view_features(model: Retriever, recipes: list[Recipe], views: int, top: int, cache_dir,
                  augmented: set[str] | None = None, progress: bool = True) -> dict[str, torch.Tensor]:
    """Cached views of every photo, row-aligned with `recipes`:
    "pooled" (N, C), and with top > 0 "trunk" (N, c, h, w): view 0, the plain crop, of every row;
    "aug_pooled" (N, V-1, C) / "aug_trunk": views 1..V-1 of the rows whose id is in
    `augmented` (the training rows: evaluation never reads augmented views), zeros elsewhere."""
    canonical, chosen, key = _views_key(model, recipes, views, top, augmented)
    items = [(r, 0) for r in canonical] + [(r, v) for r in chosen for v in range(1, views)]

    def compute() -> dict[str, torch.Tensor]:
        flat = extract_views(model, items, top, progress=progress)
        n = len(canonical)
        out = {name: t[:n] for name, t in flat.items()}
        if chosen:
            out.update({f"aug_{name}": t[n:].reshape(len(chosen), views - 1, *t.shape[1:]) for name, t in flat.items()})
        return out

    reuse = reusable_views_path(model, recipes, views, cache_dir, augmented) if top == 0 else None
    if reuse is not None:
        tensors = _pooled_from(reuse, views)
    else:
        tensors = compute() if cache_dir is None else cached_tensors(views_path(cache_dir, key), compute)
    position = {r.id: i for i, r in enumerate(canonical)}
    rows = torch.tensor([position[r.id] for r in recipes], dtype=torch.long)
    out = {name: tensor[rows] for name, tensor in tensors.items() if not name.startswith("aug_")}
    aug_position = {r.id: i for i, r in enumerate(chosen)}
    have = [(i, aug_position[r.id]) for i, r in enumerate(recipes) if r.id in aug_position]
    for name in [n for n in tensors if n.startswith("aug_")]:
        full = torch.zeros(len(recipes), *tensors[name].shape[1:], dtype=tensors[name].dtype)
        full[[i for i, _ in have]] = tensors[name][[j for _, j in have]]
        out[name] = full
    return out


def reusable_views_path(model: Retriever, recipes: list[Recipe], views: int, cache_dir,
                        augmented: set[str] | None, most_views: int = 8, deepest: int = 6) -> Path | None:
    """Heads-only training reads only pooled features, which every entry made with the
    pretrained backbone holds: one made for more views of the same rows, or for a deeper
    trunk, serves it without extracting."""
    if cache_dir is None:
        return None
    data = fingerprint(sorted(recipes, key=lambda r: r.id))  # once, not once per candidate entry
    for more in range(views, most_views + 1):
        for deeper in range(0, deepest + 1):
            path = views_path(cache_dir, _views_key(model, recipes, more, deeper, augmented, data)[2])
            if path.is_file() and _holds_pooled(path):
                return path
    return None


def _holds_pooled(path: Path) -> bool:
    """Entries made for evaluating a fine-tuned model hold only the trunk."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as entry:
        return "pooled" in entry.keys()


def _pooled_from(path: Path, views: int) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as entry:  # reads only the pooled tensors
        tensors = {"pooled": entry.get_tensor("pooled")}
        if views > 1:
            tensors["aug_pooled"] = entry.get_tensor("aug_pooled")[:, : views - 1]
    return tensors


def views_path(cache_dir, key: str) -> Path:
    return Path(cache_dir) / f"views-{key}.safetensors"


def trained_views_entry(model: Retriever, recipes: list[Recipe], cache_dir) -> tuple[int, set[str]] | None:
    """(views, training ids) of the entry `python -m train` wrote for this model and collection,
    if the cache holds it; None otherwise (then view 0 alone is cheaper to extract)."""
    views = int(model.config.extra.get("views", 1))
    from .data import split_of  # the split training used: a hash of the photo name

    augmented = {r.id for r in recipes if split_of(r.id) == "train"}
    _, _, key = _views_key(model, recipes, views, int(model.config.extra.get("finetune_top", 0)), augmented)
    return (views, augmented) if cache_dir is not None and views_path(cache_dir, key).is_file() else None


def cached_evaluation_source(model: Retriever, recipes: list[Recipe], cache_dir, progress: bool = True):
    """A source of plain-crop features for a model trained on cached features (frozen
    backbones, or a photo tail fine-tuned on cached trunk activations): its frozen parts
    are the pretrained ones, so the cache serves them. None for models trained --live."""
    from .features import backbone_features
    from .sources import CachedFeatures

    extra = model.config.extra
    if extra.get("frozen_backbones"):
        return CachedFeatures(backbone_features(model, recipes, cache_dir, progress=progress), torch.arange(len(recipes)))
    top = int(extra.get("finetune_top", 0))
    if not top or extra.get("live", True):
        return None
    text = backbone_features(model, recipes, cache_dir, progress=progress, parts=("text",))
    entry = trained_views_entry(model, recipes, cache_dir)
    views, augmented = entry if entry else (1, None)
    trunk = view_features(model, recipes, views, top, cache_dir, augmented=augmented, progress=progress)
    return CachedViews(model, trunk, text, text["has_recipe"], torch.arange(len(recipes)), top, augmented=False)


class CachedViews:
    """A training source over cached views: one random view per photo per training step
    (view 0, the plain crop, for evaluation); with top > 0 the image tail runs on the
    cached trunk activations so its blocks train."""

    def __init__(self, model: Retriever, views: dict[str, torch.Tensor], text: dict[str, torch.Tensor],
                 has_recipe: torch.Tensor, rows: torch.Tensor, top: int, augmented: bool):
        self.model, self.top = model, top
        name = "trunk" if top else "pooled"
        plain = views[name][rows].unsqueeze(1)  # (n, 1, ...): view 0
        # (n, V, ...): every view of the rows, view 0 first; evaluation sources keep view 0 only.
        extra = views.get(f"aug_{name}")
        self.images = torch.cat([plain, extra[rows]], 1) if augmented and extra is not None else plain
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
