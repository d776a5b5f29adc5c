"""Length groups (model/token_groups.py): a text batch run in groups of similar length
gives every row the vector one padded pass gives, and the groups are the cheapest cut."""

import itertools
import random

import pytest
import torch

from model import Retriever, engine
from model.token_groups import length_groups
from tiny import tiny_config


def cost(groups, lengths, call_cost):
    return sum(len(rows) * max(lengths[r] for r in rows) + call_cost for rows, _ in groups)


def cheapest_by_brute_force(lengths, call_cost):
    """Every cut of the rows sorted longest first, tried."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    best = None
    for cuts in itertools.product((False, True), repeat=len(order) - 1):
        groups, start = [], 0
        for i, cut in enumerate(cuts, start=1):
            if cut:
                groups.append((order[start:i], 0))
                start = i
        groups.append((order[start:], 0))
        best = min(best or float("inf"), cost(groups, lengths, call_cost))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_groups_cover_every_row_once_at_the_cheapest_cut(seed):
    rng = random.Random(seed)
    lengths = [rng.choice([3, 5, 8, 12, 30, 64]) for _ in range(rng.randint(1, 11))]
    for call_cost in (0, 8, 1000):
        groups = length_groups(lengths, call_cost)
        assert sorted(r for rows, _ in groups for r in rows) == list(range(len(lengths)))
        assert all(length == max(lengths[r] for r in rows) for rows, length in groups)
        assert cost(groups, lengths, call_cost) == cheapest_by_brute_force(lengths, call_cost)
    assert len(length_groups(lengths, 10**9)) == 1  # a call dearer than any padding: one pass
    assert length_groups([], 8) == []


def test_the_engine_runs_a_batch_in_groups_that_equal_one_padded_pass(text_backbone_dir, tmp_path, monkeypatch):
    """Short ingredient lines and long sentences in one batch: on the engine the batch runs
    as several calls, and each row gets what torch's single padded pass gives it (within
    the fp32 graph's tolerance, tests/test_engine.py), in the rows' own order. torch's own
    path stays one pass."""
    pytest.importorskip("onnxruntime")
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    encoder = model.recipe_encoder
    lines = ["2 eggs", "whisk the eggs with the sugar until pale and thick, then fold in " * 3, "salt", "1 cup rice"]
    lines += ["bake for twenty minutes in a hot oven", "pepper"] * 3
    tokens = encoder.tokenize(lines, 64)
    assert len(length_groups(tokens["attention_mask"].sum(1).tolist())) > 1  # the case under test
    with torch.inference_mode():
        one_pass = encoder.torch_tokens(tokens["input_ids"], tokens["attention_mask"])
        with engine.attached(model, tmp_path, {"image": "fp32", "text": "fp32"}, image_tops=(None,)):
            calls = []
            graph = encoder.graph
            monkeypatch.setattr(encoder, "graph", lambda ids, mask: calls.append(ids.shape) or graph(ids, mask))
            grouped = encoder(lines, 64)
    assert len(calls) > 1 and max(shape[1] for shape in calls) > min(shape[1] for shape in calls)
    assert torch.allclose(grouped, one_pass, atol=1e-4), (grouped - one_pass).abs().max()
