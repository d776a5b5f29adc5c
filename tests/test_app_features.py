"""The features that make a person come back, through the app's handlers on the tiny
index: ingredient filters, "like this, but…", cook from what I have, why this match."""

from __future__ import annotations

import itertools
import string

import gradio as gr
import numpy as np
import pytest
import torch

import app_support as support
from embeddings.serving.ingredients import IngredientWords
from ui import explain


def holds(result, word: str) -> bool:
    return any(word in explain.held_words({word}, "", [line]) for line in result["ingredients"])


def passing(search, without=(), with_=()) -> int:
    # As the app reads them: a "without" word leaves out a recipe whose title holds it, too.
    words = IngredientWords(search.index.column("ingredients"), search.index.column("title"))
    return int(words.mask([(w,) for w in with_], [(w,) for w in without]).__and__(search.has_recipe).sum())


def test_without_leaves_out_every_recipe_holding_the_word(search):
    _, results, _, _, status = search.title_to_recipe("chocolate cake", 30, without="sugar, eggs")
    assert results and not any(holds(r, "sugar") or holds(r, "egg") for r in results)
    expected = passing(search, without=("sugar", "egg"))
    assert len(results) == min(30, expected) < 30  # every recipe that passes, and the page says so
    assert f"Only {expected} of the collection" in status and "without sugar, egg" in status


def test_with_keeps_only_recipes_holding_the_word_and_marks_it(search):
    _, results, _, card, _ = search.title_to_recipe("soup", 5, must_have="lemon")
    assert results and all(holds(r, "lemon") for r in results)
    assert "<mark>lemon</mark>" in card and "lemon" in results[0]["why"]["marked"]


def test_diet_chips_filter_inside_the_search(search, tmp_path):
    photo = str(support.photo(tmp_path / "a.png"))
    _, results, *_ = search.photo_to_recipe(photo, 30, diets=["vegetarian"])
    assert results and not any(holds(r, "chicken") or holds(r, "salmon") for r in results)


def test_filters_nothing_passes(search):
    gallery, results, photo, card, status = search.title_to_recipe("cake", 5, must_have="saffron")
    assert results == [] and gallery == [] and "No recipe in the collection passes your filters" in status


def test_but_at_weight_0_is_the_photo_alone_and_at_1_the_words_alone(search, tmp_path):
    photo = str(support.photo(tmp_path / "a.png"))
    alone = [r["row"] for r in search.photo_to_recipe(photo, 5)[1]]
    assert [r["row"] for r in search.photo_to_recipe(photo, 5, but="with chicken", but_weight=0)[1]] == alone
    words = [r["row"] for r in search.photo_to_recipe(photo, 5, but="with chicken", but_weight=1)[1]]
    with torch.no_grad():
        query = search.model.encode_title(["with chicken"])[0].numpy()
    expected = search.index.search(query, search.photo_to_recipe_field, 5, rows=search.has_recipe)
    assert words == [hit.row for hit in expected] != alone


@pytest.mark.parametrize(
    ("but", "weight", "note"),
    [
        ("\U0001f357\U0001f357", 0.5, "no letters"),
        ("chicken", 7, "between 0 and 1"),
        ("chicken", "lots", "not a number"),
    ],
)
def test_bad_but_inputs_are_fixed_and_said(search, tmp_path, but, weight, note):
    photo = str(support.photo(tmp_path / "a.png"))
    *_, status = search.photo_to_recipe(photo, 3, but=but, but_weight=weight)
    assert note in status


def test_why_names_what_the_photo_most_likely_shows():
    class Fitted:
        ingredient_vocab = ["egg", "milk", "salt", "saffron"]

    class Model(torch.nn.Module):
        fitted = Fitted()

        def __init__(self):
            super().__init__()
            self.ingredient_head = torch.nn.Linear(4, 4)
            with torch.no_grad():
                self.ingredient_head.weight.zero_()
                self.ingredient_head.bias.copy_(torch.tensor([2.0, 0.0, -3.0, -1.0]))  # p = .88 .5 .05 .27

    likely = explain.photo_ingredients(Model(), torch.zeros(4))
    assert set(likely) == {"egg", "milk", "saffron"} and likely["egg"] == pytest.approx(0.881, abs=1e-3)
    assert explain.held_words(set(likely), "Omelette", ["2 large eggs", "a splash of milk"]) == ["egg", "milk"]
    assert explain.mark("2 Eggs & <b>milk</b>", {"egg", "milk"}) == (
        "2 <mark>Eggs</mark> &amp; &lt;b&gt;<mark>milk</mark>&lt;/b&gt;"
    )


def test_cook_ranks_by_how_many_of_yours_then_says_what_it_still_needs(search):
    _, results, _, card, status = search.cook_from_what_i_have("eggs, flour, milk", 10)
    words = IngredientWords(search.index.column("ingredients"))
    uses = [sum(bool(words.rows_with((w,))[r["row"]]) for w in ("egg", "flour", "milk")) for r in results]
    assert uses == sorted(uses, reverse=True) and uses[0] == max(
        sum(bool(words.rows_with((w,))[row]) for w in ("egg", "flour", "milk"))
        for row in np.flatnonzero(search.has_recipe)
    )
    assert results[0]["why"]["reasons"][0].startswith(f"Uses {uses[0]} of yours")
    assert "Still needs" in card or "Needs nothing more" in card
    assert "recipes use what you have" in status


def test_cook_honours_without_and_diets(search):
    _, results, *_ = search.cook_from_what_i_have("rice, beans, chicken", 30, without="cheese", diets=["vegetarian"])
    assert results and not any(holds(r, "cheese") or holds(r, "chicken") for r in results)


FIVE_THOUSAND = ", ".join(
    "".join(p) for p in itertools.islice(itertools.product(string.ascii_lowercase, repeat=3), 5000)
)


@pytest.mark.parametrize(
    ("have", "message"),
    [
        ("", "List the ingredients you have first"),
        ("   \n ", "List the ingredients you have first"),
        ("\U0001f95a \U0001f95b 42", "no words to match"),
    ],
)
def test_cook_refuses_what_it_cannot_read(search, have, message):
    with pytest.raises(gr.Error, match=message):
        search.cook_from_what_i_have(have, 5)


@pytest.mark.parametrize(
    ("have", "note"),
    [
        (FIVE_THOUSAND + ", eggs", "only the first 50"),
        ("<script>alert(1)</script> eggs, <b>milk</b>", "markup"),
    ],
)
def test_cook_cuts_huge_or_marked_up_lists_and_says_so(search, have, note):
    *_, card, status = search.cook_from_what_i_have(have, 5)
    assert note in status and "<script>" not in card and "<b>" not in card


@pytest.mark.parametrize("field", ["without", "must_have"])
def test_filter_fields_take_any_text(search, field):
    for text in (FIVE_THOUSAND, "<img src=x onerror=alert(1)>", "\U0001f95c\U0001f95c", "\x00\ud800"):
        *_, status = search.title_to_recipe("cake", 3, **{field: text})
        assert "status-line" in status and "<img" not in status


def test_why_names_at_most_five_distinctive_foods_never_staples():
    """ui/explain.py's choice among the photo's likely words, on hand-made figures."""
    from ui import explain

    likely = {w: 0.6 for w in ("salt", "granulated", "brown", "olive", "clove", "saffron", "chicken", "lemon")}
    likely.update({"caper": 0.5, "fennel": 0.5, "rice": 0.4})
    lines = ["2 tbsp olive oil", "3 garlic cloves", "1 tsp salt", "pinch of saffron", "1 lemon", "2 tbsp capers"]
    lines += ["1 chicken", "1 fennel bulb", "1 cup rice", "1/2 cup granulated brown sugar"]
    held = explain.held_words(set(likely), "Chicken", lines)
    frequency = {"chicken": 900, "lemon": 600, "rice": 700, "saffron": 20, "caper": 60, "fennel": 80}
    named = explain.distinctive(likely, held, lambda w: frequency.get(w, 1000), 4000, {"lemon": 1.0}, lines)
    assert len(named) == 5 and named[0] == "saffron"  # the rarest across the collection first
    assert not {"salt", "granulated", "brown", "olive", "clove"} & set(named)  # staples, non-foods, "olive oil"
    assert "lemon" not in named  # every other result holds it: it does not set this one apart
    assert explain.query_words("lemon chicken with olives and the capers") == {"lemon", "chicken", "olive", "caper"}
