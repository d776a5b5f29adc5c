"""Photo preprocessing shared by training, index building and the app."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps
from torchvision import transforms

from .config import RetrieverConfig


def image_transform(config: RetrieverConfig) -> transforms.Compose:
    """PIL RGB image -> (3, S, S) float tensor, as the backbone was trained."""
    interpolation = transforms.InterpolationMode(config.image_interpolation)
    if config.image_width:
        resize = [transforms.Resize((config.image_size, config.image_width), interpolation=interpolation)]
    else:
        resize = [
            transforms.Resize(config.image_resize, interpolation=interpolation),
            transforms.CenterCrop(config.image_size),
        ]
    return transforms.Compose(
        [
            *resize,
            transforms.ToTensor(),
            transforms.Normalize(config.image_mean, config.image_std),
        ]
    )


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image -> upright 8-bit RGB: EXIF rotation applied (phone photos), first
    frame of an animation, transparency composited on white, CMYK/16-bit/palette/grey
    converted."""
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I"):
        image = sixteen_bit_to_grey(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def sixteen_bit_to_grey(image: Image.Image) -> Image.Image:
    """A 16-bit greyscale image (I;16, I;16B, I;16L, or I from a 16-bit PNG) -> 8-bit "L",
    its top 8 bits: scaled, not clipped to white. Through numpy, since PIL's point() and
    convert() do not take the big-endian I;16B a TIFF can hold. EXIF and the rest of
    `info` are kept."""
    values = np.asarray(image).astype(np.int64) >> 8
    grey = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")
    grey.info = dict(image.info)
    return grey


def recipe_parts(ingredients: list[str], instructions: list[str]) -> tuple[str, str]:
    """The two texts the recipe encoder reads: the ingredient list and the method."""
    return "; ".join(ingredients), " ".join(instructions)


def recipe_text(ingredients: list[str], instructions: list[str]) -> str:
    """A recipe as one text (ingredients, then the method), for the lexical features."""
    return "\n".join(recipe_parts(ingredients, instructions))
