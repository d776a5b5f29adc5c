"""What every handler the server calls goes through: refusals logged as one line, faults
logged once with their traceback and answered with our own message.

Gradio prints a traceback for every gr.Error (a refused input is not a fault, and a real
fault drowned among them), and with show_error=False it answers any other exception with
a generic "enable show_error" text, or nothing at all.
"""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from .inputs import LOST_PHOTO, kind_of

log = logging.getLogger("recipe_finder")

FAULT_MESSAGE = (
    "Something went wrong on our side while answering; nothing was wrong with what you sent. "
    "Please try again in a moment."
)
BAD_CALL = "The call's arguments could not be read; see the API page (\u201cUse via API\u201d) for what each takes."


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


class GuardedBlocks(gr.Blocks):
    """gr.Blocks that reads a raw API call the way the README promises, before Gradio's own
    checks answer it with a null error and a traceback:
    - an argument left out gets the handler's default (`{"data": ["chocolate cake"]}` is a
      whole title search); a required one left out is refused, naming it;
    - whatever Gradio refuses in what was sent (a file object with its upload marker whose
      path is outside its upload folder, a malformed one) is the visitor's mistake: a file
      gets the lost-upload reply, anything else a refusal naming the endpoint;
    and logs each such refusal as one line, as guarded() does."""

    def validate_inputs(self, block_fn, inputs: list) -> None:
        wanted, name = list(block_fn.inputs), block_fn.api_name or block_fn.name
        if len(inputs) < len(wanted) and block_fn.fn is not None:
            for parameter in _parameters(block_fn)[len(inputs) : len(wanted)]:
                if parameter.default is inspect.Parameter.empty:
                    missing = gr.Error(f"The call to {name} is missing its {parameter.name} argument.")
                    missing.ours = True
                    raise missing
                inputs.append(parameter.default)
        super().validate_inputs(block_fn, inputs)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        name = block_fn.api_name or block_fn.name
        names = _parameter_names(block_fn)
        for block, value, parameter in zip(block_fn.inputs, inputs, names):
            if isinstance(block, gr.Image) and not _file_shaped(value):
                refusal = gr.Error(
                    f"The {parameter} must be an uploaded file (a path or Gradio's file object), not {kind_of(value)}.",
                    print_exception=False,
                )
                refusal.ours = True
                log.info("refused %s: %s", name, refusal.message)
                raise refusal
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as refusal:
            if not getattr(refusal, "ours", False):  # Gradio's own, which quotes what was sent
                return self._refused(name, inputs, refusal)
            refusal.print_exception = False
            log.info("refused %s: %s", name, " ".join(str(refusal.message).split()))
            raise
        except Exception as error:
            return self._refused(name, inputs, error)

    @staticmethod
    def _refused(name: str, inputs: list, error: Exception):
        message = LOST_PHOTO if any(isinstance(value, dict) and "path" in value for value in inputs) else BAD_CALL
        log.info("refused %s: %s (%s)", name, message, type(error).__name__)
        raise gr.Error(message, print_exception=False) from None


def _parameters(block_fn) -> list[inspect.Parameter]:
    """The handler's parameters, in the order of the event's inputs."""
    if block_fn.fn is None:
        return []
    return [p for p in inspect.signature(block_fn.fn).parameters.values() if p.kind != p.VAR_KEYWORD]


def _parameter_names(block_fn) -> list[str]:
    return [p.name for p in _parameters(block_fn)] or [f"input {i + 1}" for i in range(len(block_fn.inputs))]


def _file_shaped(value) -> bool:
    """What a photo input may hold: nothing, a path, or a file object whose path is text."""
    if isinstance(value, dict):
        return isinstance(value.get("path"), str) or (value.get("path") is None and isinstance(value.get("url"), str))
    return value is None or isinstance(value, str)


def configure_logging() -> None:
    """One line per event on stderr for the app's own logger (root stays as it is, so
    libraries' INFO chatter, such as each HTTP request, stays out)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
