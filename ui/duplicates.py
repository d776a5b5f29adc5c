"""Which rows of a "Similar dishes" answer are copies of the query photo itself.

A copy of a collection photo (re-saved as JPEG, resized, slightly cropped) scores 0.97 or
more against its row, well below what an identical file scores, so a cosine threshold
cannot tell it from a very similar dish. A perceptual hash can: it reads the picture's
coarse structure, which those changes keep. The method and the largest Hamming distance
still counted as a copy were chosen by measurement over the sample's photos and altered
copies of them (benchmarks/results/near_duplicates.json; the study, a finished one, is
`git show 6ccda96:benchmarks/bench_near_duplicates.py`).

Rows are hashed from the index's own thumbnails when a search first shows them and kept:
an index needs no new column, old indexes work as they are, and start-up pays nothing.
"""

from __future__ import annotations

import imagehash
from PIL import Image

from model.preprocess import to_rgb

HASH = imagehash.phash  # 64 bits from the 8x8 lowest frequencies of a 32x32 DCT
# Measured over 500 of the sample's photos, each re-saved (JPEG q70), resized 2x and cropped
# 3% off every edge, against the index's thumbnails: within 8 bits, the copy's own row is
# caught for 99.8%, 99.8% and 76% of copies, and another dish among a search's candidates
# is hidden for 0.16% of copies (over every row: 0.28%). At 10 bits crops are caught for
# 92%, but another dish is hidden twice as often; dhash did no better at any distance.
MAX_DISTANCE = 8


def photo_hash(image: Image.Image) -> int:
    """The perceptual hash of an upright RGB picture, as a 64-bit integer."""
    return int(str(HASH(image)), 16)


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class RowHashes:
    """Row -> hash of the row's index thumbnail, computed once on first use."""

    def __init__(self, index):
        self.index = index
        self._hashes: dict[int, int] = {}  # filled from two searches at once: a dict's item set is atomic

    def __call__(self, row: int) -> int:
        found = self._hashes.get(row)
        if found is None:
            found = self._hashes[row] = photo_hash(to_rgb(self.index.thumbnail(row)))
        return found

    def copies_of(self, image: Image.Image, rows: list[int]) -> set[int]:
        """The rows among `rows` whose photo is a copy of `image`."""
        query = photo_hash(to_rgb(image))
        return {row for row in rows if distance(query, self(row)) <= MAX_DISTANCE}
