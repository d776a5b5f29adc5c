"""Replace a whole directory so a reader sees the old one or the new one, never half.

The new directory is filled under a temporary name next to the target (same file system,
so rename is atomic), then swapped in. On Linux the swap is one renameat2(RENAME_EXCHANGE)
call; elsewhere it is two renames a few microseconds apart. A run killed while filling
leaves only a `.NAME.tmp-PID-*` folder, which the next run removes.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from model.atomic import umask

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(target: Path) -> None:
    """Delete temporary folders left by killed runs (their process is gone)."""
    for leftover in target.parent.glob(f".{target.name}.tmp-*"):
        pid = leftover.name.split(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def publish_permissions(directory: Path) -> None:
    """mkdtemp / mkstemp create 0700 / 0600 entries; an index is read by other users
    (a web server, a Space), so give it the modes a plain mkdir / open would (umask)."""
    mask = umask()
    directory.chmod(0o777 & ~mask)
    for path in directory.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def replace_dir(target: Path, fill: Callable[[Path], None]) -> None:
    """Call fill(tmp_dir), then put tmp_dir in target's place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-{os.getpid()}-"))
    try:
        fill(tmp)
        publish_permissions(tmp)
        if target.exists():
            if not _exchange(tmp, target):
                old = tmp.with_name(tmp.name + "-old")
                os.rename(target, old)
                os.rename(tmp, target)
                tmp = old
            shutil.rmtree(tmp)  # now the previous index
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
