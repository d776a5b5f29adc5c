"""Query expansion through the training pairs: the expansion itself, choosing it on val,
carrying it in a saved model, and using it in evaluation."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from embeddings.serving.manifest import model_fingerprint
from model import Retriever, load_pretrained, save_pretrained
from model.expansion import expand_queries
from tiny import tiny_config, train_tiny
from train.evaluate import main as evaluate_main
from train.expansion import fit_query_expansion


def test_expansion_matches_hand_computation():
    keys = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    values = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    query = F.normalize(torch.tensor([[1.0, 0.2, 0.0]]), dim=-1)
    # k = 1: the nearest key (row 0) lends its value whole.
    expected = F.normalize(query + 0.5 * values[0], dim=-1)
    assert torch.allclose(expand_queries(query, keys, values, k=1, weight=0.5), expected)
    # k = 2: softmax(similarity / T) weights, then the lent vector is normalised.
    sims = query @ keys.T
    lend = torch.softmax(sims / 0.1, dim=1)
    lent = F.normalize(lend @ values, dim=-1)
    assert torch.allclose(
        expand_queries(query, keys, values, k=2, weight=2.0, temperature=0.1),
        F.normalize(query + 2.0 * lent, dim=-1),
        atol=1e-6,
    )
    assert torch.equal(expand_queries(query, keys, values, k=2, weight=0.0), query)


def clustered(n_per_cluster: int, clusters: int, dim: int, seed: int):
    """Titles and photos of each cluster sit in unrelated directions, so a title alone
    cannot find its photo, but training titles of the same cluster point at its photos."""
    g = torch.Generator().manual_seed(seed)
    photo_centres = F.normalize(torch.randn(clusters, dim, generator=torch.Generator().manual_seed(0)), dim=-1)
    title_centres = F.normalize(torch.randn(clusters, dim, generator=torch.Generator().manual_seed(1)), dim=-1)
    label = torch.arange(clusters).repeat_interleave(n_per_cluster)
    noise = lambda: 0.15 * torch.randn(len(label), dim, generator=g)  # noqa: E731
    embeds = {
        "image": F.normalize(photo_centres[label] + noise(), dim=-1),
        "title": F.normalize(title_centres[label] + noise(), dim=-1),
    }
    embeds["recipe"] = embeds["fused"] = F.normalize(photo_centres[label] + noise(), dim=-1)
    return embeds, torch.ones(len(label), dtype=torch.bool)


def test_fit_turns_expansion_on_where_it_helps_on_val_and_the_model_keeps_it(tmp_path, text_backbone_dir):
    model = Retriever(tiny_config(text_backbone_dir, embed_dim=16)).eval()
    before = model_fingerprint(model)
    train, train_has = clustered(20, 10, 16, seed=1)
    val, val_has = clustered(8, 10, 16, seed=2)
    chosen = fit_query_expansion(model, train, train_has, val, val_has, recipe_field="recipe", pool=80, recipe_pool=80)
    t2i = chosen["title_to_image"]
    assert t2i["weight"] > 0 and t2i["val_r1"] > 2 * t2i["val_r1_plain"], t2i
    assert model.fitted.query_expansion.rows == 200
    assert model_fingerprint(model) == before, "expansion changes queries, not the vectors an index stores"

    save_pretrained(model, tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")
    assert loaded.fitted.query_expansion == model.fitted.query_expansion
    assert torch.equal(loaded.memory_image, model.memory_image) and loaded.memory_image.dtype == torch.float16
    titles = val["title"][:5]
    assert torch.allclose(loaded.expand("title_to_image", titles), model.expand("title_to_image", titles))
    assert not torch.allclose(loaded.expand("title_to_image", titles), titles)

    # The app keeps each direction's upcast rows between queries (Retriever._expansion_rows):
    # rows loaded into the same buffers afterwards, or set anew, are the ones used.
    other, other_has = clustered(20, 10, 16, seed=3)
    state = {f"memory_{f}": other[f].half() for f in ("image", "title", "recipe")}
    loaded.load_state_dict(state, strict=False)
    model.set_expansion_rows(other, other_has)
    model.set_expansion_directions(dict(loaded.fitted.query_expansion.directions))
    fresh = expand_queries(titles, other["title"], other["image"], t2i["k"], t2i["weight"])
    for served in (loaded, model):
        assert torch.allclose(served.expand("title_to_image", titles), fresh, atol=2e-3)


def test_a_model_without_expansion_rows_leaves_queries_alone(text_backbone_dir):
    model = Retriever(tiny_config(text_backbone_dir))
    queries = F.normalize(torch.randn(3, model.config.embed_dim), dim=-1)
    for direction in ("image_to_recipe", "recipe_to_image", "title_to_image", "image_to_title"):
        assert torch.equal(model.expand(direction, queries), queries)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, text_backbone_dir):
    folder = tmp_path_factory.mktemp("expansion")
    return folder, train_tiny(folder, text_backbone_dir, "--finetune-top", "0", "--views", "1")


def test_training_stores_the_training_rows_and_reports_test_both_ways(trained):
    folder, out = trained
    model = load_pretrained(out)
    metrics = json.loads((out / "metrics.json").read_text())
    expansion = model.fitted.query_expansion
    train_rows = expansion.rows
    assert model.memory_image.shape == (train_rows, model.config.embed_dim)
    assert int(model.memory_has_recipe.sum()) < train_rows  # title-only rows are kept for image-title
    norms = model.memory_title.float().norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-2)
    assert set(expansion.directions) == set(metrics["query_expansion"])
    plain = json.loads((out / "eval_test_plain.json").read_text())
    expanded = json.loads((out / "eval_test.json").read_text())
    for direction, setting in expansion.directions.items():
        if not setting["weight"]:  # a direction left off scores the same both ways
            assert expanded[direction] == plain[direction]


def test_evaluate_can_score_without_expansion(trained, tmp_path):
    folder, out = trained
    data = folder / "data"
    args = ["--model", str(out), "--data", str(data), "--cache-dir", str(folder / "cache"), "--quiet"]
    assert evaluate_main([*args, "--json", str(tmp_path / "on.json")]) == 0
    assert evaluate_main([*args, "--no-expansion", "--json", str(tmp_path / "off.json")]) == 0
    on, off = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("on", "off"))
    assert set(off) == set(json.loads((out / "eval_test_plain.json").read_text()))
    settings = load_pretrained(out).fitted.query_expansion.directions
    for direction, setting in settings.items():
        if not setting["weight"]:
            assert on[direction] == off[direction]
        # (Not compared with training's eval_test*.json: a random tiny model's vectors nearly
        # tie, so 1e-7 differences between the training and evaluation feature paths (other
        # batches, other thread counts) reorder ranks. The expansion is checked above.)
        assert on[direction]["pool"] == off[direction]["pool"] and math.isfinite(on[direction]["r1"])


def test_refitting_a_saved_model_from_the_cli_keeps_the_training_rows_as_training_did(trained, tmp_path):
    import shutil

    from train.expansion import main as expansion_main

    folder, out = trained
    copy = shutil.copytree(out, tmp_path / "model")
    assert (
        expansion_main(
            ["--model", str(copy), "--data", str(folder / "data"), "--cache-dir", str(folder / "cache"), "--quiet"]
        )
        == 0
    )
    refit, original = load_pretrained(copy), load_pretrained(out)
    # The same training rows, embedded through the evaluation path, as training kept them.
    # (Which setting wins is not compared: a random tiny model's vectors nearly tie, and a
    # val split of eight rows turns 1e-6 differences into other choices.)
    assert refit.fitted.query_expansion.rows == original.fitted.query_expansion.rows
    assert set(refit.fitted.query_expansion.directions) == set(original.fitted.query_expansion.directions)
    for name in ("image", "title", "recipe", "has_recipe"):
        a, b = getattr(refit, f"memory_{name}"), getattr(original, f"memory_{name}")
        assert torch.equal(a, b) if name == "has_recipe" else torch.allclose(a.float(), b.float(), atol=2e-3)
    # The folder's test figures follow the refitted model (the model card reads them); the
    # same test rows as training scored (values may differ where a tiny model's vectors tie).
    for name in ("eval_test.json", "eval_test_plain.json"):
        refit_figures, training_figures = (json.loads((folder_ / name).read_text()) for folder_ in (copy, out))
        assert {d: m["pool"] for d, m in refit_figures.items()} == {d: m["pool"] for d, m in training_figures.items()}
        assert (copy / name).stat().st_mtime > (out / name).stat().st_mtime
