"""Where the index and the model come from: a flag, an environment variable, or the
default artifacts/index; each a local folder or a Hub id pinned as `user/name@revision`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Where `make demo` writes the index, found from the app's folder so `python /path/app.py`
# works from any directory.
DEFAULT_INDEX = str(Path(__file__).resolve().parents[1] / "artifacts" / "index")
INDEX_ENV, MODEL_ENV = "RECIPE_INDEX", "RECIPE_MODEL"

NO_INDEX_MESSAGE = (
    "No recipe index found at {where}. Build one with `make demo` (trains a model and indexes "
    "the Epicurious sample), or point the app at one: `python app.py --index DIR` or "
    "`--index user/name@revision` (or set RECIPE_INDEX)."
)


@dataclass(frozen=True)
class Source:
    """A local folder, or a Hub repository id at a revision (None: the repo's default)."""

    location: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.location if self.revision is None else f"{self.location}@{self.revision}"

    def display(self) -> str:
        """Short enough for the page: a Hub id with 8 characters of its revision, or a
        local folder relative to the working directory (no home paths on a public page)."""
        if self.revision is not None:
            return f"{self.location}@{self.revision[:8]}"
        path = Path(self.location).resolve()
        return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else path.name


def parse_source(spec: str, revision: str | None = None) -> Source:
    """'dir', 'user/name', 'user/name@rev' -> Source. An explicit revision wins over '@rev'.
    A path that exists locally is never split at '@' (folders may contain one)."""
    spec = spec.strip()
    if Path(spec).exists() or "@" not in spec:
        return Source(spec, revision)
    location, _, pinned = spec.rpartition("@")
    return Source(location, revision or pinned or None)


def index_source(flag: str | None, revision: str | None) -> Source:
    spec = flag or os.environ.get(INDEX_ENV) or DEFAULT_INDEX
    source = parse_source(spec, revision)
    if spec == DEFAULT_INDEX and not Path(spec).is_dir():
        raise SystemExit(NO_INDEX_MESSAGE.format(where=spec))
    return source


def model_source(flag: str | None, revision: str | None, manifest: dict) -> Source:
    """The --model flag, else RECIPE_MODEL, else the model the index was built with."""
    spec = flag or os.environ.get(MODEL_ENV)
    if spec:
        return parse_source(spec, revision)
    named = manifest.get("model") or {}
    if not named.get("source"):
        raise SystemExit(
            "The index's manifest names no model; pass one with --model DIR or --model user/name@revision."
        )
    return Source(str(named["source"]), named.get("revision"))


def load(index_flag=None, model_flag=None, index_revision=None, model_revision=None):
    """Load the index (verified) and its model once. Returns (index, model, model_source)."""
    source = index_source(index_flag, index_revision)  # before the slow imports: fail fast
    # torch and the model load here, not at the top: a missing index costs a second of start-up.
    from embeddings import CorruptIndexError
    from embeddings.serving import hub  # here too (start-up)
    from embeddings.serving.engine_graphs import use_index_engine  # here too: it imports torch (start-up)
    from model.engine import EngineError  # here too: it imports torch (start-up)

    try:
        index = hub.load_index(source.location, revision=source.revision)
    except FileNotFoundError as error:
        raise SystemExit(f"{NO_INDEX_MESSAGE.format(where=source)}\n({error})") from None
    except CorruptIndexError as error:
        raise SystemExit(f"The index at {source} failed its checks: {error}. Rebuild it with `make demo`.") from None
    model_from = model_source(model_flag, model_revision, index.manifest)
    try:
        model = hub.load_model(model_from.location, revision=model_from.revision)
    except FileNotFoundError as error:
        raise SystemExit(
            f"The model {model_from} could not be loaded: {error}. Pass one with --model DIR "
            "or --model user/name@revision."
        ) from None
    try:
        index.check_model(model)  # vectors made by another model would rank nonsense
    except CorruptIndexError as error:
        raise SystemExit(f"The model {model_from} does not match the index {source}: {error}") from None
    try:
        # The query's backbone pass on the index's engine graphs (embeddings/serving/engine_graphs.py).
        print(use_index_engine(model, index), flush=True)
    except EngineError as error:
        raise SystemExit(f"The index at {source} failed its checks: {error}. Rebuild it with `make demo`.") from None
    return index, model, model_from
