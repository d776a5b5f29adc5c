"""Turning what a visitor sends into something the model can read, or a clear refusal.

Every refusal is a `gr.Error` with a sentence a person can act on: the UI shows it as a
toast, gradio_client raises it with the same text, and the server goes on serving.
Fixable inputs (a long text, a top-k out of range) are fixed and the fix is reported
as a note, which the handlers show in the status line and as a `gr.Warning`.

A photo sent to the API as {"path": ...} reaches the handler as it is (Gradio checks only
paths that carry its upload marker), so only files inside the folders Gradio writes what
it received to are opened; any other path is answered exactly as a lost upload is.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import gradio as gr
from gradio.utils import get_cache_folder, get_upload_folder
from PIL import Image

from .decoding import DAMAGED, DEFAULT_RESIZE, PhotoRefused, check_header, decode_photo

DAMAGED_PHOTO = DAMAGED

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # also passed to launch(max_file_size=...)

TOP_K_MIN, TOP_K_MAX, TOP_K_DEFAULT = 1, 30, 8

# The encoders read at most a few hundred tokens; beyond these lengths the text is not
# read anyway and only costs tokenizer time.
MAX_TITLE_CHARS = 300
MAX_RECIPE_CHARS = 10_000

NO_PHOTO = "Add a photo first: upload one, paste one, or take one with the webcam."
# Also the answer for any path Gradio did not receive: it must not tell whether a file is there.
LOST_PHOTO = "The photo did not arrive; please upload it again."

_BULLET = re.compile(r"^\s*(?:[-*\u2022\u25cf\u00b7]|\d+[.)]|step\s*\d+[:.)]?)\s*", re.IGNORECASE)


def gradio_folders() -> list[Path]:
    """Where Gradio writes what it received: its upload folder (GRADIO_TEMP_DIR, else
    <temp>/gradio), which also holds its copies of the examples and of every file it
    serves, and its examples cache (GRADIO_EXAMPLES_CACHE). Read at each call, as Gradio
    reads them."""
    return [Path(get_upload_folder()), Path(get_cache_folder())]


# A path longer than this is no upload's (Gradio's are about 120 characters).
MAX_PATH_CHARS = 1024


def _as_path(value) -> Path | None:
    """The forms a photo arrives in: a path (handler called directly or preprocess=True),
    or the FileData dict Gradio passes when the listener runs with preprocess=False.
    None: no photo. Anything else is refused as the wrong kind of value; a path no upload
    can have (a NUL byte, thousands of characters) gets the lost-upload reply."""
    if isinstance(value, dict):
        value = value.get("path")
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise gr.Error(f"The photo must be an uploaded file (a path or Gradio's file object), not {kind_of(value)}.")
    text = os.fspath(value)
    if not isinstance(text, str) or "\x00" in text or len(text) > MAX_PATH_CHARS:
        raise gr.Error(LOST_PHOTO)
    return Path(text)


def kind_of(value) -> str:
    """A visitor's value named in a refusal by its kind, never echoed: "a number", "a list"."""
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}
    return next((name for kind, name in kinds.items() if type(value) is kind), "that kind of value")


def received_file(path: Path, folders: list[Path]) -> Path:
    """The file itself, when it lies inside one of `folders` (Gradio's, or a test's);
    otherwise the lost-upload refusal, before anything about the path is looked up.
    Checked twice: by name (no file-system access, '..' folded away), then with every
    symbolic link followed, so a link inside a folder cannot lead out of it."""
    named = Path(os.path.abspath(path))
    roots = [Path(os.path.abspath(folder)) for folder in folders]
    real_roots = [Path(os.path.realpath(folder)) for folder in folders]
    if not any(named.is_relative_to(root) for root in roots + real_roots):
        raise gr.Error(LOST_PHOTO)
    try:
        real = Path(os.path.realpath(named))
        if not any(real.is_relative_to(root) for root in real_roots) or not real.is_file():
            raise gr.Error(LOST_PHOTO)
    except OSError:  # a name too long for the file system: no upload's
        raise gr.Error(LOST_PHOTO) from None
    return real


def read_photo(value, folders: list[Path] | None = None, resize_to: int = DEFAULT_RESIZE, accept=None) -> Image.Image:
    """A photo (PIL image, path, or Gradio FileData dict) -> a decoded PIL image, its cost
    bounded from the header (ui/decoding.py). A path is opened only inside `folders`
    (default: gradio_folders()) and, given `accept` (path -> bool: ui/search asks the
    upload records), only a file it accepts; anything else is answered as a lost upload.

    Mode, EXIF rotation and animation are left to model.preprocess.to_rgb, which the
    retriever applies to every photo it encodes."""
    try:
        if isinstance(value, Image.Image):
            check_header(value.size, resize_to)
            return value
        path = _as_path(value)
        if path is None:
            raise gr.Error(NO_PHOTO)
        path = received_file(path, gradio_folders() if folders is None else folders)
        if accept is not None and not accept(path):
            raise gr.Error(LOST_PHOTO)
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise gr.Error(f"That file is larger than {MAX_UPLOAD_BYTES // 2**20} MB; please send a smaller photo.")
        return decode_photo(path, resize_to)
    except PhotoRefused as refused:
        raise gr.Error(str(refused)) from None


def shown(text: str, limit: int = 80) -> str:
    """A visitor's text as a reply quotes it: at most `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def text_arg(value, what: str) -> str:
    """A text argument (None: empty); any other kind of value refused, naming the argument."""
    if value is None or isinstance(value, str):
        return value or ""
    raise gr.Error(f"The {what} must be text, not {kind_of(value)}.")


def normalise_text(text) -> str:
    """What a visitor typed or pasted -> text the tokenizer can read: lone UTF-16
    surrogates (which a JSON client can send as "\\ud800" and the tokenizer rejects) become
    U+FFFD, accents are composed (NFC), a tab becomes a space and the other whitespace
    control characters (\\r, \\v, \\f, \\x1c-\\x1f, \\x85: line breaks to str.splitlines) "\\n",
    and every other control or format character (NUL, escape, zero-width and direction
    marks, byte-order marks) is dropped."""
    text = "" if text is None else str(text)
    # A surrogate pair left split is joined; a lone surrogate is replaced.
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    if text.isprintable():
        return text  # no control or format character: most titles
    kept = []
    for char in text:
        if unicodedata.category(char) not in ("Cc", "Cf"):
            kept.append(char)
        elif char.isspace():
            kept.append(" " if char == "\t" else "\n")
    return "".join(kept)


def clean_text(text: str | None, limit: int, what: str) -> tuple[str, list[str]]:
    """Normalise, strip, cut to `limit` characters. Returns (text, notes). Not text (a
    number, a list from a raw API call): refused, naming `what`."""
    text = normalise_text(text_arg(text, what)).strip()
    notes = []
    if len(text) > limit:
        notes.append(f"The {what} was {len(text):,} characters long; only the first {limit:,} were read.")
        text = text[:limit]
    return text, notes


def require_text(text: str, message: str) -> str:
    """Refuse text with nothing to read: empty, or only the U+FFFD left of broken characters."""
    if not text.replace("\ufffd", "").strip():
        raise gr.Error(message)
    return text


def split_lines(text: str) -> list[str]:
    """A pasted list -> its items: one per line, bullets and step numbers removed."""
    items = (_BULLET.sub("", line).strip() for line in text.splitlines())
    return [item for item in items if item]


def clamp_top_k(top_k) -> tuple[int, list[str]]:
    """Any number (or None, or a string from an API call) -> an int in range, plus a note."""
    try:
        value = int(round(float(top_k)))
    except (TypeError, ValueError, OverflowError):
        return TOP_K_DEFAULT, [f"The number of results was not a number; showing {TOP_K_DEFAULT}."]
    clamped = min(max(value, TOP_K_MIN), TOP_K_MAX)
    if clamped != value:
        return clamped, [f"The number of results must be between {TOP_K_MIN} and {TOP_K_MAX}; showing {clamped}."]
    return clamped, []


def clamp_weight(weight, default: float) -> tuple[float, list[str]]:
    """The "but" slider's weight (or None, or a string from an API call) -> a float in [0, 1], plus a note."""
    if weight is None or weight == "":
        return default, []
    try:
        value = float(weight)
    except (TypeError, ValueError, OverflowError):
        return default, [f"The weight of the \u201cbut\u201d words was not a number; used {default}."]
    if value != value:  # NaN
        return default, [f"The weight of the \u201cbut\u201d words was not a number; used {default}."]
    clamped = min(max(value, 0.0), 1.0)
    if clamped != value:
        return clamped, [f"The weight of the \u201cbut\u201d words must be between 0 and 1; used {clamped:g}."]
    return clamped, []


def well_formed(value):
    """A result's "why" or "answer" as the app makes them (dicts of short texts, numbers and
    lists of them), or None: what comes back from the page is shown only in that shape, and
    no text in it longer than a sentence."""
    if isinstance(value, dict):
        kept = {key: well_formed(item) for key, item in list(value.items())[:12] if isinstance(key, str)}
        return {key: item for key, item in kept.items() if item is not None}
    if isinstance(value, list):
        return [item for item in (well_formed(item) for item in value[:50]) if item is not None]
    if isinstance(value, str):
        return value if len(value) <= 300 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) or value is None:
        return value
    return None
