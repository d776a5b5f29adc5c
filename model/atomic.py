"""Files written whole or not at all: the one atomic-write helper every package uses.

A writer fills a temporary file in the target's folder (same file system, so the rename
is atomic), then it replaces the target: a reader never sees a half-written file, and a
killed run leaves the previous file intact. Temporary files get the modes a plain open()
would (the umask), because mkstemp and safetensors make 0600 files and a Space or web
server may read them as another user.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """write(tmp_path) fills a temporary file beside `path`, which then replaces `path`.
    The temporary name keeps the target's suffix, so writers that infer a format from it
    (matplotlib, PIL) still do."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: str | Path, value) -> Path:
    return atomic_write_bytes(path, (json.dumps(value, indent=2) + "\n").encode())
