"""End to end in a real browser: Debian's chromium driven by Playwright (never
`playwright install`; tests/setup_browser.sh installs chromium where it is missing)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import app_support as support

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 120_000  # the first search warms the model up, and the machine may be busy

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium missing: run tests/setup_browser.sh")


@pytest.fixture(scope="module")
def app_url(tiny_model_dir, tmp_path_factory):
    index, model = support.make_index(tiny_model_dir, tmp_path_factory.mktemp("browser_index"))
    model.fitted.confidence = support.known_confidence(index)  # so the page shows how sure it is
    demo, url, _ = support.launch_app(index, model, tmp_path_factory.mktemp("browser_app"))
    yield url
    demo.close()


@pytest.fixture()
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(app_url)
        yield page
        browser.close()


SAMPLE_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "epicurious" / "Food Images" / "Food Images"


def a_photo(folder: Path) -> Path:
    """A real photo from the Epicurious sample when it is here, else a generated one."""
    if SAMPLE_PHOTOS.is_dir():
        first = next(iter(sorted(SAMPLE_PHOTOS.glob("*.jpg"))), None)
        if first is not None:
            return Path(shutil.copy(first, folder / "dish.jpg"))
    return support.photo(folder / "dish.png", size=(274, 169))


def test_photo_to_recipe_in_a_browser(page, tmp_path):
    # The first example is preloaded with its answer, so the page never opens empty;
    # clear it, as a visitor would, to upload a photo of their own.
    page.locator("#photo_to_recipe_input button[aria-label='Remove Image']").click()
    # The upload itself searches (no click: a click after that search ended would start a second
    # one, whose answer could replace the card chosen below). Five results, not the preloaded
    # example's eight, tell its answer from the example's.
    page.locator("#top_k input[type=number]").fill("5")
    page.locator("#top_k input[type=number]").press("Enter")
    page.locator("#photo_to_recipe_input input[type=file]").set_input_files(str(a_photo(tmp_path)))
    page.locator("#photo_to_recipe_status").get_by_text("5 recipes match this photo").wait_for()
    thumbnails = page.locator("#photo_to_recipe_gallery .thumbnail-item")
    thumbnails.nth(2).wait_for()
    assert thumbnails.count() >= 3
    assert "match" in page.locator("#photo_to_recipe_status").inner_text()

    thumbnails.nth(2).click()  # choose the third result: its recipe card replaces the first's
    caption = page.locator("#photo_to_recipe_gallery .caption-label").nth(2).inner_text()
    title = caption  # the title alone: no bare cosine beside it
    heading = page.locator("#photo_to_recipe_card h2")
    page.wait_for_function("t => document.querySelector('#photo_to_recipe_card h2')?.textContent === t", arg=title)
    assert page.locator("#photo_to_recipe_card ol li").count() >= 1  # numbered instructions
    assert page.locator("#photo_to_recipe_card ul li").count() >= 1  # ingredient list
    assert heading.inner_text() == title
    page.screenshot(path=str(tmp_path / "photo_to_recipe.png"), full_page=True)
    assert (tmp_path / "photo_to_recipe.png").stat().st_size > 10_000


def test_an_example_photo_can_be_searched_again(page):
    """An example's photo reaches the handler from the thumbnails folder Gradio serves as
    static files: it must be read, not refused as a path Gradio did not receive."""
    page.locator("#photo_to_recipe_status").get_by_text("8 recipes match").wait_for()  # the preloaded answer
    page.locator("#top_k input[type=number]").fill("3")
    page.locator("#top_k input[type=number]").press("Enter")
    page.locator("#photo_to_recipe_button").click()
    page.locator("#photo_to_recipe_status").get_by_text("3 recipes match this photo").wait_for()
    assert page.get_by_text("did not arrive").count() == 0


def test_title_tab_and_escaped_markup_in_a_browser(page, tmp_path):
    page.get_by_role("tab", name="Title \u2192 Recipe").click()
    page.get_by_label("Dish name").fill("spicy soup")
    page.locator("#title_to_recipe_button").click()
    page.locator("#title_to_recipe_gallery .thumbnail-item").first.wait_for()
    # Titles in the data hold "<b>": they must show as text, never as bold markup.
    assert page.locator("#title_to_recipe_card b, #title_to_recipe_card script").count() == 0
    page.screenshot(path=str(tmp_path / "title_to_recipe.png"), full_page=True)


def test_a_broken_upload_shows_a_message_and_the_app_keeps_working(page, tmp_path):
    page.locator("#photo_to_recipe_input button[aria-label='Remove Image']").click()
    page.locator("#photo_to_recipe_input input[type=file]").set_input_files(
        str(support.truncated_jpeg(tmp_path / "broken.jpg"))
    )
    page.locator("#photo_to_recipe_button").click()
    page.get_by_text("damaged or incomplete").first.wait_for()
    page.screenshot(path=str(tmp_path / "error.png"), full_page=True)
    page.get_by_role("tab", name="Title \u2192 Recipe").click()
    page.locator("#top_k input[type=number]").fill("3")
    page.locator("#top_k input[type=number]").press("Enter")
    page.get_by_label("Dish name").fill("pepper beans")
    page.get_by_label("Dish name").press("Enter")  # Enter searches too
    page.wait_for_function("() => document.querySelector('#title_to_recipe_status')?.textContent.includes('3 recipes')")
    assert page.locator("#title_to_recipe_gallery .thumbnail-item").count() == 3


# --- the features that make a person come back ----------------------------------------------
# Screenshots of each new control at work go to artifacts/screenshots/ (ignored by git), to look at.
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def shoot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def card_text(page, api: str) -> str:
    return page.locator(f"#{api}_card").inner_text().lower()


def test_ingredient_filters_and_diet_chips_in_a_browser(page):
    page.get_by_role("tab", name="Title \u2192 Recipe").click()
    page.locator("#title_to_recipe_filters").get_by_text("Ingredient filters").click()  # the accordion opens
    page.locator("#title_to_recipe_without textarea, #title_to_recipe_without input").first.fill("sugar")
    page.locator("#title_to_recipe_diets").get_by_text("Vegetarian").click()
    page.get_by_label("Dish name").fill("chocolate cake")
    page.locator("#title_to_recipe_button").click()
    page.wait_for_function(
        "() => document.querySelector('#title_to_recipe_status')?.textContent.includes('without sugar')"
    )
    ingredients = page.locator("#title_to_recipe_card ul").inner_text().lower()
    assert "sugar" not in ingredients and "chicken" not in ingredients and "salmon" not in ingredients
    assert "not a dietary guarantee" in page.locator("#title_to_recipe_filters").inner_text()
    shoot(page, "filters")


def test_like_this_but_in_a_browser(page):
    page.locator("#photo_to_recipe_status").get_by_text("8 recipes match").wait_for()  # the preloaded example
    page.locator("#photo_to_recipe_but textarea, #photo_to_recipe_but input").first.fill("with lemon")
    page.locator("#photo_to_recipe_but_weight input[type=number]").fill("0.9")
    page.locator("#photo_to_recipe_but_weight input[type=number]").press("Enter")
    page.locator("#photo_to_recipe_but textarea, #photo_to_recipe_but input").first.press("Enter")  # Enter searches
    page.wait_for_function(
        "() => document.querySelector('#photo_to_recipe_status')?.textContent.includes('toward \u201cwith lemon')"
    )
    assert "weight 0.9" in page.locator("#photo_to_recipe_status").inner_text()
    shoot(page, "like_this_but")


def test_cook_from_what_i_have_in_a_browser(page):
    page.get_by_role("tab", name="Cook from what I have").click()
    page.locator("#cook_from_what_i_have_input textarea").fill("eggs\nflour\nmilk")
    page.locator("#cook_from_what_i_have_button").click()
    page.wait_for_function(
        "() => document.querySelector('#cook_from_what_i_have_status')?.textContent.includes('what you have')"
    )
    card = card_text(page, "cook_from_what_i_have")
    assert "uses" in card and "of yours" in card and ("still needs" in card or "needs nothing more" in card)
    shoot(page, "cook_from_what_i_have")
    page.locator("#cook_from_what_i_have_input textarea").fill("\U0001f95a\U0001f95b")
    page.locator("#cook_from_what_i_have_button").click()
    page.get_by_text("no words to match").first.wait_for()


def test_gallery_captions_show_the_whole_title(page):
    page.get_by_role("tab", name="Title \u2192 Recipe").click()
    page.get_by_label("Dish name").fill("chocolate cake brownies")
    page.locator("#title_to_recipe_button").click()
    page.locator("#title_to_recipe_gallery .caption-label").first.wait_for()
    cut = page.evaluate(
        """() => [...document.querySelectorAll('#title_to_recipe_gallery .caption-label')]
              .filter(c => c.scrollWidth > c.clientWidth + 1 || getComputedStyle(c).textOverflow === 'ellipsis')
              .map(c => c.textContent)"""
    )
    assert cut == []
    shoot(page, "captions")


# --- the README's screenshot: a real search of the sample --------------------------------------
README_SHOT = Path(__file__).resolve().parents[1] / "docs" / "search.png"


@pytest.mark.skipif(
    not os.environ.get("SCREENSHOT_INDEX"), reason="needs a trained index of the sample: `make screenshot`"
)
def test_readme_screenshot_of_a_real_search(tmp_path):
    """A photo from the sample's test split (the first whose own recipe comes first, so the
    card shows the match), searched in the served app; the page saved as a small PNG."""
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from pipeline.splits import split_of
    from ui.startup import load

    index, model, _ = load(os.environ["SCREENSHOT_INDEX"])
    ids = index.column("id")
    image = index.vectors("image").float()
    chosen = None
    for row in np.flatnonzero(index.has_recipe):
        if split_of(str(ids[row])) == "test":
            with_expansion = model.expand("image_to_recipe", image[row : row + 1])[0].detach().numpy()
            if index.search(with_expansion, model.fitted.recipe_vector, 1, rows=index.has_recipe)[0].row == row:
                chosen = int(row)
                break
    assert chosen is not None
    photo = tmp_path / "dish.jpg"
    original = SAMPLE_PHOTOS / f"{ids[chosen]}.jpg"
    photo.write_bytes(original.read_bytes() if original.is_file() else index.thumbnail_bytes(chosen))
    demo, url, _ = support.launch_app(index, model, tmp_path / "app", "the default model")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1560})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.locator("#photo_to_recipe_input button[aria-label='Remove Image']").click()
            page.locator("#top_k input[type=number]").fill("6")  # six, not the example's eight: our answer
            page.locator("#top_k input[type=number]").press("Enter")
            page.locator("#photo_to_recipe_input input[type=file]").set_input_files(str(photo))
            page.locator("#photo_to_recipe_status").get_by_text("6 recipes match this photo").wait_for()
            page.wait_for_timeout(1500)  # the gallery's images load
            raw = tmp_path / "search.png"
            page.screenshot(path=str(raw), full_page=False)
            browser.close()
    finally:
        demo.close()
    README_SHOT.parent.mkdir(exist_ok=True)
    # 256 colours: a third of the bytes, and the page's flat colours survive it.
    Image.open(raw).convert("RGB").quantize(256).save(README_SHOT, optimize=True)
    assert 20_000 < README_SHOT.stat().st_size < 600_000


def test_how_sure_looks_like_and_more_like_this_in_a_browser(page):
    status = page.locator("#photo_to_recipe_status")
    status.get_by_text("8 recipes match").wait_for()  # the preloaded example
    text = status.inner_text()
    assert "How sure: the first result is the photo's own recipe: likely (60%)" in text
    assert "Looks like: " in text and "of the 10 closest" in text
    card = card_text(page, "photo_to_recipe")
    assert "how sure" in card and "result 1 of 8" in card and "not a probability" in card
    first = page.locator("#photo_to_recipe_card h2").inner_text()
    shoot(page, "how_sure")
    page.locator("#photo_to_recipe_more").click()
    page.wait_for_function(
        "t => document.querySelector('#photo_to_recipe_status')?.textContent.includes('recipes like \u201c' + t)",
        arg=first,
    )
    assert page.locator("#photo_to_recipe_card h2").inner_text() != first  # the recipe itself is left out
    shoot(page, "more_like_this")


def test_text_with_no_letters_gets_a_note_in_a_browser(page):
    page.get_by_role("tab", name="Title \u2192 Recipe").click()
    page.get_by_label("Dish name").fill("\U0001f382\U0001f370")
    page.locator("#title_to_recipe_button").click()
    page.get_by_text("no letters to read").first.wait_for()
