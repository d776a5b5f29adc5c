"""Shared by the app tests: a tiny index, generated photos of every awkward kind, a
launched server on a free port."""
from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


# --- TEMPORARY: stands in for embeddings.load_index until embeddings/ lands ----------------
@dataclass
class FakeHit:
    row: int
    id: str
    score: float


class FakeIndex:
    def __init__(self, model, n: int = 24, seed: int = 0):
        rng = np.random.default_rng(seed)
        titles = [f"dish {i} chocolate cake" if i % 2 else f"dish {i} <b>spicy</b> soup" for i in range(n)]
        has_recipe = np.array([i >= 4 for i in range(n)])
        self.recipes = pd.DataFrame({
            "id": [f"id-{i}" for i in range(n)],
            "title": titles,
            "ingredients": [[f"{i} cup <script>alert(1)</script> flour", "2 eggs"] if r else [] for i, r in enumerate(has_recipe)],
            "instructions": [["Mix **well**.", "Bake 30 minutes."] if r else [] for r in has_recipe],
            "has_recipe": has_recipe,
        })
        dim = model.config.embed_dim
        vectors = rng.normal(size=(4, n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=-1, keepdims=True)
        self.vectors = dict(zip(("image", "title", "recipe", "fused"), vectors))
        self.count = n
        self.manifest = {"model": {"source": "tiny", "revision": None}, "dim": dim, "count": n}
        self.colours = rng.integers(0, 255, size=(n, 3))

    def search(self, query, field, k):
        scores = self.vectors[field] @ query
        order = np.argsort(-scores)[:k]
        return [FakeHit(int(r), self.recipes.id[r], float(scores[r])) for r in order]

    def thumbnail(self, row):
        return Image.new("RGB", (60, 40), tuple(int(c) for c in self.colours[row]))


def make_index(model_dir: Path, work: Path):
    from model import load_pretrained

    model = load_pretrained(model_dir)
    return FakeIndex(model), model
# --- end TEMPORARY ------------------------------------------------------------------------


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
