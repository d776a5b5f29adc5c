"""Shared by the app tests: a tiny index, generated photos of every awkward kind, a
launched server on a free port."""

from __future__ import annotations

import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter


def make_index(model_dir: Path, work: Path):
    """A real index (embeddings.build_index) of a generated Kaggle-layout collection, with
    recipe text that holds markup the app must show as text. Returns (index, model)."""
    from embeddings import load_index
    from embeddings.building.build import build_index
    from embeddings.serving.hub import load_model
    from tiny import make_kaggle_folder

    collection = make_kaggle_folder(work / "collection", n=30, title_only=6)
    for seed, path in enumerate(sorted((collection / "Food Images" / "Food Images").glob("*.jpg"))[:-1]):
        dish_photo(path, seed)  # the last one stays truncated: the build skips it
    table = collection / "Food Ingredients and Recipe Dataset with Image Name Mapping.csv"
    rows = pd.read_csv(table, index_col=0, keep_default_na=False)
    rows.loc[0, "Title"] = "<b>spicy</b> **soup** [click](javascript:alert(1))"
    rows.loc[6, "Title"] = "spicy soup <img src=x onerror=alert(1)>"
    rows.loc[6, "Ingredients"] = repr(["1 cup <script>alert(1)</script> flour", "2 eggs"])
    rows.loc[6, "Instructions"] = "Mix **well**.\n# Bake 30 minutes."
    rows.to_csv(table)
    build_index(model_dir, collection, work / "index", progress=False)
    return load_index(work / "index"), load_model(model_dir)


def known_confidence(index):
    """A Confidence with flat mappings (60% first, 80% among the shown, 70% same kind) and
    dish kinds from the index's own titles, each said from one vote: what the page shows
    is then known."""
    from model.confidence import Confidence, DirectionConfidence, StepMap
    from train.dish_classes import fit_title_classes

    def flat(p: float) -> StepMap:
        return StepMap([-1.0], [p])

    direction = DirectionConfidence(0.0, flat(0.6), flat(0.7), {"1": flat(0.6), "8": flat(0.8)}, 10)
    return Confidence(
        kinds=fit_title_classes(index.column("title"), min_count=1),
        directions={d: direction for d in ("image_to_recipe", "title_to_recipe", "recipe_to_image")},
        looks_like={"closest": 10, "min_votes": 1},
        pool="test",
    )


def dish_photo(path: Path, seed: int, size=(274, 169)) -> Path:
    """A photo-like JPEG as large as the sample's: a plate with food on a background, each
    seed its own picture (make_kaggle_folder's flat colours look alike to a perceptual hash,
    and smooth noise changes under a slight crop as no photo does)."""
    rng = np.random.default_rng(seed)

    def colour(low: int, high: int) -> tuple:
        return tuple(int(c) for c in rng.integers(low, high, 3))

    image = Image.new("RGB", size, colour(150, 256))
    draw = ImageDraw.Draw(image)
    x, y = size[0] / 2 + rng.uniform(-30, 30), size[1] / 2 + rng.uniform(-15, 15)
    radius = rng.uniform(50, 75)
    draw.ellipse((x - 1.3 * radius, y - radius, x + 1.3 * radius, y + radius), fill=colour(180, 256))
    for _ in range(12):
        bx, by, side = x + rng.uniform(-radius, radius), y + rng.uniform(-0.7, 0.7) * radius, rng.uniform(6, 22)
        draw.ellipse((bx - side, by - side, bx + side, by + side), fill=colour(0, 200))
    image.filter(ImageFilter.GaussianBlur(1.5)).save(path, "JPEG", quality=90)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def photo(path: Path, mode: str = "RGB", size=(80, 60), fmt: str = "PNG", **save) -> Path:
    """A generated photo with a gradient, so crops and rotations change its content."""
    x = np.linspace(0, 255, size[0], dtype=np.float32)[None, :]
    y = np.linspace(0, 255, size[1], dtype=np.float32)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)  # 16-bit grey
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(path, fmt, **save)
    return path


def exif_rotated(path: Path) -> tuple[Path, Image.Image]:
    """A JPEG stored sideways with EXIF orientation 6 (as phones do), and how it should look."""
    upright = Image.open(photo(path.with_suffix(".png"), size=(90, 60))).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a phone writes to disk
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    stored.save(path, "JPEG", exif=exif, quality=95)
    return path, upright


def animated_gif(path: Path) -> Path:
    frames = [Image.new("P", (64, 48), colour) for colour in (10, 120, 240)]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def truncated_jpeg(path: Path) -> Path:
    photo(path, size=(200, 150), fmt="JPEG")
    path.write_bytes(path.read_bytes()[:600])
    return path


def decompression_bomb(path: Path, side: int = 100_000) -> Path:
    """A PNG whose header claims side x side grey pixels over a tiny compressed body: how
    a bomb looks to a server before it decodes anything (a real one inflates to GBs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    body = zlib.compress(b"\x00" * (side + 1) * 4)  # the first four rows, all zero
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def launch_app(index, model, work: Path, model_name: str = "tiny test model"):
    """The real app on 127.0.0.1 at a free port, not blocking, its thumbnails and examples
    cache under `work`; old uploads are swept every second. Returns (demo, url, search)."""
    import app
    from ui.layout import build_layout
    from ui.search import RecipeSearch

    search = RecipeSearch(index, model, work / "thumbnails")
    demo = build_layout(search, model_name, work / "examples", upload_sweep_s=1)
    app.launch(demo, host="127.0.0.1", port=free_port(), prevent_thread_lock=True, quiet=True)
    return demo, demo.local_url, search
