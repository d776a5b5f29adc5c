"""How sure an answer is: mappings fitted on val (train/calibration.py) from what a search
sees of its own results to the probability that they are right, saved with the model
(FittedState.confidence) and read by the app (ui/confidence.py).

Per query kind (photo -> recipe, title -> recipe, pasted recipe -> photo) the search's
first score s1 and its margin over the second s2 make one figure, z = s1 + w * (s1 - s2)
(w chosen on val), and monotone step functions of z (isotonic regression, fitted by
pool-adjacent-violators) give
    first      P(the query's own recipe is the first result)
    shown[k]   P(it is among the first k results), for a few k
    same_kind  P(the first result is the same kind of dish: model/dish_kinds.py's class of
               its title equals that of the query's own title, neither "background")
"Looks like" (a photo's dish kind by a vote of its closest results) keeps the smallest
vote count whose val precision reached LOOKS_LIKE_PRECISION (None: never sure enough).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

LOOKS_LIKE_PRECISION = 0.6  # "Looks like" is said only where val says it is right this often
CLOSEST = 10  # the results whose titles vote on what the dish looks like
# A step fitted on fewer val queries than this is merged into its neighbour: the last step
# of a pool-adjacent-violators fit often rests on a handful of lucky queries, and a person
# would read its figure as a promise.
MIN_STEP_QUERIES = 20


def pool_adjacent_violators(x: np.ndarray, y: np.ndarray, min_count: int = 1) -> tuple[list[float], list[float]]:
    """Isotonic (non-decreasing) least-squares fit of y on x. Returns the blocks as
    (lower edges, values): the value of a block holds from its edge up to the next one.
    `min_count`: a block of fewer points is merged with the neighbour nearest its value
    (merging neighbours keeps the fit non-decreasing)."""
    order = np.argsort(x, kind="stable")
    x, y = np.asarray(x, dtype=np.float64)[order], np.asarray(y, dtype=np.float64)[order]
    # Each block: [sum of y, count, first x]; ties in x start in one block (a step cannot split them).
    blocks: list[list[float]] = []
    for xi, yi in zip(x, y):
        if blocks and blocks[-1][2] == xi:
            blocks[-1][0] += yi
            blocks[-1][1] += 1
        else:
            blocks.append([yi, 1.0, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            total, count, _ = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    while len(blocks) > 1 and min(b[1] for b in blocks) < min_count:
        i = min(range(len(blocks)), key=lambda j: blocks[j][1])
        value = blocks[i][0] / blocks[i][1]
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(blocks)]
        j = min(neighbours, key=lambda n: abs(blocks[n][0] / blocks[n][1] - value))
        low, high = sorted((i, j))
        blocks[low] = [blocks[low][0] + blocks[high][0], blocks[low][1] + blocks[high][1], blocks[low][2]]
        del blocks[high]
    return [b[2] for b in blocks], [b[0] / b[1] for b in blocks]


@dataclass
class StepMap:
    """A non-decreasing step function: values[i] from edges[i] up to edges[i + 1]; below
    the first edge, the first value."""

    edges: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, min_count: int = MIN_STEP_QUERIES) -> StepMap:
        edges, values = pool_adjacent_violators(x, y, min_count)
        return cls([round(e, 6) for e in edges], [round(v, 6) for v in values])

    def __call__(self, z: float) -> float:
        if not self.values:
            return 0.0
        return self.values[max(0, bisect.bisect_right(self.edges, z) - 1)]


@dataclass
class DirectionConfidence:
    margin_weight: float = 0.0  # w of z = s1 + w * (s1 - s2)
    first: StepMap = field(default_factory=StepMap)
    same_kind: StepMap = field(default_factory=StepMap)
    shown: dict[str, StepMap] = field(default_factory=dict)  # {str(k): P(own recipe among the first k)}
    val_queries: int = 0

    def figure(self, scores: list[float]) -> float:
        """z of one answer's scores, best first (a lone result has no margin)."""
        first = scores[0]
        margin = first - scores[1] if len(scores) > 1 else 0.0
        return first + self.margin_weight * margin

    def among(self, k: int) -> tuple[int, StepMap] | None:
        """The stored k closest to `k` from below (a smaller list is the cautious estimate)."""
        stored = sorted(int(key) for key in self.shown)
        below = [s for s in stored if s <= k]
        return (below[-1], self.shown[str(below[-1])]) if below else None

    @classmethod
    def from_dict(cls, raw: dict) -> DirectionConfidence:
        return cls(
            margin_weight=float(raw.get("margin_weight", 0.0)),
            first=StepMap(**raw.get("first", {})),
            same_kind=StepMap(**raw.get("same_kind", {})),
            shown={k: StepMap(**v) for k, v in raw.get("shown", {}).items()},
            val_queries=int(raw.get("val_queries", 0)),
        )


@dataclass
class Confidence:
    kinds: list[str] = field(default_factory=list)  # dish kinds, model/dish_kinds.py's classes (0: background)
    directions: dict[str, DirectionConfidence] = field(default_factory=dict)
    # {"closest", "min_votes" (None: never sure), "val_precision", "val_coverage", "val_queries"}
    looks_like: dict = field(default_factory=dict)
    pool: str = ""  # in words: what the mapping was fitted against

    @classmethod
    def from_dict(cls, raw: dict) -> Confidence:
        return cls(
            kinds=list(raw.get("kinds", [])),
            directions={d: DirectionConfidence.from_dict(v) for d, v in raw.get("directions", {}).items()},
            looks_like=dict(raw.get("looks_like", {})),
            pool=str(raw.get("pool", "")),
        )
