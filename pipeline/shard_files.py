"""One rank's share of a sharded job, on disk: `<stem>.safetensors` written whole under a
temporary name then renamed, and after it `<stem>.json`, the record of its sha256 and of
the job's key. A shard counts as done only when its record matches both, so a killed
rank leaves no shard that passes for done, and a shard of another job (other rows, other
settings, another number of ranks) is never merged. Index building (embeddings/building/shards.py)
and feature extraction (pipeline/features.py) both shard this way."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.atomic import atomic_write, atomic_write_json
from model.checksum import sha256_file


def job_key(**parts) -> str:
    """What a shard is made for, as one hash."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def shard_stem(folder: Path, name: str, rank: int, size: int) -> Path:
    return Path(folder) / f"{name}-{rank:03d}-of-{size:03d}"


def shard_is_done(stem: Path, key: str) -> bool:
    tensors, record = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    if not (tensors.is_file() and record.is_file()):
        return False
    try:
        saved = json.loads(record.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return saved.get("key") == key and saved.get("sha256") == sha256_file(tensors)


def write_shard(stem: Path, tensors: dict[str, torch.Tensor], key: str) -> None:
    path = stem.with_suffix(".safetensors")
    tensors = {name: t.contiguous() for name, t in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    atomic_write_json(stem.with_suffix(".json"), {"key": key, "sha256": sha256_file(path)})


def read_shard(stem: Path, key: str) -> dict[str, torch.Tensor]:
    """The shard's tensors; ValueError naming the file when it is missing, altered or
    made for another job."""
    path = stem.with_suffix(".safetensors")
    if not shard_is_done(stem, key):
        raise ValueError(
            f"{path}: missing, altered or made for another job; run the same command again "
            "(only the shards missing are made again)"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path}: unreadable ({err})") from err


def remove_shards(folder: Path, name: str) -> None:
    for path in Path(folder).glob(f"{name}-*-of-*.*"):
        path.unlink(missing_ok=True)
