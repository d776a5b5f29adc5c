"""Recipe cards printed clean (ui/clean.py): steps numbered once, the site's link markup
shown as its words, for every recipe of the Epicurious sample when it is here."""

from __future__ import annotations

import re

import pytest
from conftest import SAMPLE

from ui.clean import recipe_text, step_text, without_site_markup
from ui.render import recipe_card

OWN_NUMBER = re.compile(r"<li>\s*(?:step\s*\d+|\d+\s*[.)](?!\d))", re.IGNORECASE)


def card(title, ingredients, instructions) -> str:
    return recipe_card(*recipe_text(title, ingredients, instructions))


def numbered_text(html: str) -> str:
    """The instructions as a reader sees them: the list's own numbers before each step."""
    steps = re.findall(r"<li>(.*?)</li>", html.split("<h3>Instructions</h3>", 1)[1])
    return " ".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))


def test_a_steps_own_number_is_dropped_and_quantities_stay():
    assert step_text("1. Heat the olive oil.") == "Heat the olive oil."
    assert step_text("Step 2: Add the onions.") == "Add the onions."
    assert step_text("STEP 3 - Stir.") == "Stir."
    assert step_text("12) Serve.") == "Serve."
    assert step_text("1.5 cups of the stock go in last.") == "1.5 cups of the stock go in last."
    assert step_text("2 cups flour, sifted") == "2 cups flour, sifted"
    assert "1. 1." not in numbered_text(card("Soup", ["1 onion"], ["1. Heat the oil.", "2. Add the onion."]))


def test_site_markup_is_shown_as_its_words_and_other_markup_as_text():
    assert without_site_markup('1/4 cup <epi recipelink="" id="243607">vadouvan</epi>') == "1/4 cup vadouvan"
    assert (
        without_site_markup('bring 2 quarts <epi:recipelink id="105591">salted water</epi:recipelink> to boil')
        == "bring 2 quarts salted water to boil"
    )
    assert without_site_markup("1 cup honey syrupepi:recipelink</epi:recipelink>") == "1 cup honey syrup"
    assert without_site_markup("Serve with: <a></a>smashed potatoes") == "Serve with: smashed potatoes"
    html = card("<b>spicy</b> soup", ["1 cup <script>x</script> flour"], ["Mix."])
    assert "&lt;b&gt;spicy&lt;/b&gt;" in html and "&lt;script&gt;" in html  # a recipe's own text, escaped


@pytest.mark.skipif(not (SAMPLE / "Food Images").is_dir(), reason="the Epicurious sample is not here")
def test_every_recipe_of_the_sample_prints_clean():
    from pipeline.read import read_kaggle

    recipes = read_kaggle(SAMPLE)
    assert len(recipes) > 4000
    unclean = []
    for recipe in recipes:
        html = card(recipe.title, recipe.ingredients, recipe.instructions)
        if "epi:" in html.lower() or "&lt;epi" in html or "<epi" in html or OWN_NUMBER.search(html):
            unclean.append(recipe.id)
        elif "1. 1." in numbered_text(html):
            unclean.append(recipe.id)
    assert unclean == []
