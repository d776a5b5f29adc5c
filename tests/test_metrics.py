import pytest
import torch

from train.metrics import bag_metrics, evaluate_embeddings, ranks_of_matches, summarise_ranks


def test_ranks_and_summary_match_a_hand_computed_case():
    # Candidates on the unit circle; query i is closest to candidate perm[i].
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    candidates = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    # query 0 vs cands: 1.0, 0.6, 0.0 -> its match (cand 0) ranks 1
    # query 1 vs cands: 0.0, 0.8, 1.0 -> its match (cand 1, 0.8) ranks 2
    # query 2 vs cands: 0.6, 1.0, 0.8 -> its match (cand 2, 0.8) ranks 2
    ranks = ranks_of_matches(queries, candidates)
    assert ranks.tolist() == [1, 2, 2]
    summary = summarise_ranks(ranks)
    assert summary["medr"] == 2.0
    assert summary["r1"] == pytest.approx(1 / 3)
    assert summary["r5"] == 1.0 and summary["r10"] == 1.0


def test_even_count_median_is_the_mean_of_the_middle_two():
    assert summarise_ranks(torch.tensor([1, 2, 5, 9]))["medr"] == 3.5


def test_small_sets_become_one_bag_and_say_so():
    x = torch.nn.functional.normalize(torch.randn(30, 8), dim=-1)
    result = bag_metrics(x, x, pool=1000, bags=10)
    assert result["pool"] == 30 and result["bags"] == 1
    assert result["r1"] == 1.0 and result["medr"] == 1.0


def test_bags_are_seeded_and_sized():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(300, 8), dim=-1)
    c = torch.nn.functional.normalize(q + 0.8 * torch.randn(300, 8), dim=-1)
    first = bag_metrics(q, c, pool=100, bags=5, seed=3)
    again = bag_metrics(q, c, pool=100, bags=5, seed=3)
    assert first == again
    assert first["pool"] == 100 and first["bags"] == 5
    assert 0 < first["r1"] < 1 and first["r1_std"] > 0


def test_recipe_directions_use_only_rows_with_a_recipe():
    torch.manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(40, 8), dim=-1)
    has_recipe = torch.arange(40) < 10
    results = evaluate_embeddings({"image": e, "title": e, "recipe": e}, has_recipe, pool=1000, recipe_pool=500)
    assert results["image_to_recipe"]["pool"] == 10
    assert results["title_to_image"]["pool"] == 40
