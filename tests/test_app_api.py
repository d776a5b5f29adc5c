"""Each endpoint through gradio_client against the app launched on 127.0.0.1."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app_support as support

ENDPOINTS = ("/photo_to_recipe", "/title_to_recipe", "/recipe_to_photo", "/similar_photos")


@pytest.fixture(scope="module")
def client(tiny_model_dir, tmp_path_factory):
    index, model = support.make_index(tiny_model_dir, tmp_path_factory.mktemp("api_index"))
    demo, url = support.launch_app(index, model, tmp_path_factory.mktemp("api_thumbs"))
    yield Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path_factory.mktemp("dl")))
    demo.close()


def check(answer, k):
    gallery, results, photo, card, status = answer
    assert len(gallery) == len(results) == k
    assert all(item["caption"] for item in gallery)
    assert results[0]["title"] and results[0]["score"] >= results[-1]["score"]
    assert photo and "<article" in card and "status-line" in status
    return results


def test_every_endpoint_is_named(client):
    assert set(ENDPOINTS) <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_photo_endpoints(client, tmp_path):
    path = handle_file(str(support.photo(tmp_path / "dish.png")))
    check(client.predict(path, 4, api_name="/photo_to_recipe"), 4)
    check(client.predict(path, 3, api_name="/similar_photos"), 3)


def test_text_endpoints(client):
    results = check(client.predict("chocolate cake", 5, api_name="/title_to_recipe"), 5)
    assert all(r["instructions"] for r in results)
    check(client.predict("2 cups flour\n3 eggs", "Mix.\nBake.", 2, api_name="/recipe_to_photo"), 2)


def test_out_of_range_top_k_is_clamped_over_the_api(client):
    gallery, *_, status = client.predict("cake", 500, api_name="/title_to_recipe")
    assert "between" in status and 0 < len(gallery) <= 30


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: support.truncated_jpeg(d / "cut.jpg"), "damaged or incomplete"),
        (lambda d: support.decompression_bomb(d / "bomb.png"), "too large"),
        (lambda d: support.photo(d / "dot.png", size=(1, 1)), "pixels"),
    ],
)
def test_bad_photos_get_a_clear_error_and_the_server_keeps_serving(client, tmp_path, make, match):
    with pytest.raises(AppError, match=match):
        client.predict(handle_file(str(make(tmp_path))), 3, api_name="/photo_to_recipe")
    check(client.predict("soup", 2, api_name="/title_to_recipe"), 2)


def test_not_an_image_over_the_api(client, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    with pytest.raises(AppError, match="not an image"):
        client.predict(handle_file(str(text)), 3, api_name="/similar_photos")


def test_empty_text_over_the_api(client):
    with pytest.raises(AppError, match="Type a dish name"):
        client.predict("   ", 3, api_name="/title_to_recipe")
    with pytest.raises(AppError, match="Paste some ingredients"):
        client.predict("", "", 3, api_name="/recipe_to_photo")
