"""The one sha256 of a file, read in chunks (index files and shards run to gigabytes), and
the one fingerprint of a module's weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over the weights themselves (names, shapes, bytes): the same model gives the
    same fingerprint whether it came from a local folder or a Hub snapshot, so an index
    can check it is searched with the model that made its vectors, and an exported engine
    graph that it was exported from these weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith("memory_"):
            continue  # the query-expansion rows change queries, never the vectors an index stores
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)  # 0-d buffers cannot be viewed as bytes
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()
