"""Photo preprocessing shared by training, index building and the app."""

from __future__ import annotations

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
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bit rather than clipping everything to white.
        image = image.point(lambda v: v / 256).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def recipe_parts(ingredients: list[str], instructions: list[str]) -> tuple[str, str]:
    """The two texts the recipe encoder reads: the ingredient list and the method."""
    return "; ".join(ingredients), " ".join(instructions)


def recipe_text(ingredients: list[str], instructions: list[str]) -> str:
    """A recipe as one text (ingredients, then the method), for the lexical features."""
    return "\n".join(recipe_parts(ingredients, instructions))
