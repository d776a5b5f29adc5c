"""The small JPEG thumbnail an index keeps per row, so the app needs no original photos."""

from __future__ import annotations

import io

from PIL import Image

from model.preprocess import to_rgb
from pipeline.records import Recipe

# 192 px at quality 70 keeps the whole 10.7k-photo sample under 100 MB with its vectors
# (256 px at 75 alone would be ~96 MB of thumbnails); a gallery tile is about this size.
THUMB_MAX_SIDE = 192
THUMB_QUALITY = 70


def make_thumbnail(recipe: Recipe, max_side: int = THUMB_MAX_SIDE, quality: int = THUMB_QUALITY) -> bytes:
    with Image.open(io.BytesIO(recipe.photo_bytes())) as photo:
        photo.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
        image = to_rgb(photo)
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()
