"""The only module that talks to huggingface_hub: fetch models and indexes, upload files.
(What a publish uploads, and its checks, is embeddings/building/publish.py.)

Tests replace `snapshot_download`, `HfApi` and `get_token` here; nothing else in the
project imports huggingface_hub. With HF_HUB_OFFLINE=1, snapshot_download answers from
the local cache (which a Space's `preload_from_hub` fills at build time).

Published layout: one model repo USER/NAME, so one revision pins the model and the
vectors it made together:
  config.json, model.safetensors, title_text/, [recipe_text/], [image_tower/], eval_test.json, README.md
  index/manifest.json, index/embeddings.safetensors, index/recipes.parquet,
  [index/faiss_<field>.index], [index/ingredient_lines.safetensors]
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token, snapshot_download

from model import load_pretrained

from .index import RecipeIndex, read_index_dir
from .manifest import DATA_FILES, LINES_FILE, MANIFEST_FILE, read_manifest

INDEX_FOLDER = "index"  # where the index sits inside a published repo
MODEL_PATTERNS = [
    "config.json",
    "model.safetensors",
    "title_text/*",
    "recipe_text/*",
    "image_tower/*",
]  # what load_pretrained reads
# What goes up from a model dir: the loadable files, the evaluation and the curves.
MODEL_FILES = (*MODEL_PATTERNS, "eval_test.json", "metrics.json", "eval.json", "curves.png")
# In a folder, or a repo of its own; faiss_*.index: a stored faiss index (faiss_store.py);
# LINES_FILE: the re-ranker's ingredient lines (line_store.py).
INDEX_PATTERNS = [f"{INDEX_FOLDER}/*", *DATA_FILES, "faiss_*.index", LINES_FILE, MANIFEST_FILE]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def is_repo_id(path_or_id: str | Path) -> bool:
    """A Hub id ("owner/name"), not a local path: "artifacts/index" is local when there is
    an "artifacts" folder, even before the index inside it is built."""
    text = str(path_or_id)
    return bool(_REPO_ID.match(text)) and not Path(text).exists() and not Path(text.split("/")[0]).is_dir()


def _snapshot(repo_id: str, revision: str | None, patterns: list[str]) -> Path:
    if not is_repo_id(repo_id):
        raise FileNotFoundError(f"{repo_id}: no such local directory (and not a Hub repo id, owner/name)")
    if revision is None:
        print(
            f"note: {repo_id} is not pinned to a revision; using its main branch (pass --revision TAG|COMMIT)",
            file=sys.stderr,
        )
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except OSError as err:  # not in the cache while offline, no such repo or revision, no network
        where = (
            "in the local cache (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") == "1" else "on the Hub"
        )
        raise FileNotFoundError(
            f"{repo_id} at revision {revision or 'main'}: not found {where} "
            f"(a local folder of that name does not exist either): {err}"
        ) from err


def _commit_of(snapshot: Path, revision: str | None) -> str | None:
    """The commit a snapshot folder holds (the HF cache names it so), else the revision asked."""
    return snapshot.name if _COMMIT.match(snapshot.name) else revision


def resolve_model_dir(path_or_id: str | Path, revision: str | None = None) -> Path:
    if Path(path_or_id).is_dir():
        return Path(path_or_id)
    return _snapshot(str(path_or_id), revision, MODEL_PATTERNS)


def load_model(path_or_id: str | Path, revision: str | None = None):
    """A Retriever from a local model dir, or from a Hub repo (snapshot, then the same loader)."""
    return load_pretrained(resolve_model_dir(path_or_id, revision)).eval()


def resolve_index_dir(path_or_id: str | Path, revision: str | None = None) -> tuple[Path, dict | None]:
    """(local index directory, manifest model fields to fill in or None). A published index
    records its own repo as the model source with no revision, meaning "the commit this
    index came from"; that commit is filled in here so the app loads the matching model."""
    path = Path(path_or_id)
    if path.is_dir():
        return path, None
    snapshot = _snapshot(str(path_or_id), revision, INDEX_PATTERNS)
    directory = snapshot / INDEX_FOLDER if (snapshot / INDEX_FOLDER / MANIFEST_FILE).is_file() else snapshot
    manifest = read_manifest(directory)
    if manifest["model"].get("source") == str(path_or_id) and not manifest["model"].get("revision"):
        return directory, {"revision": _commit_of(snapshot, revision)}
    return directory, None


def load_index(
    path_or_repo_id: str | Path, revision: str | None = None, backend: str = "auto", model=None, verify: bool = True
) -> RecipeIndex:
    """An index from a local directory or a Hub repo (`revision`: a tag or full commit).
    Raises CorruptIndexError if anything disagrees; with `model`, also checks it is the
    model the vectors were made with."""
    directory, resolved_model = resolve_index_dir(path_or_repo_id, revision)
    index = read_index_dir(directory, backend=backend, verify=verify)
    if resolved_model is not None:
        index.manifest["model"].update(resolved_model)
    if model is not None:
        index.check_model(model)
    return index


def require_token() -> None:
    if get_token() is None:  # HF_TOKEN, or the file `hf auth login` writes; never printed
        raise PermissionError("no Hugging Face token: set HF_TOKEN or run `hf auth login` first")


def upload(
    repo: str,
    files: dict[str, Path],
    *,
    revision: str | None = None,
    private: bool = False,
    tag: str | None = None,
    commit_message: str | None = None,
) -> str | None:
    """files (path in repo -> local file) to model repo `repo` in one commit, on branch
    `revision` (default main), tagged `tag` if given; returns the commit's id. What to
    upload and its checks are the build side's (embeddings/building/publish.py)."""
    require_token()
    api = HfApi()
    api.create_repo(repo, repo_type="model", private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo, branch=revision, repo_type="model", exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in sorted(files.items())
    ]
    info = api.create_commit(
        repo,
        operations,
        commit_message=commit_message or "Upload recipe retriever and index",
        repo_type="model",
        revision=revision,
    )
    commit = getattr(info, "oid", None)
    if tag:
        api.create_tag(repo, tag=tag, revision=commit, repo_type="model", exist_ok=False)
    return commit
