"""A model and an index written by the code before settings and fitted state were split
(tests/fixtures/format_v1: a tiny model trained by `python -m train` at commit 93eb659,
with lexical features, the ingredient head, cached views with a fine-tuned photo tail and
query expansion, and the index built from it) still load and give the same vectors."""

from pathlib import Path

import torch

from embeddings import load_index
from model import FeatureRecord, load_pretrained, save_pretrained

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "format_v1"


def test_a_model_saved_in_the_previous_format_loads_with_its_fitted_state():
    model = load_pretrained(FIXTURE / "model")
    fitted = model.fitted
    assert fitted.recipe_vector == "recipe"
    assert fitted.features == FeatureRecord(finetune_top=1, views=2, live=False)
    assert fitted.lexical_vocabulary == {"recipe": 232, "title": 34}
    assert len(fitted.ingredient_vocab) == 34 and "chocolate" in fitted.ingredient_vocab
    assert fitted.query_expansion.rows == 41
    assert fitted.query_expansion.expanded_directions() == ["image_to_title"]
    assert fitted.query_expansion.directions["image_to_title"] == {"k": 30, "weight": 0.5}
    assert set(fitted.query_expansion_val) == {"image_to_recipe", "recipe_to_image", "title_to_image", "image_to_title"}
    assert model.config.lexical_dims == 8 and model.config.embed_dim == 16


def test_the_previous_formats_index_loads_with_its_model_and_holds_what_the_model_encodes():
    model = load_pretrained(FIXTURE / "model")
    index = load_index(FIXTURE / "index", model=model)  # the weights' fingerprint still matches
    titles = index.recipes["title"].tolist()
    with torch.no_grad():
        encoded = model.encode_title(titles)
    stored = index.vectors("title").float()
    assert torch.allclose(encoded, stored, atol=2e-3)  # float16 storage
    best = index.search(encoded[5].numpy(), "title", k=1)[0]
    assert best.row == 5


def test_resaving_an_old_model_writes_the_new_format_and_changes_nothing(tmp_path):
    old = load_pretrained(FIXTURE / "model")
    save_pretrained(old, tmp_path / "m")
    again = load_pretrained(tmp_path / "m")
    assert again.config == old.config and again.fitted == old.fitted
    assert '"fitted"' in (tmp_path / "m" / "config.json").read_text()
    state, state_again = old.state_dict(), again.state_dict()
    assert state.keys() == state_again.keys() and all(torch.equal(state[k], state_again[k]) for k in state)
