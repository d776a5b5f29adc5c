"""The thumbnail column of recipes.parquet, read when a row is shown, not at load.

A million rows hold ~6 GB of thumbnails; the app shows a few dozen per query. A row's
thumbnail is read with its row group (THUMBNAIL_ROW_GROUP rows, about 1.5 MB, written
so by embeddings/building/build.py), and the groups read last are kept up to BYTES_KEPT. A folder
written with one large row group still loads: its first thumbnail reads the whole column once.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import OrderedDict
from pathlib import Path

import pyarrow.parquet as pq

THUMBNAIL_ROW_GROUP = 256  # rows a row group of recipes.parquet holds
# A photo query's 8 results touch ~8 groups, reading one costs ~0.7 ms: with 8 groups kept
# a 10k-row index re-read most of them on every answer (6 ms of a 28 ms photo handler).
# 96 MB keeps the Epicurious sample's whole column (55 MB) and ~16k rows of a million.
BYTES_KEPT = 96 * 2**20


class ThumbnailColumn:
    """row -> the row's thumbnail (JPEG bytes), like the list it replaces."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        sizes = [self._file.metadata.row_group(g).num_rows for g in range(self._file.num_row_groups)]
        self._starts = [0, *itertools.accumulate(sizes)][:-1]  # first row of each group
        self._count = sum(sizes)
        self._groups: OrderedDict[int, object] = OrderedDict()  # group -> its column, last used last
        self._bytes = 0
        self._lock = threading.Lock()  # the app's handlers run on several threads

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, row: int) -> bytes:
        if not 0 <= row < self._count:
            raise IndexError(f"row {row} is outside the index's {self._count} rows")
        group = bisect.bisect_right(self._starts, row) - 1
        with self._lock:
            column = self._groups.get(group)
            if column is None:
                column = self._file.read_row_group(group, columns=["thumbnail"]).column(0)
                self._groups[group] = column
                self._bytes += column.nbytes
                while self._bytes > BYTES_KEPT and len(self._groups) > 1:
                    self._bytes -= self._groups.popitem(last=False)[1].nbytes
            else:
                self._groups.move_to_end(group)
        return column[row - self._starts[group]].as_py()
