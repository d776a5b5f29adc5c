"""The gallery's thumbnails as files: Gradio galleries serve files, so each row shown gets a
JPEG on disk (its index's own bytes), and a path sent back by a page is recognised as one
of them."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from model.atomic import atomic_write_bytes

# How ThumbnailFiles writes a row's file; part of the thumbnails folder's key (ui/storage.py).
THUMBNAIL_FORMAT = "index-jpeg"


class ThumbnailFiles:
    """Row -> a JPEG on disk, written on first use. Gradio galleries serve files. The file is
    the index's own thumbnail, byte for byte (192 px, JPEG q70: ~6 kB): nothing is decoded
    or re-encoded, and the browser fetches the smallest file that still fills a tile. The
    folder is served as Gradio static files (ui/layout.py), so answers need no copy of it."""

    def __init__(self, index, folder: str | Path | None = None):
        self.index = index
        self.folder = Path(folder or tempfile.mkdtemp(prefix="recipe-thumbnails-"))
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, row: int) -> str:
        path = self.folder / f"{row}.jpg"
        if not path.exists():
            # Written whole, then renamed: a concurrent request never serves half a file.
            atomic_write_bytes(path, self.index.thumbnail_bytes(row))
        return str(path)


def is_thumbnail(path: Path, folders: list[Path]) -> bool:
    """A thumbnail ThumbnailFiles wrote (`<row>.jpg` in a thumbnails folder): not its lock file."""
    path = Path(path)
    return re.fullmatch(r"\d+\.jpg", path.name) is not None and any(
        path.parent == Path(os.path.realpath(folder)) for folder in folders
    )
