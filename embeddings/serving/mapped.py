"""embeddings.safetensors memory-mapped, not read: a million rows of three 512-d float16
fields are 3 GB, of which a search touches the rows it rescores and the load a sample
it checks. The format is safetensors' own (an 8-byte header length, a JSON header of
dtype, shape and byte offsets, then the tensors), read here without copying the data;
pages are copy-on-write, so nothing written through a tensor reaches the file."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

NUMPY_DTYPES = {"F16": np.float16, "F32": np.float32, "I64": np.int64, "BOOL": np.bool_, "U8": np.uint8}


@dataclass(frozen=True)
class Layout:
    """Where one tensor's bytes lie in the file."""

    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int  # from the start of the file

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.dtype.itemsize


def read_layout(path: Path) -> dict[str, Layout]:
    """name -> Layout from the header. ValueError for a header that does not describe the
    file (unknown dtype, offsets that disagree with the shape or the size)."""
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        header_bytes = int.from_bytes(handle.read(8), "little")
        if not 0 < header_bytes <= size - 8:
            raise ValueError(f"a header of {header_bytes} bytes in a file of {size}")
        header = json.loads(handle.read(header_bytes))
    base, layout = 8 + header_bytes, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") not in NUMPY_DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {info.get('dtype')!r}, not one of {sorted(NUMPY_DTYPES)}")
        dtype, shape = np.dtype(NUMPY_DTYPES[info["dtype"]]), tuple(info["shape"])
        start, end = info["data_offsets"]
        if end - start != math.prod(shape) * dtype.itemsize or base + end > size:
            raise ValueError(f"tensor {name!r}: bytes {start}..{end} do not hold {shape} {dtype} in {size} bytes")
        layout[name] = Layout(dtype, shape, base + start)
    return layout


def map_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """name -> tensor over the file's pages (ValueError as read_layout)."""
    tensors = {}
    for name, where in read_layout(path).items():
        if not math.prod(where.shape):
            tensors[name] = torch.from_numpy(np.zeros(where.shape, where.dtype))
            continue
        mapped = np.memmap(path, dtype=where.dtype, mode="c", offset=where.offset, shape=where.shape)
        tensors[name] = torch.from_numpy(mapped)
    return tensors


def read_rows(path: Path, where: Layout, rows: np.ndarray) -> np.ndarray:
    """Rows of one tensor read with pread, not through the map: a load that checks a sample
    of rows would otherwise fault in the mapped pages around each one (the kernel maps
    cached neighbours too), and a million-row file's sample spans all of it."""
    out = np.empty((len(rows), *where.shape[1:]), where.dtype)
    with open(path, "rb", buffering=0) as handle:
        for i, row in enumerate(rows):
            data = os.pread(handle.fileno(), where.row_bytes, where.offset + int(row) * where.row_bytes)
            out[i] = np.frombuffer(data, where.dtype).reshape(where.shape[1:])
    return out
