"""The region x ingredient re-ranker (model/reranker.py, embeddings/serving/rerank.py): masking of
ragged ingredient lists, only the top K re-ordered, save -> load -> identical scores."""

import pandas as pd
import pytest
import torch

from embeddings.serving.index import Hit
from embeddings.serving.rerank import PhotoReranker
from model import Retriever, RetrieverConfig, load_pretrained, save_pretrained
from model.recipe_lines import RaggedLines
from model.reranker import RegionIngredientScorer
from tiny import tiny_config


def test_a_recipe_without_ingredient_lines_scores_local_zero_and_no_nan():
    torch.manual_seed(0)
    scorer = RegionIngredientScorer(region_dim=12, line_dim=8, width=16)
    regions = torch.randn(2, 1, 9, 12, requires_grad=True)
    lines = torch.randn(1, 3, 4, 8)
    lines[0, 1] = 0.0  # the second recipe has no lines: all padding
    counts = torch.tensor([[4, 0, 2]])
    local = scorer.local(regions, lines, counts)
    assert local.shape == (2, 3)
    assert torch.equal(local[:, 1], torch.zeros(2))
    assert bool((local[:, [0, 2]].abs() > 0).all())
    local.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in scorer.parameters() if p.grad is not None)
    assert torch.isfinite(regions.grad).all()


def test_padding_does_not_change_a_candidates_score():
    torch.manual_seed(1)
    scorer = RegionIngredientScorer(region_dim=12, line_dim=8, width=16)
    regions = torch.randn(1, 1, 9, 12)
    lines = torch.randn(1, 1, 3, 8)
    alone = scorer.local(regions, lines, torch.tensor([[3]]))
    # The same recipe padded to 7 positions with garbage past its count, beside a longer one.
    padded = torch.randn(1, 2, 7, 8) * 100
    padded[0, 0, :3] = lines[0, 0]
    beside = scorer.local(regions, padded, torch.tensor([[3, 7]]))
    assert torch.allclose(alone[0, 0], beside[0, 0], atol=1e-6)
    # Counting a padded position would change it: the test can fail.
    assert not torch.allclose(alone[0, 0], scorer.local(regions, padded[:, :1], torch.tensor([[4]]))[0, 0])


def test_the_final_score_is_global_plus_alpha_times_local():
    scorer = RegionIngredientScorer(region_dim=4, line_dim=4, width=8)
    with torch.no_grad():
        scorer.alpha.fill_(0.5)
    assert torch.allclose(scorer.final(torch.tensor([0.2]), torch.tensor([0.4])), torch.tensor([0.4]))


@pytest.fixture(scope="module")
def reranking_model(text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir, rerank=3, lexical_dims=0)).eval()
    with torch.no_grad():
        model.reranker.alpha.fill_(5.0)  # a strong local score, so the order does move
    return model


def test_one_backbone_pass_gives_the_pooled_features_and_the_regions(reranking_model):
    model = reranking_model
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        regions, features = model.image_regions_and_features(pixels)
        assert torch.allclose(features, model.image_features(pixels), atol=1e-5)
    assert regions.shape[0] == 2 and regions.shape[2] == model.image_encoder.feature_dim


class FakeIndex:
    """What PhotoReranker reads of an index: the recipe table and a search."""

    def __init__(self, ingredients: list[list[str]]):
        self.recipes = pd.DataFrame({"ingredients": ingredients})
        self.searched = []

    def search(self, query, field, k, rows=None):
        self.searched.append(k)
        return [Hit(row, f"id{row}", 1.0 - 0.01 * row) for row in range(min(k, len(self.recipes)))]


INGREDIENTS = [
    ["1 cup flour", "2 eggs"],
    [],  # a title-only row: no ingredient lines
    ["1 cup rice", "salt", "3 cup beans", "oil"],
    ["lemon"],
    ["apple", "sugar"],
    ["milk"],
]


def test_the_re_ranker_changes_only_the_order_of_the_top_k(reranking_model):
    model = reranking_model
    index = FakeIndex(INGREDIENTS)
    reranker = PhotoReranker(index, model)
    hits = index.search(None, "recipe", 6)
    moved = 0
    for seed in range(8):
        torch.manual_seed(seed)
        regions = torch.randn(4, model.image_encoder.feature_dim)
        out = reranker.rerank(hits, regions)
        assert sorted(h.row for h in out[:3]) == [0, 1, 2], "the same K rows come back"
        assert out[3:] == hits[3:], "rows beyond K stay in place"
        moved += [h.row for h in out[:3]] != [0, 1, 2]
    assert moved, "a strong local score re-orders the top K for some photo"
    # search asks the index for max(k, K) and cuts back to k.
    assert len(reranker.search(None, regions, "recipe", 2)) == 2 and index.searched[-1] == 3


def test_line_vectors_are_cached_and_match_the_training_split(reranking_model):
    model = reranking_model
    reranker = PhotoReranker(FakeIndex(INGREDIENTS), model, cache_rows=2)
    lines = reranker.lines_of([2, 1, 0])  # more rows than the cache holds still come back whole
    assert lines.counts.tolist() == [4, 0, 2]
    with torch.no_grad():
        direct = model.ingredient_line_features([INGREDIENTS[2]])
    assert torch.equal(lines.flat[:4], direct.flat)
    assert len(reranker._lines) == 2


def test_save_load_gives_identical_scores(reranking_model, tmp_path):
    model = reranking_model
    save_pretrained(model, tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.config.rerank == 3
    torch.manual_seed(3)
    regions = torch.randn(5, model.image_encoder.feature_dim)
    candidates = RaggedLines.from_counts(torch.randn(3, model.recipe_encoder.feature_dim), torch.tensor([2, 0, 1]))
    globals_ = torch.tensor([0.3, 0.2, 0.1])
    with torch.no_grad():
        assert torch.equal(
            model.rerank_scores(regions, candidates, globals_), loaded.rerank_scores(regions, candidates, globals_)
        )


def test_a_config_without_the_field_has_no_re_ranker(text_backbone_dir):
    raw = tiny_config(text_backbone_dir).to_json().replace('"rerank": 0,', "")
    assert '"rerank"' not in raw
    assert RetrieverConfig.from_json(raw).rerank == 0
    with pytest.raises(ValueError, match="rerank"):
        tiny_config(text_backbone_dir, rerank=-1)


def test_the_apps_photo_search_re_ranks_with_a_model_that_has_a_re_ranker(tmp_path, monkeypatch):
    import app_support
    from tiny import make_tiny_model_dir
    from ui.search import RecipeSearch

    index, model = app_support.make_index(make_tiny_model_dir(tmp_path / "model", rerank=4), tmp_path / "work")
    search = RecipeSearch(index, model, tmp_path / "thumbs", [tmp_path])
    assert search.reranker is not None and search.reranker.k == 4
    calls, reordered = [], []
    original = PhotoReranker.rerank

    def spy(self, hits, regions):
        calls.append([hit.row for hit in hits])
        out = original(self, hits, regions)
        assert sorted(h.row for h in out[:4]) == sorted(calls[-1][:4]) and out[4:] == hits[4:]
        reordered.append([hit.id for hit in out])
        return out

    monkeypatch.setattr(PhotoReranker, "rerank", spy)
    photo = str(app_support.photo(tmp_path / "a.png"))
    _, results, *_ = search.photo_to_recipe(photo, 2)
    # The search fetches the ten closest (what "looks like" counts, ui/confidence.py); the spy
    # above checks that only their top K = 4 were re-ordered, though 2 were asked for.
    assert len(calls) == 1 and len(calls[0]) == 10, calls
    assert [r["id"] for r in results] == reordered[0][:2], "the answer shows the re-ranked order"
