"""Length groups for a text batch: rows of similar token counts run together, each group
padded only to its own longest row.

A transformer pass costs about the same per padded token whatever the row (measured:
MiniLM int8 in ONNX Runtime, one thread, ~0.09 ms per token from 8 to 1,600 tokens, plus
~0.3 ms per call). One batch padded to its longest row wastes most of that on a pasted
recipe: short ingredient lines ("2 eggs") ride with 64-token method sentences, 2.6x the
real tokens on the Epicurious sample. So the rows are sorted by length and cut where the
padding saved is worth more than one more call.
"""

from __future__ import annotations

# One more call costs about what this many padded tokens do (the ~0.3 ms above over
# ~0.09 ms per token, rounded up: fewer, larger calls when in doubt).
CALL_COST_TOKENS = 8


def length_groups(lengths: list[int], call_cost: int = CALL_COST_TOKENS) -> list[tuple[list[int], int]]:
    """Token counts of a batch's rows -> [(rows, padded length)] covering every row once,
    the cheapest cut of the rows sorted longest first into contiguous groups, where a group
    costs rows x its longest row + call_cost. One group when cutting saves nothing."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    # A cut between rows of equal length only adds a call, so cuts go between runs of equal
    # length: at most max_tokens runs, whatever the batch size (the cache's are 256 rows).
    starts = [i for i in range(len(order)) if i == 0 or lengths[order[i]] != lengths[order[i - 1]]]
    bounds = starts + [len(order)]
    runs = len(starts)
    # best[j]: the cheapest cost of the first j runs; cut[j]: the run its last group starts at.
    best, cut = [0] + [None] * runs, [0] * (runs + 1)
    for j in range(1, runs + 1):
        for i in range(j):  # the last group is runs i..j-1, padded to run i's length
            cost = best[i] + (bounds[j] - bounds[i]) * lengths[order[bounds[i]]] + call_cost
            if best[j] is None or cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], runs
    while j > 0:
        i = cut[j]
        groups.append((order[bounds[i] : bounds[j]], max(1, lengths[order[bounds[i]]])))
        j = i
    return groups[::-1]
