"""What visitors may leave in Gradio's upload folder, and which upload a search may read.

Gradio's `/gradio_api/upload` takes up to 1,000 files of 25 MB a request, with no query
needed, and keeps them for the app's delete_cache age (an hour here). The UploadLimits
middleware bounds it:
    a request          at most MAX_FILES_PER_REQUEST files and MAX_REQUEST_BYTES bytes
                       (its Content-Length, which the server holds the body to);
    a visitor          MAX_VISITOR_BYTES in the folder: their oldest uploads go first;
    the folder         MAX_TOTAL_BYTES of uploads: the oldest go first;
    an unread upload   removed UNREAD_MAX_AGE_S after it came, unless a search read it
                       (a read one stays for the hour of ui/layout.UPLOAD_MAX_AGE_S).
Every upload is recorded with the visitor who sent it (the client address the server
sees), and a search reads an uploaded file only for that visitor: another visitor's path
gets the lost-upload reply, as a path Gradio never received does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import MAX_UPLOAD_BYTES

log = logging.getLogger("recipe_finder")

MAX_FILES_PER_REQUEST = 4  # the page sends one photo a request; gradio_client one file a call
MAX_REQUEST_BYTES = MAX_FILES_PER_REQUEST * MAX_UPLOAD_BYTES + 2**20  # + room for the form's headers
MAX_VISITOR_BYTES = 200 * 2**20  # eight of the largest photos
MAX_TOTAL_BYTES = 4 * 2**30  # of a Space's 50 GB disk
UNREAD_MAX_AGE_S = 300
SWEEP_S = 30
UPLOAD_ROUTE = "/gradio_api/upload"


@dataclass
class Upload:
    path: str
    size: int
    at: float
    owners: set[str] = field(default_factory=set)
    read: bool = False


class UploadRegistry:
    """The uploads Gradio's route created, oldest first, with who sent them."""

    def __init__(
        self,
        per_visitor: int = MAX_VISITOR_BYTES,
        total: int = MAX_TOTAL_BYTES,
        unread_age_s: float = UNREAD_MAX_AGE_S,
    ):
        self.per_visitor, self.total, self.unread_age_s = per_visitor, total, unread_age_s
        self.files: dict[str, Upload] = {}  # insertion order: oldest first
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None

    # --- what the middleware records -----------------------------------------------------
    def make_room(self, visitor: str, incoming: int) -> None:
        """Remove `visitor`'s oldest uploads until `incoming` more bytes fit their budget."""
        with self._lock:
            for upload in [u for u in self.files.values() if visitor in u.owners]:
                if self._used_by(visitor) + incoming <= self.per_visitor:
                    break
                self._disown(upload, visitor, "over the visitor's budget")

    def add(self, paths: list[str], visitor: str) -> None:
        now = time.time()
        with self._lock:
            for path in paths:
                path = os.path.realpath(path)
                upload = self.files.pop(path, None) or Upload(path, _size(path), now)
                upload.owners.add(visitor)
                upload.at = now
                self.files[path] = upload  # now the newest
            total = sum(u.size for u in self.files.values())
            for upload in list(self.files.values()):
                if total <= self.total:
                    break
                total -= upload.size
                self._delete(upload, "over the folder's budget")

    def discard(self, paths: list[str]) -> None:
        with self._lock:
            for path in paths:
                upload = self.files.get(os.path.realpath(path))
                if upload is not None:
                    self._delete(upload, "refused request")
                else:
                    _remove_file(os.path.realpath(path))

    def used_by(self, visitor: str) -> int:
        with self._lock:
            return self._used_by(visitor)

    # --- what a search asks --------------------------------------------------------------
    def may_read(self, path: str | Path, visitor: str) -> bool:
        """True, and the upload marked read, when `visitor` uploaded the file at `path`."""
        with self._lock:
            upload = self.files.get(os.path.realpath(path))
            if upload is None or visitor not in upload.owners:
                return False
            upload.read = True
            return True

    # --- removal -------------------------------------------------------------------------
    def sweep(self, now: float | None = None) -> None:
        """Drop unread uploads past their age, and entries whose file Gradio's own sweep removed."""
        now = time.time() if now is None else now
        with self._lock:
            for upload in list(self.files.values()):
                if not os.path.exists(upload.path):
                    del self.files[upload.path]
                elif not upload.read and now - upload.at > self.unread_age_s:
                    self._delete(upload, "never read")

    def start_sweeping(self, every_s: float = SWEEP_S) -> None:
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep_forever, args=(every_s,), daemon=True, name="uploads")
            self._sweeper.start()

    def _sweep_forever(self, every_s: float) -> None:
        while True:
            time.sleep(every_s)
            self.sweep()

    def _used_by(self, visitor: str) -> int:
        return sum(u.size for u in self.files.values() if visitor in u.owners)

    def _disown(self, upload: Upload, visitor: str, why: str) -> None:
        upload.owners.discard(visitor)
        if not upload.owners:
            self._delete(upload, why)

    def _delete(self, upload: Upload, why: str) -> None:
        self.files.pop(upload.path, None)
        _remove_file(upload.path)
        log.info("removed an upload, %s (%d bytes)", why, upload.size)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _remove_file(path: str) -> None:
    """The file, and the folder Gradio made for it (named by its content's hash) once empty."""
    try:
        os.remove(path)
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass  # gone already, or the folder holds another upload of the same bytes


UPLOADS = UploadRegistry()


def visitor_of(client_host: str | None, forwarded_for: str | None = None) -> str:
    """The visitor's key: the client address the server sees (Starlette's request.client),
    except on a Space, where every request arrives from the Hugging Face proxy's internal
    address and the visitor's is the first in its X-Forwarded-For header (a client can put
    another address there: it then shares that address's budget, and could read an upload
    of it only by also knowing the file's path, named by its content's hash). A network
    shared by several people (one address behind a NAT) shares one budget."""
    if forwarded_for and os.environ.get("SPACE_ID"):
        return forwarded_for.split(",")[0].strip() or "unknown"
    return str(client_host) if client_host else "unknown"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class UploadLimits:
    """ASGI middleware around Gradio's upload route: refuses a request over the limits
    above before Gradio reads it, records what it stored, removes what is past a budget."""

    def __init__(self, app, registry: UploadRegistry | None = None):
        self.app = app
        self.registry = registry or UPLOADS
        self.registry.start_sweeping()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith(UPLOAD_ROUTE):
            await self.app(scope, receive, send)
            return
        visitor = visitor_of((scope.get("client") or [None])[0], _header(scope, b"x-forwarded-for"))
        length = _content_length(scope)
        if length is None:
            await _plain(send, 411, "An upload must say its size (Content-Length).")
            return
        if length > MAX_REQUEST_BYTES:
            await _plain(send, 413, f"At most {MAX_REQUEST_BYTES // 2**20} MB can be uploaded at a time.")
            return
        self.registry.sweep()
        self.registry.make_room(visitor, length)
        start, body = None, []

        async def hold(message):  # the route's short JSON answer, held until it is checked
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            else:
                body.append(message.get("body", b""))

        await self.app(scope, receive, hold)
        answer = b"".join(body)
        if start is not None and start["status"] == 200:
            paths = _paths(answer)
            if len(paths) > MAX_FILES_PER_REQUEST:
                self.registry.discard(paths)
                log.info("refused upload: %d files in one request", len(paths))
                await _plain(send, 413, f"At most {MAX_FILES_PER_REQUEST} files can be uploaded at a time.")
                return
            self.registry.add(paths, visitor)
        await send(start or {"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": answer})


def _content_length(scope) -> int | None:
    length = _header(scope, b"content-length")
    return int(length) if length is not None and length.isdigit() else None


def _paths(answer: bytes) -> list[str]:
    try:
        paths = json.loads(answer)
    except ValueError:
        return []
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


async def _plain(send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
