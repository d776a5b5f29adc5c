"""embeddings.safetensors memory-mapped, not read: a million rows of three 512-d float16
fields are 3 GB, of which a search touches the rows it rescores and the load a sample
it checks. The format is safetensors' own (an 8-byte header length, a JSON header of
dtype, shape and byte offsets, then the tensors), read here without copying the data;
pages are copy-on-write, so nothing written through a tensor reaches the file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

NUMPY_DTYPES = {"F16": np.float16, "F32": np.float32, "I64": np.int64, "BOOL": np.bool_, "U8": np.uint8}


def map_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """name -> tensor over the file's pages. ValueError for a header that does not
    describe the file (unknown dtype, offsets that disagree with the shape or the size)."""
    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        header_bytes = int.from_bytes(handle.read(8), "little")
        if not 0 < header_bytes <= size - 8:
            raise ValueError(f"a header of {header_bytes} bytes in a file of {size}")
        header = json.loads(handle.read(header_bytes))
    base, tensors = 8 + header_bytes, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") not in NUMPY_DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {info.get('dtype')!r}, not one of {sorted(NUMPY_DTYPES)}")
        dtype, shape = np.dtype(NUMPY_DTYPES[info["dtype"]]), tuple(info["shape"])
        start, end = info["data_offsets"]
        if end - start != math.prod(shape) * dtype.itemsize or base + end > size:
            raise ValueError(f"tensor {name!r}: bytes {start}..{end} do not hold {shape} {dtype} in {size} bytes")
        if not math.prod(shape):
            tensors[name] = torch.from_numpy(np.zeros(shape, dtype))
            continue
        tensors[name] = torch.from_numpy(np.memmap(path, dtype=dtype, mode="c", offset=base + start, shape=shape))
    return tensors
