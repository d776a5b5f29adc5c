"""A photo file -> a decoded PIL image whose memory cost was bounded from its header, before
a single pixel is decoded; or a refusal saying why.

What a photo costs is set by three sizes, all known from the header:
    header     width x height as stored: refused above MAX_PIXELS or below MIN_SIDE;
    decoded    what the decoder allocates: a JPEG at 1/2, 1/4 or 1/8 scale (draft mode),
               every other format (PNG, TIFF, WebP, GIF) at full size, so refused above
               MAX_DECODED_BYTES (PIL keeps RGB as 4 bytes a pixel);
    resized    what the pipeline's resize makes (its shorter side to `resize_to`): a
               150000x16 strip becomes 2,400,000x256, so refused above MAX_RESIZED_PIXELS.
A decoded image much larger than the model reads is then shrunk at once (Image.reduce, a
box filter, as the JPEG draft does), so the conversions that follow (model.preprocess.to_rgb,
the resize) work on a small copy. Two searches decode at once (ui/layout.MODEL_CONCURRENCY):
at most about 2 x 64 MB, measured by benchmarks/bench_photo_memory.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from model.preprocess import sixteen_bit_to_grey


class PhotoRefused(ValueError):
    """A photo this app will not decode; `str()` is the visitor's message."""


# A 48-megapixel phone photo is 8000x6000 (a JPEG, decoded at 1/8 scale: 1000x750).
MAX_PIXELS = 50_000_000
# 64 MB: a 16-megapixel PNG in RGB(A), a 64-megapixel one in grey.
MAX_DECODED_BYTES = 64 * 2**20
# The pipeline's resize of a 30:1 panorama at 256 px; what the backbone reads is 224x224.
MAX_RESIZED_PIXELS = 2_000_000
# Below this the backbone sees a flat colour; refusing is more honest than a random answer.
MIN_SIDE = 16
DEFAULT_RESIZE = 256  # model.config.RetrieverConfig.image_resize
JPEG_DRAFT = (512, 512)  # decode big JPEGs at the smallest 1/2^n scale still this large
# Bytes a pixel takes in PIL's memory, by mode (every mode not named here takes 4), plus
# for the modes Image.reduce cannot take the copy shrunk() converts them to first.
_BYTES = {"L": 1, "1": 2, "P": 5, "PA": 8, "I;16": 3, "I;16B": 3, "I;16L": 3, "I;16N": 3}

TOO_BIG = "That image is too large to process (over {mp} megapixels). Please send a smaller photo."
TOO_THIN = (
    "That image is {w}\u00d7{h} pixels: too long and thin to search (at most {ratio}:1). "
    "Please crop it closer to the dish."
)
TOO_SMALL = "That image is only {w}\u00d7{h} pixels; a photo needs at least {side}\u00d7{side} pixels to be recognised."
NOT_AN_IMAGE = "That file is not an image this app can read. Please send a JPEG, PNG, WebP or GIF photo."
DAMAGED = "The photo seems damaged or incomplete and cannot be read. Please try another file."
UNSUPPORTED = (
    "That image is stored in a variant this app cannot read ({what}). "
    "Please save it as a JPEG or PNG and send it again."
)
# Words in PIL's errors for a format it recognised but cannot decode (a TIFF compression,
# a bit depth): the file is not damaged, and saying so would send the visitor looking for a fault.
_UNSUPPORTED_WORDS = ("not supported", "unsupported", "unknown raw mode", "not available", "cannot handle")


def resized_size(size: tuple[int, int], resize_to: int) -> tuple[int, int]:
    """The pipeline's resize (torchvision Resize(int)): the shorter side to `resize_to`."""
    width, height = size
    if width <= height:
        return resize_to, max(1, int(resize_to * height / width))
    return max(1, int(resize_to * width / height)), resize_to


def check_header(size: tuple[int, int], resize_to: int = DEFAULT_RESIZE) -> None:
    """Refuse from the header's size alone: too many pixels, too small, or too thin."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise PhotoRefused(TOO_BIG.format(mp=MAX_PIXELS // 1_000_000))
    if min(width, height) < MIN_SIDE:
        raise PhotoRefused(TOO_SMALL.format(w=width, h=height, side=MIN_SIDE))
    resized = resized_size(size, resize_to)
    if resized[0] * resized[1] > MAX_RESIZED_PIXELS:
        ratio = MAX_RESIZED_PIXELS // resize_to**2
        raise PhotoRefused(TOO_THIN.format(w=width, h=height, ratio=ratio))


def decoded_bytes(image: Image.Image) -> int:
    """What load() will allocate for `image` at its current (possibly draft) size."""
    return image.size[0] * image.size[1] * _BYTES.get(image.mode, 4)


def decode_photo(path: str | Path, resize_to: int = DEFAULT_RESIZE) -> Image.Image:
    """A photo file -> a decoded PIL image at least 2 x `resize_to` on its shorter side
    (smaller only if the file is), its EXIF kept for model.preprocess.to_rgb to apply.
    Raises PhotoRefused. Used by the app (after ui.inputs checks where the file is) and by
    the benchmarks that time a photo query as the app answers it."""
    try:
        with warnings.catch_warnings():
            # PIL only *warns* between MAX_IMAGE_PIXELS and twice that; make it an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)  # reads the header only
            check_header(image.size, resize_to)
            if image.format == "JPEG":
                image.draft(None, JPEG_DRAFT)  # sets the decoder's scale and the size it will have
            if decoded_bytes(image) > MAX_DECODED_BYTES:
                raise PhotoRefused(TOO_BIG.format(mp=MAX_PIXELS // 1_000_000))
            image.load()
            return shrunk(image, resize_to)
    except PhotoRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused(TOO_BIG.format(mp=MAX_PIXELS // 1_000_000)) from None
    except UnidentifiedImageError:
        raise PhotoRefused(NOT_AN_IMAGE) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # PIL's own text is left out of a damaged file's reply: it can name the file.
        raise PhotoRefused(unreadable_message(error, image_format(path))) from None


def unreadable_message(error: Exception, fmt: str | None) -> str:
    """A decoder's error -> UNSUPPORTED (a variant PIL knows but cannot decode) or DAMAGED."""
    if any(words in str(error).lower() for words in _UNSUPPORTED_WORDS):
        return UNSUPPORTED.format(what=fmt or "this format")
    return DAMAGED


def image_format(path) -> str | None:
    try:
        with Image.open(path) as image:
            return f"{image.format} {image.mode}"
    except Exception:  # only for the wording of a refusal already decided
        return None


def shrunk(image: Image.Image, resize_to: int) -> Image.Image:
    """`image` reduced by a whole factor to no less than 2 x `resize_to` on its shorter side,
    in a mode Image.reduce takes (a palette's indices cannot be averaged; 16-bit grey is
    made 8-bit as to_rgb would). `info` (EXIF orientation, transparency) is kept."""
    if image.mode in ("1", "P", "PA") or image.mode.startswith("I;16"):
        factor = min(image.size) // (2 * resize_to)
        if factor < 2:
            return image
        image = sixteen_bit_to_grey(image) if image.mode.startswith("I;16") else _converted(image)
    factor = min(image.size) // (2 * resize_to)
    return image.reduce(factor) if factor >= 2 else image


def _converted(image: Image.Image) -> Image.Image:
    converted = image.convert("L" if image.mode == "1" else "RGBA")
    converted.info = dict(image.info)
    return converted
