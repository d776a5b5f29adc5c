"""Each endpoint through gradio_client, and the probe's raw requests, against the app
launched on 127.0.0.1."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta

import gradio.route_utils
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app_support as support
from embeddings.serving.refine import BUT_WEIGHT

ENDPOINTS = ("/photo_to_recipe", "/title_to_recipe", "/recipe_to_photo", "/similar_photos", "/cook_from_what_i_have")


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    """(demo, url, search) of the launched app."""
    index, model = support.make_index(tiny_model_dir, tmp_path_factory.mktemp("api_index"))
    demo, url, search = support.launch_app(index, model, tmp_path_factory.mktemp("api_app"))
    yield demo, url, search
    demo.close()


@pytest.fixture(scope="module")
def client(served, tmp_path_factory):
    return Client(served[1], verbose=False, analytics_enabled=False, download_files=str(tmp_path_factory.mktemp("dl")))


# What a raw HTTP caller sends after the query and top_k: the refinement and filter inputs
# (a raw call, unlike gradio_client, must send every input).
REST = {
    "photo_to_recipe": ["", BUT_WEIGHT, "", "", []],
    "title_to_recipe": ["", "", []],
    "cook_from_what_i_have": ["", []],
}


def raw_call(url: str, api: str, data: list) -> str:
    """The two requests of Gradio's HTTP API, as any HTTP client (not gradio_client) sends
    them: POST the inputs, then GET the event's stream. Returns the stream's text.
    json.dumps escapes a lone surrogate as \\ud800, as a hostile client would send it."""
    body = json.dumps({"data": data + REST.get(api, [])})
    posted = httpx.post(f"{url}gradio_api/call/{api}", content=body, headers={"content-type": "application/json"})
    posted.raise_for_status()
    return httpx.get(f"{url}gradio_api/call/{api}/{posted.json()['event_id']}", timeout=60).text


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
    # Each result carries the answer's how-sure fields; "more like this" takes a result's id.
    assert set(results[0]["answer"]) >= {"confidence", "looks_like", "sentences"}
    near = check(client.predict(results[0]["id"], 3, api_name="/more_like_this"), 3)
    assert results[0]["id"] not in [r["id"] for r in near]


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


# --- the probe's cases ---------------------------------------------------------------------
@pytest.mark.parametrize("api", ["photo_to_recipe", "similar_photos"])
def test_a_path_gradio_did_not_receive_is_never_opened(served, api, tmp_path):
    """A photo sent as {"path": ...} without Gradio's upload marker reaches the handler
    as it is: an existing file, a real image elsewhere on the server, a folder and a path
    that does not exist must all get the same reply, the one a lost upload gets."""
    _, url, _ = served
    image_on_server = support.photo(tmp_path / "server_photo.png")
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(30 * 2**20)  # over the upload limit, were its size looked at
    paths = ["/etc/shadow", "/etc/hostname", str(image_on_server), str(big), str(tmp_path), "/no/such/photo.jpg"]
    replies = {path: raw_call(url, api, [{"path": path}, 3]) for path in paths}
    assert len(set(replies.values())) == 1, replies
    assert replies["/etc/shadow"].startswith("event: error") and "did not arrive" in replies["/etc/shadow"]
    # A bare string is refused by Gradio's own input check, the same way whatever it names.
    assert len({raw_call(url, api, [path, 3]) for path in paths}) == 1


@pytest.mark.parametrize("text", ["\x00\x00\x00", "\ud800", "\x07\u200b\u2060\ufeff \x1b"])
def test_text_of_nothing_but_control_characters_is_refused(served, text):
    _, url, _ = served
    assert "Type a dish name" in raw_call(url, "title_to_recipe", [text, 3])
    assert "Paste some ingredients" in raw_call(url, "recipe_to_photo", [text, text, 3])


def test_a_lone_surrogate_inside_a_title_is_replaced_not_fatal(served):
    _, url, _ = served
    reply = raw_call(url, "title_to_recipe", ["lemon\ud800 chicken", 3])
    assert reply.startswith("event: complete"), reply[:300]


def test_an_unexpected_fault_gets_our_message_not_gradios(served, client, monkeypatch, caplog, capfd):
    """Our message to the visitor; the fault logged once, with its traceback, by us."""
    _, _, search = served

    def broken(*args, **kwargs):
        raise RuntimeError("simulated fault deep inside the model at /srv/secret/path")

    monkeypatch.setattr(search.model, "encode_title", broken)
    capfd.readouterr()
    with caplog.at_level("INFO"), pytest.raises(AppError) as raised:
        client.predict("soup", 3, api_name="/title_to_recipe")
    assert "went wrong" in str(raised.value) and "show_error" not in str(raised.value)
    assert "/srv/secret" not in str(raised.value)
    faults = [r for r in caplog.records if r.exc_info and "simulated fault" in str(r.exc_info[1])]
    assert len(faults) == 1 and "Traceback" not in capfd.readouterr().err  # not printed a second time by Gradio


def test_monitoring_is_closed(served):
    _, url, _ = served
    for route in ("monitoring", "monitoring/summary"):
        answer = httpx.get(url + route)
        assert answer.status_code in (403, 404), (route, answer.status_code, answer.text[:200])
        assert "success_rate" not in answer.text


def test_served_files_are_never_sniffed(served, client, tmp_path):
    """An HTML page uploaded under a .png name comes back with nosniff, so no browser runs it."""
    _, url, _ = served
    page = tmp_path / "page.png"
    page.write_text("<html><script>alert(1)</script></html>")
    with open(page, "rb") as handle:
        uploaded = httpx.post(f"{url}gradio_api/upload", files={"files": ("page.png", handle, "image/png")})
    served_back = httpx.get(f"{url}gradio_api/file={uploaded.json()[0]}")
    assert served_back.status_code == 200
    assert served_back.headers.get("x-content-type-options") == "nosniff"
    thumbnail = client.predict("soup", 1, api_name="/title_to_recipe")[0][0]["image"]
    assert httpx.get(f"{url}gradio_api/file={thumbnail}").headers.get("x-content-type-options") == "nosniff"


def test_old_uploads_are_deleted(served, tmp_path, monkeypatch):
    """An upload older than the app's limit disappears without a restart: the clock is
    moved past the limit and the app's own cleaner (not the test) must remove the file."""
    demo, url, _ = served
    with open(support.photo(tmp_path / "dish.png"), "rb") as handle:
        uploaded = httpx.post(f"{url}gradio_api/upload", files={"files": ("dish.png", handle, "image/png")})
    path = uploaded.json()[0]
    assert os.path.isfile(path)

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(days=30)

    monkeypatch.setattr(gradio.route_utils, "datetime", Later)
    waited = 0.0
    while os.path.exists(path) and waited < 30:  # a wait for the cleaner's next round, not a timing
        time.sleep(0.5)
        waited += 0.5
    assert not os.path.exists(path)


def test_a_refusal_is_logged_as_one_line(client, caplog, capfd):
    capfd.readouterr()  # what earlier tests printed
    with caplog.at_level("INFO"), pytest.raises(AppError, match="Type a dish name"):
        client.predict("   ", 3, api_name="/title_to_recipe")
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out
    refusals = [r for r in caplog.records if "Type a dish name" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].exc_info is None and "\n" not in refusals[0].getMessage()


def test_a_restart_with_the_same_index_reuses_its_example_answers(tiny_model_dir, tmp_path, capsys):
    """The second start finds the first one's example answers (Gradio says which it does)
    instead of running them again. Gradio names an example's cache after its component's
    number, counted from 0 in each process: the counter is set back as a restart would."""
    from gradio.context import Context

    import app

    index, model = support.make_index(tiny_model_dir, tmp_path)
    first_number = Context.id
    said = []
    for _ in range(2):
        Context.id = first_number
        demo = app.build_demo(index, model, cache_root=tmp_path / "cache")
        app.launch(demo, port=support.free_port(), prevent_thread_lock=True, quiet=True)
        demo.close()
        said.append(capsys.readouterr().out)
    assert "Caching examples at" in said[0] and "Using cache from" not in said[0]
    assert "Using cache from" in said[1] and "Caching examples at" not in said[1]
    cache = tmp_path / "cache"
    assert len(list(cache.glob("examples-*"))) == len(list(cache.glob("thumbnails-*"))) == 1
