"""The app's handlers as plain functions, every bad input of the issue, start-up rules."""

from __future__ import annotations

import html
import subprocess
import sys
import warnings
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app_support as support
from ui import inputs
from ui.search import SAME_PHOTO_SCORE, RecipeSearch
from ui.startup import NO_INDEX_MESSAGE, index_source, parse_source

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def loaded(tiny_model_dir, tmp_path_factory):
    return support.make_index(tiny_model_dir, tmp_path_factory.mktemp("app_index"))


@pytest.fixture(scope="session")
def search(loaded, tmp_path_factory):
    index, model = loaded
    return RecipeSearch(index, model, tmp_path_factory.mktemp("thumbs"))


def check_answer(answer, k):
    gallery, results, photo, card, status = answer
    assert len(gallery) == len(results) == k
    assert [r["rank"] for r in results] == list(range(1, k + 1))
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    for path, caption in gallery:
        assert Image.open(path).size[0] > 0 and " \u00b7 " in caption
    assert photo == gallery[0][0] and "<article" in card and "status-line" in status
    return results


# --- the four searches ---------------------------------------------------------------------
def test_photo_to_recipe_returns_recipes_only(search, tmp_path):
    results = check_answer(search.photo_to_recipe(str(support.photo(tmp_path / "a.png")), 5), 5)
    assert all(search.has_recipe[r["row"]] for r in results)


def test_title_to_recipe(search):
    results = check_answer(search.title_to_recipe("chocolate cake", 4), 4)
    assert all(r["instructions"] for r in results)


def test_recipe_to_photo_reads_either_box(search):
    check_answer(search.recipe_to_photo("- 2 cups flour\n- 3 eggs", "", 6), 6)
    check_answer(search.recipe_to_photo("", "1. Mix.\n2. Bake.", 6), 6)


def test_photo_and_recipe_queries_go_through_the_models_query_expansion(search, tmp_path, monkeypatch):
    # The expansion itself is tested in test_memory.py; here: the app asks for it, per direction,
    # and searches with what it returns.
    asked = []
    real = search.model.expand
    monkeypatch.setattr(search.model, "expand", lambda direction, q: asked.append(direction) or real(direction, q))
    search.photo_to_recipe(str(support.photo(tmp_path / "a.png")), 3)
    search.recipe_to_photo("- 2 cups flour", "", 3)
    assert asked == ["image_to_recipe", "recipe_to_image"]
    plain = search.recipe_to_photo("- 2 cups flour", "", 3)[1]
    monkeypatch.setattr(search.model, "expand", lambda direction, q: -q)  # farthest instead of nearest
    flipped = search.recipe_to_photo("- 2 cups flour", "", 3)[1]
    assert [r["row"] for r in flipped] != [r["row"] for r in plain]


def test_similar_photos_leaves_out_the_photo_itself(search, loaded):
    collection = Path(loaded[0].manifest["data"]["source"]) / "Food Images" / "Food Images"
    own = str(next(iter(sorted(collection.glob("dish-0010-*.jpg")))))
    itself = search.index.search(search._encode_photo(own).numpy(), "image", 1)[0]
    assert itself.score >= SAME_PHOTO_SCORE
    results = check_answer(search.similar_photos(own, 3), 3)
    assert itself.row not in [r["row"] for r in results]


def test_choosing_a_result_shows_its_card(search):
    _, results, *_ = search.title_to_recipe("pepper beans", 3)
    photo, card = search.show_result(results, 2)
    assert f"<h2>{html.escape(results[2]['title'])}</h2>" in card and photo.endswith(f"{results[2]['row']}.jpg")
    assert search.show_result([], 0)[1] == search.show_result(results, 99)[1]  # placeholder


def test_recipe_markup_is_escaped(search):
    """Titles and recipe lines holding HTML or Markdown come back as text, never markup."""
    cards = [
        search.show_result(results, i)[1]
        for answer in (
            search.title_to_recipe("spicy soup", inputs.TOP_K_MAX),
            search.recipe_to_photo("flour", "", inputs.TOP_K_MAX),
        )
        for results in [answer[1]]
        for i in range(len(results))
    ]
    html = "".join(cards)
    for raw in ("<script>", "<b>", "<img", "href="):
        assert raw not in html
    for escaped in (
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&lt;b&gt;spicy&lt;/b&gt; **soup**",
        "&lt;img src=x",
        "# Bake",
    ):
        assert escaped in html


# --- bad photos ------------------------------------------------------------------------------
def refuses(handler, *args, match):
    with pytest.raises(gr.Error, match=match):
        handler(*args)


@pytest.mark.parametrize("empty", [None, "", {"path": None}])
def test_no_photo(search, empty):
    refuses(search.photo_to_recipe, empty, 5, match="Add a photo")
    refuses(search.similar_photos, empty, 5, match="Add a photo")


def test_not_an_image(search, tmp_path):
    fake = tmp_path / "recipe.jpg"
    fake.write_text("this is a text file, not a photo")
    refuses(search.photo_to_recipe, str(fake), 5, match="not an image")


def test_truncated_image(search, tmp_path):
    refuses(search.photo_to_recipe, str(support.truncated_jpeg(tmp_path / "cut.jpg")), 5, match="damaged or incomplete")


def test_one_pixel_image(search, tmp_path):
    refuses(search.photo_to_recipe, str(support.photo(tmp_path / "dot.png", size=(1, 1))), 5, match="1\u00d71 pixels")


@pytest.mark.parametrize("side", [9_000, 100_000])  # above our limit; above PIL's own
def test_decompression_bomb_refused_from_its_header(search, tmp_path, side):
    bomb = support.decompression_bomb(tmp_path / "bomb.png", side)
    refuses(search.photo_to_recipe, {"path": str(bomb)}, 5, match="too large")


@pytest.mark.parametrize(
    "mode, fmt", [("CMYK", "JPEG"), ("I;16", "PNG"), ("RGBA", "PNG"), ("P", "PNG"), ("L", "PNG"), ("LA", "PNG")]
)
def test_every_image_mode_is_searched(search, tmp_path, mode, fmt):
    path = support.photo(tmp_path / f"photo.{fmt.lower()}", mode=mode, fmt=fmt)
    assert Image.open(path).mode == mode
    check_answer(search.photo_to_recipe(str(path), 3), 3)


def test_animated_gif_uses_its_first_frame(search, tmp_path):
    gif = support.animated_gif(tmp_path / "anim.gif")
    first = Image.open(gif).convert("RGB")
    _, results, *_ = search.photo_to_recipe(str(gif), 3)
    assert [r["row"] for r in results] == [r["row"] for r in search.photo_to_recipe(first, 3)[1]]


def test_exif_rotated_photo_is_turned_upright_before_embedding(search, tmp_path):
    path, upright = support.exif_rotated(tmp_path / "phone.jpg")
    sideways = Image.fromarray(np.asarray(Image.open(path).convert("RGB")))  # as stored, no EXIF
    # What the backbone sees: the pixels after the retriever's own preprocessing.
    seen = search.model.pixel_values([inputs.read_photo(str(path))])
    assert (seen - search.model.pixel_values([upright])).abs().mean() < 0.05  # JPEG noise only
    assert (seen - search.model.pixel_values([sideways])).abs().mean() > 0.2
    check_answer(search.photo_to_recipe(str(path), 2), 2)


# --- bad text and top-k ------------------------------------------------------------------
@pytest.mark.parametrize("blank", ["", "   \n\t ", None])
def test_empty_text_refused(search, blank):
    refuses(search.title_to_recipe, blank, 5, match="Type a dish name")
    refuses(search.recipe_to_photo, blank, blank, 5, match="Paste some ingredients")


def test_huge_text_is_cut_and_said_so(search):
    long_text = "chocolate cake " * 3_333 + "pie!!"  # 50,000 characters
    with pytest.warns(UserWarning, match="only the first"):
        *_, status = search.title_to_recipe(long_text, 3)
    assert "50,000 characters" in status and f"first {inputs.MAX_TITLE_CHARS:,}" in status
    with pytest.warns(UserWarning, match="only the first"):
        *_, status = search.recipe_to_photo(long_text, long_text, 3)
    assert status.count("were read") == 2


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f382\U0001f36b\U0001f370",
        "\u9ebb\u5a46\u8c46\u8150",
        "\u0628\u0627\u0628\u0627 \u063a\u0646\u0648\u062c",
        "\u0431\u043e\u0440\u0449",
    ],
)
def test_emoji_and_other_scripts(search, text):
    check_answer(search.title_to_recipe(text, 2), 2)
    check_answer(search.recipe_to_photo(text, text, 2), 2)


@pytest.mark.parametrize(
    "asked, got, warned",
    [
        (-5, 1, True),
        (0, 1, True),
        (1000, inputs.TOP_K_MAX, True),
        ("abc", inputs.TOP_K_DEFAULT, True),
        (None, inputs.TOP_K_DEFAULT, True),
        (float("nan"), inputs.TOP_K_DEFAULT, True),
        (3.6, 4, False),
        ("7", 7, False),
    ],
)
def test_top_k_is_clamped(search, asked, got, warned):
    with warnings.catch_warnings(record=True) as shown:  # gr.Warning, outside a server
        warnings.simplefilter("always")
        _, results, *_, status = search.title_to_recipe("cake", asked)
    assert bool(shown) == warned
    assert len(results) == min(got, int(search.has_recipe.sum()))
    assert ("between" in status or "not a number" in status) == warned


# --- start-up ------------------------------------------------------------------------------
def test_hub_ids_and_revisions_are_parsed(tmp_path):
    assert parse_source("user/index@abc123") == parse_source("user/index", "abc123")
    assert parse_source("user/index@abc", "def").revision == "def"
    folder = tmp_path / "odd@name"
    folder.mkdir()
    assert parse_source(str(folder)).location == str(folder)


def test_no_index_says_how_to_build_one(tmp_path, monkeypatch):
    monkeypatch.setattr("ui.startup.DEFAULT_INDEX", str(tmp_path / "artifacts" / "index"))
    monkeypatch.delenv("RECIPE_INDEX", raising=False)
    with pytest.raises(SystemExit, match="make demo") as stop:
        index_source(None, None)
    assert str(stop.value).startswith(NO_INDEX_MESSAGE.split("{")[0])


def test_app_without_an_index_prints_one_message_and_exits(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--index", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and "make demo" in done.stderr and "Traceback" not in done.stderr


def test_build_demo_names_the_four_endpoints(loaded):
    import app

    demo = app.build_demo(*loaded)
    assert isinstance(demo, gr.Blocks)
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"photo_to_recipe", "title_to_recipe", "recipe_to_photo", "similar_photos"} <= named
    page = " ".join(str(c.get("props", {}).get("value", "")) for c in demo.config["components"])
    assert "Recipe Finder" in page and loaded[0].manifest["model"]["source"] not in page  # no server paths


def test_examples_only_offer_what_can_answer(search, monkeypatch):
    from ui.layout import ExamplePicker

    picks = ExamplePicker(search)
    assert picks.recipes() and all(ingredients or steps for ingredients, steps in picks.recipes())
    monkeypatch.setattr(search, "has_recipe", np.zeros_like(search.has_recipe))  # a title-only collection
    picks = ExamplePicker(search)
    assert picks.recipes() == [] and picks.recipe_labels() == [] and picks.titles() and picks.photos(0)
