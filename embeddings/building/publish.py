"""Publish a model and its index to the Hub in one commit: the build side of it (what goes
up, the model card, the checks before anything leaves the machine); the upload itself is
embeddings/serving/hub.py, the one module that talks to huggingface_hub."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from model import load_pretrained

from ..serving.hub import INDEX_FOLDER, MODEL_FILES, is_repo_id, require_token, upload
from ..serving.index import read_index_dir
from ..serving.manifest import MANIFEST_FILE, data_files, read_manifest
from .card import model_card


def _staged_files(model_dir: Path, index_dir: Path | None, repo: str, card: str, staging: Path) -> dict[str, Path]:
    """path in repo -> local file, for everything that goes up (new files written to staging)."""
    files: dict[str, Path] = {}
    for pattern in MODEL_FILES:
        for path in sorted(model_dir.glob(pattern)):
            if path.is_file():
                files[path.relative_to(model_dir).as_posix()] = path
    if "model.safetensors" not in files or "config.json" not in files:
        raise FileNotFoundError(f"{model_dir} is not a saved retriever (config.json + model.safetensors)")
    (staging / "README.md").write_text(card)
    files["README.md"] = staging / "README.md"
    if index_dir is not None:
        manifest = read_manifest(index_dir)
        # The published index names the repo as its model, revision implied (see resolve_index_dir).
        manifest["model"] = {**manifest["model"], "source": repo, "revision": None}
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        files[f"{INDEX_FOLDER}/{MANIFEST_FILE}"] = staging / MANIFEST_FILE
        for name in data_files(manifest):
            files[f"{INDEX_FOLDER}/{name}"] = index_dir / name
    return files


def publish(
    model_dir: str | Path,
    index_dir: str | Path | None,
    repo: str,
    *,
    revision: str | None = None,
    private: bool = False,
    tag: str | None = None,
    license: str | None = None,
    datasets: list[str] | None = None,
    commit_message: str | None = None,
) -> dict:
    """Upload a model dir (+ optionally an index dir) to model repo `repo` in one commit.
    `revision`: the branch to commit to (default main); `tag`: a tag to pin it by.
    Returns {"repo", "commit", "files", "preload"}."""
    model_dir = Path(model_dir)
    if not is_repo_id(repo):
        raise ValueError(f"--repo must look like USER/NAME, got {repo!r}")
    index = None
    if index_dir is not None:
        index = read_index_dir(Path(index_dir))  # refuses a corrupt index before uploading
        index.check_model(load_pretrained(model_dir))  # and an index made by another model
    card = model_card(model_dir, repo, index.manifest if index else None, license=license, datasets=datasets)
    require_token()  # before staging anything
    with tempfile.TemporaryDirectory(prefix="publish-") as staging:
        files = _staged_files(model_dir, Path(index_dir) if index_dir else None, repo, card, Path(staging))
        commit = upload(repo, files, revision=revision, private=private, tag=tag, commit_message=commit_message)
    # A Space preloads this exact commit at build time; the app then loads it offline
    # with load_index(repo, revision=commit).
    preload = f"preload_from_hub:\n  - {repo} {','.join(sorted(files))}" + (f" {commit}" if commit else "")
    return {"repo": repo, "commit": commit, "tag": tag, "files": sorted(files), "preload": preload}
