"""Per-row facts the index keeps besides vectors: a content hash (what decides whether a
row's vectors can be reused) and a small JPEG thumbnail (so the app needs no photos)."""
from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor

from PIL import Image
from tqdm import tqdm

from model.preprocess import to_rgb
from train.data import Recipe

# 192 px at quality 70 keeps the whole 10.7k-photo sample under 100 MB with its vectors
# (256 px at 75 alone would be ~96 MB of thumbnails); a gallery tile is about this size.
THUMB_MAX_SIDE = 192
THUMB_QUALITY = 70
THREADS = 4  # PIL decodes and hashlib hashes outside the GIL


def photo_bytes(recipe: Recipe) -> bytes:
    if recipe.image_bytes is not None:
        return recipe.image_bytes
    with open(recipe.image_path, "rb") as handle:
        return handle.read()


def content_hash(recipe: Recipe) -> str:
    """sha256 of everything the model reads from a row: text fields and the photo bytes."""
    digest = hashlib.sha256(json.dumps([recipe.id, recipe.title, recipe.ingredients, recipe.instructions]).encode())
    digest.update(hashlib.sha256(photo_bytes(recipe)).digest())
    return digest.hexdigest()


def make_thumbnail(recipe: Recipe, max_side: int = THUMB_MAX_SIDE, quality: int = THUMB_QUALITY) -> bytes:
    with Image.open(io.BytesIO(photo_bytes(recipe))) as photo:
        photo.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
        image = to_rgb(photo)
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def parallel_map(function, items: list, desc: str, progress: bool = True) -> list:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(tqdm(pool.map(function, items), total=len(items), desc=desc, disable=not progress, leave=False))
