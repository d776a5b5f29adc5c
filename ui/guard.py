"""What every handler the server calls goes through: refusals logged as one line, faults
logged once with their traceback and answered with our own message.

Gradio prints a traceback for every gr.Error (a refused input is not a fault, and a real
fault drowned among them), and with show_error=False it answers any other exception with
a generic "enable show_error" text, or nothing at all.
"""

from __future__ import annotations

import functools
import logging

import gradio as gr

log = logging.getLogger("recipe_finder")

FAULT_MESSAGE = (
    "Something went wrong on our side while answering; nothing was wrong with what you sent. "
    "Please try again in a moment."
)


def guarded(handler, name: str):
    """`handler` with its refusals and faults handled as above; same signature, so Gradio
    reads the same inputs (and event data) from it."""

    @functools.wraps(handler)
    def run(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error as refusal:
            refusal.print_exception = False  # expected: the line below, not Gradio's traceback
            log.info("refused %s: %s", name, " ".join(str(refusal.message).split()))
            raise
        except Exception:
            log.exception("fault in %s", name)  # the one traceback, in our log
            raise gr.Error(FAULT_MESSAGE, print_exception=False) from None

    return run


def configure_logging() -> None:
    """One line per event on stderr for the app's own logger (root stays as it is, so
    libraries' INFO chatter, such as each HTTP request, stays out)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
