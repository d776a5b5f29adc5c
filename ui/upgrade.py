"""Serve one model while a better one is made: the quick model of a first `make demo` until
the full default's index appears, then that one, without a restart (train/first_run.py
makes both).

The page's handlers call a SwappableSearch, which passes each call to the RecipeSearch that
serves now. A watcher thread looks for the better index every POLL_S seconds; once its
manifest is there (an index folder is swapped in whole: embeddings/building/swap.py) it loads the
index and its model, builds their RecipeSearch beside the running one and switches to it
in one assignment: a search already running finishes on the model it started with.

The page shows which model serves and how far the better one is, from the run's status
file ({"steps", "step", "state", "detail", "started", "log"}: train/first_run.py writes
it) and the last progress line of the log it names (a file beside it).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import threading
import time
from html import escape
from pathlib import Path
from typing import Callable

import gradio as gr

from .search import ENDPOINTS, RecipeSearch

log = logging.getLogger("recipe_finder")

POLL_S = 10  # how often the watcher looks for the better index, and the page for news
LOG_TAIL_BYTES = 4096


class SwappableSearch:
    """Looks like a RecipeSearch to the layout; `current` is the one answering. Each
    endpoint is a plain function (not a method) carrying RecipeSearch's own signature:
    Gradio reads the parameter names and defaults from it for the API page."""

    def __init__(self, search: RecipeSearch, label: str):
        self.current, self.label = search, label
        self.swapped_at: float | None = None
        for name in ENDPOINTS:
            setattr(self, name, self._delegate(name))

    def _delegate(self, name: str):
        def call(*args, **kwargs):
            return getattr(self.current, name)(*args, **kwargs)

        bound = getattr(self.current, name)
        call.__name__, call.__doc__, call.__signature__ = name, bound.__doc__, inspect.signature(bound)
        return call

    def __getattr__(self, name):  # index, thumbnails, has_recipe, recipes, ...: the current one's
        if callable(getattr(RecipeSearch, name, None)):
            # A method read here would stay bound to the search answering now, and keep
            # answering from the quick model after the swap: only endpoints are delegated.
            raise AttributeError(f"RecipeSearch.{name} is not marked @endpoint (ui/search.py), so it cannot be served")
        return getattr(self.__dict__["current"], name)

    def swap(self, search: RecipeSearch, label: str) -> None:
        search.photo_folders_extra.append(self.current.thumbnails.folder)  # examples and past answers point there
        gr.set_static_paths([search.thumbnails.folder])
        self.current, self.label, self.swapped_at = search, label, time.time()


class Upgrade:
    """Watches for the better index and reports progress. `load` (index folder) ->
    (RecipeSearch, label) builds the better one (app.py passes how)."""

    def __init__(
        self,
        serving: SwappableSearch,
        target: Path,
        load: Callable[[Path], tuple[RecipeSearch, str]],
        status_file: Path | None = None,
    ):
        self.serving, self.target, self.load = serving, Path(target), load
        self.status_file = Path(status_file) if status_file else None
        self.error: str | None = None
        self._stop = threading.Event()

    @property
    def done(self) -> bool:
        return self.serving.swapped_at is not None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._watch, name="upgrade-watcher", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def check_once(self) -> bool:
        """Swap if the better index is there; True once swapped."""
        if self.done or not (self.target / "manifest.json").is_file():
            return self.done
        try:
            search, label = self.load(self.target)
        except (Exception, SystemExit):  # keep serving the quick model; the page says so
            # The reason (paths, an exception's text) goes to the log only, not to the page.
            self.error = "the better model could not be loaded (the server's log says why)"
            log.exception("upgrade to %s failed", self.target)
            self._stop.set()
            return False
        self.serving.swap(search, label)
        log.info("now serving %s", label)
        return True

    def _watch(self) -> None:
        while not self._stop.is_set() and not self.check_once():
            self._stop.wait(POLL_S)

    # --- what the page shows ------------------------------------------------------------
    def status(self) -> dict:
        try:
            return json.loads(self.status_file.read_text()) if self.status_file else {}
        except (OSError, ValueError):
            return {}

    def last_progress(self) -> str:
        """The log's last non-empty line (a progress bar's latest state), trimmed."""
        name = self.status().get("log")
        if not name or not self.status_file:
            return ""
        try:
            with open(self.status_file.parent / Path(str(name)).name, "rb") as handle:
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - LOG_TAIL_BYTES))
                tail = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in tail.replace("\r", "\n").split("\n") if line.strip()]
        return lines[-1][:160] if lines else ""

    def banner(self) -> str:
        label = escape(self.serving.label)
        if self.done:
            return f'<div class="serving done">Serving the <b>{label}</b>.</div>'
        if self.error:
            return f'<div class="serving failed">Serving the <b>{label}</b>; {escape(self.error)}.</div>'
        status = self.status()
        if status.get("state") == "failed":  # its detail (a command's exit) stays in the log
            return (
                f'<div class="serving failed">Serving the <b>{label}</b>; the full model\'s run failed '
                "(its log on the server says why).</div>"
            )
        steps, step = status.get("steps") or [], status.get("step", 0)
        minutes = (time.time() - float(status.get("started", time.time()))) / 60
        where = f"step {step + 1} of {len(steps)}, {steps[step]}" if 0 <= step < len(steps) else "finishing"
        # The log's last line is never shown (it can hold an exception's text and server
        # paths): only the percentage it reached, a number read out of it.
        percent = re.findall(r"(\d{1,3})%", self.last_progress())
        progress = f"; {percent[-1]}% of its current stage" if percent and int(percent[-1]) <= 100 else ""
        return (
            f'<div class="serving">Serving the <b>{label}</b>. The full model is being made in the background '
            f"({escape(where)}{progress}; {minutes:.0f} min so far) and replaces it here by itself.</div>"
        )

    def tick(self):
        """For the page's timer: (banner, the timer itself: stopped once nothing more will change)."""
        finished = self.done or self.error is not None or self.status().get("state") == "failed"
        return self.banner(), gr.Timer(active=not finished)
