"""im2recipe's cosine pair loss and semantic regulariser (model/cosine_pairs.py)."""

import pytest
import torch
import torch.nn.functional as F

from model.cosine_pairs import cosine_loss, cosine_pair_loss, mismatch_draws, semantic_regulariser


def test_mismatches_come_at_the_rate_asked_and_never_pair_a_row_with_itself():
    mismatched, partner = mismatch_draws(20_000, 0.8, torch.Generator().manual_seed(0))
    assert float(mismatched.float().mean()) == pytest.approx(0.8, abs=0.01)
    own = torch.arange(20_000)
    assert torch.equal(partner[~mismatched], own[~mismatched])
    assert not bool((partner[mismatched] == own[mismatched]).any())
    assert float(mismatch_draws(20_000, 0.3, torch.Generator().manual_seed(0))[0].float().mean()) == pytest.approx(
        0.3, abs=0.01
    )


def test_a_generator_seeded_alike_draws_alike():
    first = mismatch_draws(64, 0.8, torch.Generator().manual_seed(7))
    again = mismatch_draws(64, 0.8, torch.Generator().manual_seed(7))
    other = mismatch_draws(64, 0.8, torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not all(torch.equal(x, y) for x, y in zip(first, other))


def test_the_loss_is_one_minus_cos_for_matches_and_a_hinge_for_mismatches():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(2, 8, 4), dim=-1)
    matched = cosine_pair_loss(a, b, 0.0, 0.1, torch.Generator().manual_seed(0))
    assert float(matched) == pytest.approx(float((1 - (a * b).sum(-1)).mean()), rel=1e-6)
    mismatched = cosine_pair_loss(a, b, 1.0, 0.1, torch.Generator().manual_seed(0))
    _, partner = mismatch_draws(8, 1.0, torch.Generator().manual_seed(0))
    expected = ((a * b[partner]).sum(-1) - 0.1).clamp(min=0).mean()
    assert float(mismatched) == pytest.approx(float(expected), rel=1e-6)


def test_rows_without_a_recipe_are_masked_out_of_recipe_pairs():
    torch.manual_seed(2)
    image, title, recipe = F.normalize(torch.randn(3, 6, 4), dim=-1)
    ones = torch.ones(6, dtype=torch.bool)
    present = {"image": ones, "title": ones, "recipe": torch.tensor([True, True, True, False, False, False])}
    embeds = {"image": image, "title": title, "recipe": recipe}
    loss, terms = cosine_loss(embeds, present, 0.8, 0.1, torch.Generator().manual_seed(0))
    garbage = recipe.clone()
    garbage[3:] = F.normalize(torch.randn(3, 4), dim=-1)
    again, _ = cosine_loss({**embeds, "recipe": garbage}, present, 0.8, 0.1, torch.Generator().manual_seed(0))
    assert set(terms) == {"image_title", "image_recipe", "title_recipe"}
    assert torch.isclose(loss, again)


def test_the_dish_classifier_ignores_background_rows():
    torch.manual_seed(3)
    head = torch.nn.Linear(4, 3)
    embeds = {m: F.normalize(torch.randn(5, 4), dim=-1) for m in ("image", "title")}
    present = {m: torch.ones(5, dtype=torch.bool) for m in embeds}
    classes = torch.tensor([1, 2, 1, 0, 0])
    value = semantic_regulariser(head, embeds, present, classes)
    moved = {m: torch.cat([v[:3], -v[3:]]) for m, v in embeds.items()}  # background rows elsewhere
    assert torch.isclose(semantic_regulariser(head, moved, present, classes), value)
    expected = sum(F.cross_entropy(head(v[:3]), classes[:3]) for v in embeds.values()) / 2
    assert torch.isclose(value, expected)
    nothing = semantic_regulariser(head, embeds, present, torch.zeros(5, dtype=torch.long))
    nothing.backward()
    assert float(nothing.detach()) == 0.0 and head.weight.grad is not None  # still connected, for DDP
