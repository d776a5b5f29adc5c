import math

import torch
import torch.nn.functional as F

from model import clip_loss, multi_pair_loss


def unit(x):
    return F.normalize(x, dim=-1)


def test_aligned_pairs_score_lower_than_shuffled():
    torch.manual_seed(0)
    a = unit(torch.randn(16, 8))
    b = unit(a + 0.1 * torch.randn(16, 8))
    scale = torch.tensor(math.log(20.0))
    aligned = clip_loss(a, b, scale)
    shuffled = clip_loss(a, b[torch.randperm(16)], scale)
    assert aligned < shuffled - 1.0


def test_clip_loss_matches_hand_computation():
    a = torch.eye(2)
    b = torch.eye(2)
    scale = torch.tensor(0.0)  # logits = cosine
    # each row: softmax over [1, 0] -> -log(e / (e + 1))
    expected = -math.log(math.e / (math.e + 1))
    assert torch.isclose(clip_loss(a, b, scale), torch.tensor(expected))


def test_rows_without_a_recipe_are_masked_out_of_recipe_terms():
    torch.manual_seed(1)
    image = unit(torch.randn(6, 4))
    title = unit(torch.randn(6, 4))
    recipe = unit(torch.randn(6, 4))
    has_recipe = torch.tensor([True, True, True, False, False, False])
    ones = torch.ones(6, dtype=torch.bool)
    scale = torch.tensor(1.0)
    total, terms = multi_pair_loss(
        {"image": image, "title": title, "recipe": recipe}, {"image": ones, "title": ones, "recipe": has_recipe}, scale
    )
    assert set(terms) == {"image_title", "image_recipe", "title_recipe"}
    # Garbage in the masked rows' recipe vectors must not change anything.
    recipe2 = recipe.clone()
    recipe2[3:] = unit(torch.randn(3, 4))
    total2, _ = multi_pair_loss(
        {"image": image, "title": title, "recipe": recipe2}, {"image": ones, "title": ones, "recipe": has_recipe}, scale
    )
    assert torch.isclose(total, total2)
    assert math.isclose(terms["image_recipe"], float(clip_loss(image[:3], recipe[:3], scale)), rel_tol=1e-6)
    assert math.isclose(float(total), sum(terms.values()) / 3, rel_tol=1e-6)


def test_title_only_batch_still_trains_image_title():
    image, title, recipe = (unit(torch.randn(4, 4)) for _ in range(3))
    none = torch.zeros(4, dtype=torch.bool)
    ones = torch.ones(4, dtype=torch.bool)
    total, terms = multi_pair_loss(
        {"image": image, "title": title, "recipe": recipe},
        {"image": ones, "title": ones, "recipe": none},
        torch.tensor(1.0),
    )
    assert list(terms) == ["image_title"]
    assert torch.isclose(total, clip_loss(image, title, torch.tensor(1.0)))
