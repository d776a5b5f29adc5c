"""How the re-ranker trains (train/rerank.py): on each training photo's dual-encoder top K
with its own recipe always among them, and with the mix (alpha) chosen on val, where 0 is
the dual encoder alone and switches the re-ranker off."""

import torch

from model.recipe_lines import RaggedLines
from model.reranker import RegionIngredientScorer
from train.rerank import RerankBags, candidate_loss, hard_candidates


def test_hard_candidates_are_the_top_k_with_the_own_recipe_always_in():
    image = torch.eye(4)  # so photo i's cosine with recipe j is recipe[j, i]
    recipe = torch.tensor(
        [
            [0.1, 0.3, 0.4, 0.0],
            [0.9, 1.0, 0.0, 0.0],
            [0.5, 0.2, 1.0, 0.2],
            [0.0, 0.0, 0.1, 1.0],
        ]
    )
    top = hard_candidates(image, recipe, 2)
    # Photo 0's own recipe is its 3rd best (0.1 < 0.9, 0.5): it takes the k-th place.
    assert top[0].tolist() == [1, 0]
    # The others rank theirs first, then the next best by cosine.
    assert top[1:].tolist() == [[1, 0], [2, 0], [3, 2]]
    # k past the pool: every recipe, still (n, n).
    assert hard_candidates(image, recipe, 10).shape == (4, 4)


def test_alpha_zero_is_the_dual_encoder_and_the_local_score_can_lift_the_match():
    # One bag, 3 queries, top 2 each. Query 0: match first. Query 1: match second.
    # Query 2: match outside the top K (a miss whatever alpha).
    values = torch.tensor([[0.9, 0.5], [0.8, 0.7], [0.6, 0.5]])
    is_match = torch.tensor([[True, False], [False, True], [False, False]])
    local = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    bags = RerankBags([(values, local, is_match)])
    assert abs(bags.r1(0.0) - 1 / 3) < 1e-6
    assert abs(bags.r1(0.05) - 1 / 3) < 1e-6  # 0.7 + 0.05 < 0.8: not enough
    assert abs(bags.r1(0.5) - 2 / 3) < 1e-6  # 0.7 + 0.5 > 0.8: lifted
    # A tie counts against the model: 0.7 + 0.1 == 0.8.
    tie = RerankBags([(torch.tensor([[0.75, 0.5]]), torch.tensor([[0.0, 0.25]]), torch.tensor([[False, True]]))])
    assert tie.r1(1.0) == 0.0


def test_the_candidate_loss_targets_the_own_recipe_and_trains_the_scorer():
    torch.manual_seed(0)
    scorer = RegionIngredientScorer(region_dim=6, line_dim=5, width=8)

    class Rows:
        image = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
        recipe = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
        regions = torch.randn(4, 9, 6)
        ingredients = RaggedLines.from_counts(torch.randn(7, 5), torch.tensor([2, 0, 4, 1]))

    batch = torch.tensor([2, 0])
    candidates = torch.tensor([[1, 2, 3], [0, 3, 1]])  # row 2's own recipe 2nd, row 0's first
    loss = candidate_loss(scorer, Rows, batch, candidates, 10.0, torch.device("cpu"))
    # By hand: logits over each row's candidates, the own position as the target.
    lines, counts = Rows.ingredients.padded(candidates.flatten())
    local = scorer.local(Rows.regions[batch][:, None], lines.view(2, 3, *lines.shape[1:]), counts.view(2, 3))
    global_scores = torch.stack([Rows.recipe[c] @ Rows.image[b] for b, c in zip(batch, candidates)])
    expected = torch.nn.functional.cross_entropy(10.0 * (global_scores + scorer.alpha * local), torch.tensor([1, 0]))
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert scorer.alpha.grad is not None and scorer.regions.weight.grad.abs().sum() > 0
