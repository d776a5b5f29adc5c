"""The folders the app writes beside Gradio's: one thumbnails folder and one examples cache
per index, reused by every start with the same index, and removed once stale.

    <root>/thumbnails-<key>   the gallery's JPEGs, written on first use (ui/thumbnail_files.py)
    <root>/examples-<key>     Gradio's examples cache (GRADIO_EXAMPLES_CACHE): each example's answer

<root> is $RECIPE_APP_CACHE, else <temp>/recipe-finder. The thumbnails' key is the sha256
of the index's manifest (which holds the checksum of every index file) and of how they are
written; the examples' key adds the model's settings, the ui code and Gradio's version,
since an example's cached answer is what those produced. A running app holds a shared lock
on each folder it uses; at start-up any other folder under <root> whose lock nobody holds
belongs to an index (or code) no longer served, and is removed.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

log = logging.getLogger("recipe_finder")

ROOT_ENV = "RECIPE_APP_CACHE"
KINDS = ("thumbnails", "examples")
LOCK_FILE = ".in-use"
# A folder without a lock file is one being created right now (or a killed start's); it is
# left alone for this long.
UNLOCKED_GRACE_S = 600
_held: list = []  # the open lock files of this process's folders: a lock lasts as long as its file
atexit.register(lambda: [handle.close() for handle in _held])  # closed on purpose, not left to the collector


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or Path(tempfile.gettempdir()) / "recipe-finder")


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def thumbnails_key(index, thumbnail_format: str) -> str:
    return _digest(json.dumps(index.manifest, sort_keys=True, default=str), thumbnail_format)


def examples_key(index, model, thumbnail_format: str) -> str:
    ui_code = "".join(path.read_text() for path in sorted(Path(__file__).parent.glob("*.py")))
    fitted = json.dumps(model.fitted.to_dict(), sort_keys=True, default=str)
    return _digest(thumbnails_key(index, thumbnail_format), model.config.to_json(), fitted, ui_code, gr.__version__)


@dataclass(frozen=True)
class AppFolders:
    thumbnails: Path
    examples: Path


def app_folders(index, model, thumbnail_format: str, root: Path | None = None) -> AppFolders:
    """This index's folders (made if missing, locked for this process), stale ones removed."""
    root = Path(root or default_root())
    folders = AppFolders(
        root / f"thumbnails-{thumbnails_key(index, thumbnail_format)}",
        root / f"examples-{examples_key(index, model, thumbnail_format)}",
    )
    for folder in (folders.thumbnails, folders.examples):
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_FILE, "a")  # held open on purpose: the lock lasts while it is open
        fcntl.flock(handle, fcntl.LOCK_SH)
        _held.append(handle)
    remove_stale(root, keep={folders.thumbnails.name, folders.examples.name})
    return folders


def remove_stale(root: Path, keep: set[str]) -> list[str]:
    """Remove the folders under `root` no running app holds. Returns their names."""
    removed = []
    for folder in sorted(root.iterdir()):
        if folder.name in keep or not folder.is_dir() or not folder.name.startswith(tuple(f"{k}-" for k in KINDS)):
            continue
        lock = folder / LOCK_FILE
        if not lock.exists():
            if time.time() - folder.stat().st_mtime > UNLOCKED_GRACE_S:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
            continue
        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another app serves it
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    if removed:
        log.info("removed %d stale folder(s) under %s: %s", len(removed), root, ", ".join(removed))
    return removed
