"""AdaMine's loss (model/adamine.py): adaptive mining, the semantic level, λ."""

import pytest
import torch

from model.adamine import adamine_loss, adaptive_mean, instance_costs, semantic_costs, semantic_lambda

# Row i of a against row j of b; the diagonal holds the positives. With margin 0.3 exactly
# four of the twelve instance triplets violate it: a0 -> b1 (0.3 - 1 + 0.9 = 0.2),
# a1 -> b2 (0.3 - 1 + 0.8 = 0.1), b1 -> a0 (0.2), b2 -> a1 (0.1).
SIM = torch.tensor([[1.0, 0.9, 0.0], [0.2, 1.0, 0.8], [0.0, 0.0, 1.0]])


def test_adaptive_mining_averages_over_the_violating_triplets_only():
    costs = instance_costs(SIM, 0.3)
    assert costs.numel() == 12
    assert sorted(costs[costs > 0].tolist()) == pytest.approx([0.1, 0.1, 0.2, 0.2])
    assert float(adaptive_mean(costs)) == pytest.approx(0.6 / 4)  # not 0.6 / 12
    # Through the multi-pair loss: a = I makes a @ b.T = SIM when b's rows are SIM's columns.
    ones = torch.ones(3, dtype=torch.bool)
    loss, terms = adamine_loss(
        {"image": torch.eye(3), "title": SIM.T.contiguous()}, {"image": ones, "title": ones}, None, 0.3, 0.0
    )
    assert float(loss) == pytest.approx(0.15)
    assert terms["image_title_instance_active"] == pytest.approx(4 / 12)


def test_no_violation_gives_zero_not_a_division_by_zero():
    assert float(adaptive_mean(instance_costs(torch.eye(3), 0.3))) == 0.0


def test_semantic_triplets_leave_background_rows_out():
    torch.manual_seed(0)
    sim = torch.rand(5, 5)
    classes = torch.tensor([1, 1, 2, 0, 0])
    costs = semantic_costs(sim, classes, 0.3)
    # Anchors 0 and 1 (each the other's positive); row 2 has no positive of its class;
    # the only negative is row 2, the background rows are neither.
    expected = [0.3 - sim[0, 1] + sim[0, 2], 0.3 - sim[1, 0] + sim[1, 2]]
    assert costs.tolist() == pytest.approx([max(0.0, float(x)) for x in expected])
    changed = sim.clone()
    changed[:, 3:] = 5.0  # background rows as the hardest possible negatives
    changed[3:, :] = 5.0
    assert torch.equal(semantic_costs(changed, classes, 0.3), costs)
    assert semantic_costs(sim, torch.zeros(5, dtype=torch.long), 0.3).numel() == 0


def test_the_semantic_level_adds_to_the_loss_only_with_dish_classes():
    torch.manual_seed(1)
    a, b = torch.nn.functional.normalize(torch.randn(2, 6, 4), dim=-1)
    ones = torch.ones(6, dtype=torch.bool)
    embeds, present = {"image": a, "title": b}, {"image": ones, "title": ones}
    plain, _ = adamine_loss(embeds, present, None, 0.3, 0.1)
    background, _ = adamine_loss(embeds, present, torch.zeros(6, dtype=torch.long), 0.3, 0.1)
    semantic, terms = adamine_loss(embeds, present, torch.tensor([1, 1, 2, 2, 0, 0]), 0.3, 0.1)
    assert torch.isclose(background, plain)
    assert semantic > plain and 0 < terms["image_title_lambda"] <= 1


def test_lambda_starts_at_the_semantic_weight_and_follows_the_active_shares():
    assert semantic_lambda(0.1, 1.0, 1.0, 12) == pytest.approx(0.1)
    assert semantic_lambda(0.1, 0.5, 0.25, 12) == pytest.approx(0.05)  # semantic level further along
    assert semantic_lambda(0.1, 0.01, 1.0, 12) == 1.0  # capped: never above the instance level
    assert semantic_lambda(0.1, 0.0, 0.0, 12) == 0.0
