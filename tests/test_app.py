"""The app's handlers as plain functions, every bad input of the issue, start-up rules."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import warnings
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app_support as support
from embeddings.serving.index import Hit
from ui import inputs
from ui.startup import NO_INDEX_MESSAGE, index_source, parse_source

ROOT = Path(__file__).resolve().parents[1]


def check_answer(answer, k):
    gallery, results, photo, card, status = answer
    assert len(gallery) == len(results) == k
    assert [r["rank"] for r in results] == list(range(1, k + 1))
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    for path, _ in gallery:
        assert Image.open(path).size[0] > 0
    assert [caption for _, caption in gallery] == [r["title"] for r in results]  # no bare cosine
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


def rank_like_the_real_model(search, monkeypatch, own_row: int) -> None:
    """The tiny model cannot rank photos (its image vectors all score ~1.0 with each
    other), so the image search answers as the real model did in the probe: the query's
    own dish first at 0.967, then the other dishes, lower."""
    real, probe = search.index.search, np.ones(search.index.dim, dtype=np.float32)

    def search_images(query, field, k, rows=None):
        others = [hit for hit in real(probe, field, search.index.count, rows) if hit.row != own_row]
        hits = [Hit(own_row, search.recipes.id.iat[own_row], 0.967)]
        hits += [Hit(hit.row, hit.id, 0.9 - 0.01 * rank) for rank, hit in enumerate(others)]
        return hits[:k]

    monkeypatch.setattr(search.index, "search", search_images)


@pytest.mark.parametrize(
    "change",
    [
        None,  # the collection's file itself
        lambda image: image,  # the same pixels, saved again
        lambda image: image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC),
        lambda image: image.crop((8, 5, image.width - 8, image.height - 5)),  # 3% off every edge
    ],
    ids=["same_file", "jpeg_q70", "resized_2x", "cropped_3pct"],
)
def test_similar_dishes_leave_out_near_copies_of_the_query(search, loaded, tmp_path, monkeypatch, change):
    """The probe's case: a re-encoded, resized or cropped copy of a collection photo must
    not find that photo as a "similar dish"; the other dishes stay."""
    collection = Path(loaded[0].manifest["data"]["source"]) / "Food Images" / "Food Images"
    own = next(iter(sorted(collection.glob("dish-0010-*.jpg"))))
    own_row = int(np.flatnonzero(search.recipes.id.str.contains("dish-0010"))[0])
    copy = own if change is None else tmp_path / "copy.jpg"
    if change is not None:
        change(Image.open(own).convert("RGB")).save(copy, "JPEG", quality=70)
    rank_like_the_real_model(search, monkeypatch, own_row)
    results = check_answer(search.similar_photos(str(copy), 5), 5)
    shown = [r["row"] for r in results]
    assert own_row not in shown
    assert shown == [hit.row for hit in search.index.search(None, "image", 6)[1:]]  # no other dish left out


def test_status_line_counts_in_english(search, tmp_path):
    assert "1 recipe matches this title." in search.title_to_recipe("cake", 1)[-1]
    assert "3 recipes match this title." in search.title_to_recipe("cake", 3)[-1]
    assert "1 photo matches this recipe." in search.recipe_to_photo("flour", "", 1)[-1]
    photo = str(support.photo(tmp_path / "a.png"))
    assert "1 recipe matches this photo." in search.photo_to_recipe(photo, 1)[-1]
    assert "1 similar dish." in search.similar_photos(photo, 1)[-1]
    assert "2 similar dishes." in search.similar_photos(photo, 2)[-1]


def test_choosing_a_result_shows_its_card(search):
    _, results, *_ = search.title_to_recipe("pepper beans", 3)
    photo, card = search.show_result(results, 2)
    shown = card.replace("<mark>", "").replace("</mark>", "")  # the query's words are marked
    assert f"<h2>{html.escape(results[2]['title'])}</h2>" in shown and photo.endswith(f"{results[2]['row']}.jpg")
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


def test_only_files_inside_the_photo_folders_are_opened(tmp_path):
    """A link or a '..' leading out of the folders is refused as a lost upload is; by default
    the folders are Gradio's own, which the tests' files are not in."""
    inside = tmp_path / "uploads"
    inside.mkdir()
    outside = support.photo(tmp_path / "elsewhere.png")
    (inside / "link.png").symlink_to(outside)
    lost = re.escape(inputs.LOST_PHOTO)
    for path in (inside / "link.png", inside / ".." / "elsewhere.png", outside, inside / "missing.png", inside):
        with pytest.raises(gr.Error, match=lost):
            inputs.read_photo({"path": str(path)}, [inside])
    assert inputs.read_photo({"path": str(support.photo(inside / "real.png"))}, [inside]).size == (80, 60)
    with pytest.raises(gr.Error, match=lost):
        inputs.read_photo(str(outside))


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
    seen = search.model.pixel_values([inputs.read_photo(str(path), [tmp_path])])
    assert (seen - search.model.pixel_values([upright])).abs().mean() < 0.05  # JPEG noise only
    assert (seen - search.model.pixel_values([sideways])).abs().mean() > 0.2
    check_answer(search.photo_to_recipe(str(path), 2), 2)


# --- bad text and top-k ------------------------------------------------------------------
@pytest.mark.parametrize(
    "blank", ["", "   \n\t ", None, "\x00\x00\x00", "\ud800", "\udfff\ud800", "\u200b\u2060\ufeff\u202e", "\x07\x7f"]
)
def test_empty_text_refused(search, blank):
    refuses(search.title_to_recipe, blank, 5, match="Type a dish name")
    refuses(search.recipe_to_photo, blank, blank, 5, match="Paste some ingredients")


def test_text_is_normalised_before_it_is_read(search):
    """Composed and decomposed accents, zero-width and control characters, a lone
    surrogate: the same words must give the same search."""
    plain = search.title_to_recipe("cr\u00e8me br\u00fbl\u00e9e", 3)[1]
    assert search.title_to_recipe("cre\u0300me\x00 bru\u0302\u200ble\u0301e\u2060", 3)[1] == plain
    assert search.title_to_recipe("cr\u00e8me br\u00fbl\u00e9e\ud800", 3)[1] != []  # replaced, not fatal
    pasted = search.recipe_to_photo("1 cup flour\r\n2 eggs\x0c", "Mix\u200b.\r\nBake.", 3)[1]
    assert pasted == search.recipe_to_photo("1 cup flour\n2 eggs", "Mix.\nBake.", 3)[1]


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
        "\u9ebb\u5a46\u8c46\u8150",
        "\u0628\u0627\u0628\u0627 \u063a\u0646\u0648\u062c",
        "\u0431\u043e\u0440\u0449",
    ],
)
def test_other_scripts(search, text):
    check_answer(search.title_to_recipe(text, 2), 2)
    check_answer(search.recipe_to_photo(text, text, 2), 2)


@pytest.mark.parametrize("text", ["\U0001f382\U0001f36b\U0001f370", "?!... ---", "\U0001f355 123 !!"])
def test_text_with_no_letters_gets_a_note_not_results(search, text, tmp_path):
    """Emoji, punctuation or numbers alone: a note saying so, never a search of whatever they land near."""
    for call in (
        lambda: search.title_to_recipe(text, 2),
        lambda: search.recipe_to_photo(text, text, 2),
        lambda: search.cook_from_what_i_have(text, 2),
    ):
        with pytest.raises(gr.Error, match="no (letters|words)"):
            call()
    _, results, _, _, status = search.photo_to_recipe(str(support.photo(tmp_path / "p.png")), 2, but=text)
    assert len(results) == 2 and "no letters" in status  # the photo alone was searched, and it says so


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


def test_build_demo_names_the_five_endpoints(loaded, tmp_path):
    import app

    demo = app.build_demo(*loaded, cache_root=tmp_path)
    assert isinstance(demo, gr.Blocks)
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert {"photo_to_recipe", "title_to_recipe", "recipe_to_photo", "similar_photos", "cook_from_what_i_have"} <= named
    page = " ".join(str(c.get("props", {}).get("value", "")) for c in demo.config["components"])
    assert "Recipe Finder" in page and loaded[0].manifest["model"]["source"] not in page  # no server paths


def test_one_thumbnails_folder_and_one_examples_cache_per_index(loaded, tmp_path):
    """Found again by the next start with the same index; another index's folders are
    removed once no running app holds them."""
    import fcntl

    from ui import storage
    from ui.thumbnail_files import THUMBNAIL_FORMAT

    first = storage.app_folders(*loaded, THUMBNAIL_FORMAT, tmp_path)
    (first.thumbnails / "3.jpg").write_bytes(b"written by the first start")
    stale = tmp_path / "thumbnails-0123456789abcdef"
    stale.mkdir()
    (stale / storage.LOCK_FILE).touch()
    busy = tmp_path / "examples-fedcba9876543210"
    busy.mkdir()
    held = open(busy / storage.LOCK_FILE, "a")  # another app, still serving that index
    fcntl.flock(held, fcntl.LOCK_SH)
    again = storage.app_folders(*loaded, THUMBNAIL_FORMAT, tmp_path)
    assert again == first and (again.thumbnails / "3.jpg").read_bytes() == b"written by the first start"
    assert not stale.exists() and busy.exists()
    held.close()
    other_format = storage.app_folders(*loaded, "another-format", tmp_path)
    assert other_format.thumbnails != first.thumbnails and first.thumbnails.exists()  # still held by this process


def test_examples_only_offer_what_can_answer(search, monkeypatch):
    from ui.layout import ExamplePicker

    picks = ExamplePicker(search)
    assert picks.recipes() and all(ingredients or steps for ingredients, steps in picks.recipes())
    monkeypatch.setattr(search, "has_recipe", np.zeros_like(search.has_recipe))  # a title-only collection
    picks = ExamplePicker(search)
    assert picks.recipes() == [] and picks.recipe_labels() == [] and picks.titles() and picks.photos(0)


def test_more_like_this_searches_near_a_chosen_recipe_and_leaves_it_out(search):
    _, results, _, _, _ = search.title_to_recipe("chocolate cake", 3)
    chosen = results[1]
    answer = check_answer(search.more_like_this(chosen["id"], 4), 4)
    assert chosen["id"] not in [r["id"] for r in answer] and all(search.has_recipe[r["row"]] for r in answer)
    with pytest.raises(gr.Error, match="not in this collection"):
        search.more_like_this("no-such-recipe", 4)


def test_answers_say_how_sure_they_are_and_the_card_shows_no_bare_cosine(search, tmp_path):
    _, results, _, card, status = search.photo_to_recipe(str(support.photo(tmp_path / "p.png")), 3)
    assert "How sure" in status and "How sure" in card and "not a probability" in card
    assert results[0]["answer"]["direction"] == "image_to_recipe"
