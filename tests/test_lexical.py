"""Lexical text features (model/lexical.py): vocabulary, TF-IDF, SVD, and the round trip
through a saved model."""

import json

import torch
import torch.nn.functional as F

from model import Retriever, RetrieverConfig, load_pretrained, save_pretrained
from model.lexical import LexicalEncoder, term_id, terms
from tiny import tiny_config

TRAIN = [
    "short ribs braised in red wine",
    "braised short ribs with polenta",
    "lemon tart with meringue",
    "lemon meringue pie",
    "farro salad with kale",
    "warm farro salad",
    "chicken soup with rice",
    "spicy chicken soup",
    "chocolate cake with cream",
    "flourless chocolate cake",
]


def test_terms_are_lowercased_words_and_neighbouring_pairs():
    assert terms("Short Ribs, a-la X") == ["short", "ribs", "la", "short ribs", "ribs la"]
    assert term_id("short ribs") == term_id("short ribs") != term_id("ribs short")


def test_vocabulary_keeps_terms_of_two_texts_up_to_half_of_them():
    encoder = LexicalEncoder(0, 4).fit(TRAIN + ["with with with"], max_terms=1000)
    ids = set(encoder.term_ids.tolist())
    assert term_id("short ribs") in ids and term_id("farro") in ids  # two texts each
    assert term_id("polenta") not in ids  # one text only
    assert term_id("with") not in ids  # in 6 of 11 texts: more than half
    assert encoder.components.shape == (encoder.vocabulary_size, 4)
    assert torch.equal(encoder.term_ids, encoder.term_ids.sort().values)  # searchsorted needs them sorted
    capped = LexicalEncoder(0, 4).fit(TRAIN, max_terms=3)
    assert capped.vocabulary_size == 3


def test_tfidf_rows_are_unit_and_unknown_words_give_zeros():
    encoder = LexicalEncoder(0, 4).fit(TRAIN, max_terms=1000)
    rows = encoder.tfidf(["braised short ribs", "quinoa bowl", ""]).to_dense()
    assert torch.isclose(rows[0].norm(), torch.tensor(1.0))
    assert rows[1].abs().sum() == 0 and rows[2].abs().sum() == 0
    assert torch.equal(encoder(["quinoa bowl"]), torch.zeros(1, 4))


def test_a_held_out_text_lands_near_the_training_text_sharing_its_words():
    encoder = LexicalEncoder(0, 8).fit(TRAIN, max_terms=1000)
    query, near, far = F.normalize(encoder(["short ribs with mash", TRAIN[0], TRAIN[8]]), dim=-1)
    assert float(query @ near) > float(query @ far) + 0.3


def test_a_refit_is_identical_and_an_unfitted_encoder_gives_zeros():
    a = LexicalEncoder(0, 8).fit(TRAIN, max_terms=1000)
    b = LexicalEncoder(0, 8).fit(TRAIN, max_terms=1000)
    assert torch.equal(a.components, b.components) and torch.equal(a.idf, b.idf)
    assert torch.equal(LexicalEncoder(0, 8)(["anything"]), torch.zeros(1, 8))


def test_a_fitted_model_saves_and_loads_with_its_lexical_features(tmp_path, text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir, lexical_dims=8)).eval()
    model.fit_lexical(TRAIN, [t + " then bake" for t in TRAIN])
    assert model.fitted.lexical_vocabulary == {
        "title": model.lexical["title"].vocabulary_size,
        "recipe": model.lexical["recipe"].vocabulary_size,
    }
    assert model.title_inputs(["lemon tart"]).shape == (1, model.title_encoder.feature_dim + 8)
    save_pretrained(model, tmp_path / "m")
    again = load_pretrained(tmp_path / "m")
    with torch.no_grad():
        assert torch.equal(model.encode_title(["braised short ribs"]), again.encode_title(["braised short ribs"]))
        recipe = ([["short ribs", "wine"]], [["braise", "serve"]])
        assert torch.equal(model.encode_recipe(*recipe), again.encode_recipe(*recipe))
    # The title head reads the lexical part: fitted words fill it, unseen ones leave it zero.
    lexical = again.title_inputs(["farro salad", "quinoa bowl"])[:, -8:]
    assert lexical[0].abs().sum() > 0 and lexical[1].abs().sum() == 0


def test_a_config_saved_before_lexical_features_means_none():
    raw = json.loads(RetrieverConfig().to_json())
    for key in ("lexical_dims", "lexical_max_terms"):
        raw.pop(key)
    assert RetrieverConfig.from_json(json.dumps(raw)).lexical_dims == 0
