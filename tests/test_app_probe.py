"""The second probe of the served app (issue 25), as tests against the app launched on
127.0.0.1: the queue cannot be skipped, uploads are bounded, raw calls get the defaults,
wrong arguments are refused naming them, headers fit a Space, closed routes stay closed."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import test_app_api
from gradio_client import handle_file

import app_support as support
from ui import layout, storage, uploads
from ui.inputs import LOST_PHOTO

# The launched app and its client, as test_app_api.py makes them (one server for this module).
served, client = test_app_api.served, test_app_api.client

JSON = {"content-type": "application/json"}


def call(url: str, api: str, data, transport=None) -> str:
    """Gradio's two-request HTTP API with exactly `data` (no defaults added): the stream's text."""
    with httpx.Client(transport=transport, timeout=60) as http:
        posted = http.post(f"{url}gradio_api/call/{api}", content=json.dumps({"data": data}), headers=JSON)
        posted.raise_for_status()
        return http.get(f"{url}gradio_api/call/{api}/{posted.json()['event_id']}").text


def upload(url: str, path, transport=None) -> str:
    with httpx.Client(transport=transport, timeout=60) as http, open(path, "rb") as handle:
        answer = http.post(f"{url}gradio_api/upload", files={"files": (os.path.basename(path), handle, "image/png")})
    answer.raise_for_status()
    return answer.json()[0]


def refused(reply: str) -> str:
    assert reply.startswith("event: error"), reply[:300]
    return reply


# --- the queue -------------------------------------------------------------------------------
def test_the_direct_run_route_is_closed_and_the_queue_serves(served, client):
    _, url, _ = served
    for route in ("run", "api"):
        direct = httpx.post(f"{url}gradio_api/{route}/title_to_recipe", json={"data": ["soup", 3, "", "", []]})
        assert direct.status_code == 404, (route, direct.status_code, direct.text[:200])
    assert len(client.predict("soup", 3, api_name="/title_to_recipe")[1]) == 3


def test_searches_run_at_most_two_at_a_time_whoever_sends_them(served, monkeypatch):
    """Four title searches sent at once: the queue runs them MODEL_CONCURRENCY at a time."""
    _, url, search = served
    running, most, lock = 0, 0, threading.Lock()
    real = search.model.encode_title

    def slow(titles):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.5)  # long enough that the four overlap unless the queue holds them back
        with lock:
            running -= 1
        return real(titles)

    monkeypatch.setattr(search.model, "encode_title", slow)
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda i: call(url, "title_to_recipe", [f"soup {i}", 3]), range(4)))
    assert all(reply.startswith("event: complete") for reply in replies)
    assert most == layout.MODEL_CONCURRENCY


# --- raw calls -------------------------------------------------------------------------------
def test_raw_calls_with_only_the_required_arguments_get_the_defaults(served, tmp_path):
    _, url, _ = served
    assert call(url, "title_to_recipe", ["chocolate cake"]).startswith("event: complete")
    assert call(url, "recipe_to_photo", ["2 cups flour", "Bake."]).startswith("event: complete")
    photo = {"path": upload(url, support.photo(tmp_path / "dish.png")), "meta": {"_type": "gradio.FileData"}}
    assert call(url, "photo_to_recipe", [photo]).startswith("event: complete")
    assert call(url, "similar_photos", [photo]).startswith("event: complete")


def test_a_missing_required_argument_is_named(served, caplog, capfd):
    _, url, _ = served
    capfd.readouterr()
    with caplog.at_level("INFO"):
        assert "missing its title argument" in refused(call(url, "title_to_recipe", []))
    assert "Traceback" not in capfd.readouterr().err
    assert len([r for r in caplog.records if "missing its title" in r.getMessage()]) == 1


def test_a_marked_file_object_outside_the_upload_folder_gets_the_lost_upload_reply(served, caplog, capfd):
    _, url, _ = served
    capfd.readouterr()
    marked = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}
    with caplog.at_level("INFO"):
        for api in ("photo_to_recipe", "similar_photos"):
            assert LOST_PHOTO in refused(call(url, api, [marked, 3]))
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out
    lines = [r for r in caplog.records if LOST_PHOTO in r.getMessage()]
    assert len(lines) == 2 and all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)


@pytest.mark.parametrize(
    "api, data, named",
    [
        ("title_to_recipe", ["soup", 3, "", "", [{"a": 1}]], "diets must be a list"),
        ("title_to_recipe", ["soup", 3, "", "", 5], "diets must be a list"),
        ("title_to_recipe", ["soup", 3, "", "", [["vegetarian"]]], "diets must be a list"),
        ("title_to_recipe", [5, 3], "title must be text"),
        ("title_to_recipe", [["soup"], 3], "title must be text"),
        ("title_to_recipe", ["soup", 3, {"x": 1}], "list must be text"),
        ("recipe_to_photo", ["flour", 7, 3], "instructions must be text"),
        ("photo_to_recipe", [{"path": "/tmp/x\x00.png"}, 3], LOST_PHOTO),
        ("photo_to_recipe", [{"path": "a" * 5000}, 3], LOST_PHOTO),
        ("photo_to_recipe", [{"path": "/" + "a/" * 3000 + "x.png"}, 3], LOST_PHOTO),
        ("photo_to_recipe", [5, 3], "photo must be an uploaded file"),
        ("photo_to_recipe", [{"path": 5}, 3], "photo must be an uploaded file"),
    ],
)
def test_wrong_types_are_the_visitors_mistake_and_say_which_argument(served, capfd, api, data, named):
    _, url, _ = served
    capfd.readouterr()
    reply = refused(call(url, api, data))
    assert named in reply and "went wrong" not in reply
    assert "Traceback" not in capfd.readouterr().err


def test_a_reply_never_echoes_more_than_a_few_hundred_characters(served):
    _, url, _ = served
    names = [f"diet{i}" for i in range(10_000)]
    words = ", ".join(f"word{i}" for i in range(400))
    reply = call(url, "title_to_recipe", ["soup", 3, words, words, names])
    assert reply.startswith("event: complete") and len(reply) < 60_000
    status = json.loads(reply.split("data: ", 1)[1])[4]
    assert len(status) < 1_500 and "diet9999" not in status and "word399" not in status


# --- which files a search reads -------------------------------------------------------------
def test_another_visitors_upload_is_not_searched_by_its_path(served, tmp_path):
    _, url, _ = served
    path = upload(url, support.photo(tmp_path / "mine.png"))
    mine = {"path": path, "meta": {"_type": "gradio.FileData"}}
    assert call(url, "similar_photos", [mine, 3]).startswith("event: complete")
    other = httpx.HTTPTransport(local_address="127.0.0.2")  # another visitor, at another address
    assert LOST_PHOTO in refused(call(url, "similar_photos", [mine, 3], transport=other))
    assert LOST_PHOTO in refused(call(url, "similar_photos", [{"path": path}, 3], transport=other))


def test_a_file_of_ours_that_is_not_a_photo_gets_the_lost_upload_reply(served):
    _, url, search = served
    lock = search.thumbnails.folder / storage.LOCK_FILE
    lock.touch()
    for value in ({"path": str(lock)}, {"path": str(lock), "meta": {"_type": "gradio.FileData"}}):
        assert LOST_PHOTO in refused(call(url, "similar_photos", [value, 3]))
    thumbnail = search.thumbnails.path(0)  # an example photo: one of ours, and searchable
    assert call(url, "similar_photos", [{"path": thumbnail}, 3]).startswith("event: complete")


# --- uploads ----------------------------------------------------------------------------------
@pytest.fixture()
def small_budgets(monkeypatch):
    """Budgets of a few small photos, and the records of earlier tests' uploads set aside."""
    registry = uploads.UPLOADS
    monkeypatch.setattr(registry, "files", {})
    monkeypatch.setattr(registry, "per_visitor", 3 * 5_000)
    monkeypatch.setattr(registry, "total", 5 * 5_000)
    return registry


def sized_photo(path, seed: int):
    """A PNG of about 4.8 kB, each seed different (so each gets its own upload path)."""
    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(seed).integers(0, 255, (38, 38, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    return path


def test_an_upload_flood_stays_within_the_budgets(served, small_budgets, tmp_path):
    _, url, _ = served
    assert os.path.getsize(sized_photo(tmp_path / "size.png", 0)) < 5_000
    first = [upload(url, sized_photo(tmp_path / f"a{i}.png", i)) for i in range(5)]
    # One visitor keeps at most their budget (3 photos): the oldest went first.
    assert [os.path.exists(p) for p in first] == [False, False, True, True, True]
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    second = [upload(url, sized_photo(tmp_path / f"b{i}.png", 10 + i), transport=other) for i in range(3)]
    # The folder keeps at most 5 of them: the other visitor's came last, so the first visitor's oldest went.
    assert [os.path.exists(p) for p in first + second] == [False, False, False, True, True, True, True, True]
    assert all(os.path.exists(p) for p in second)


def test_one_request_carries_at_most_a_few_files(served, small_budgets, tmp_path):
    _, url, _ = served
    photos = [sized_photo(tmp_path / f"many{i}.png", 100 + i) for i in range(uploads.MAX_FILES_PER_REQUEST + 1)]
    handles = [open(p, "rb") for p in photos]
    try:
        answer = httpx.post(
            f"{url}gradio_api/upload", files=[("files", (p.name, h, "image/png")) for p, h in zip(photos, handles)]
        )
    finally:
        for handle in handles:
            handle.close()
    assert answer.status_code == 413 and "at most" in answer.text.lower()
    assert small_budgets.files == {}


def test_a_request_over_the_byte_limit_is_refused_before_it_is_read(served, monkeypatch, tmp_path):
    _, url, _ = served
    monkeypatch.setattr(uploads, "MAX_REQUEST_BYTES", 2_000)
    with open(sized_photo(tmp_path / "big.png", 7), "rb") as handle:
        answer = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.png", handle, "image/png")})
    assert answer.status_code == 413


def test_an_upload_no_search_read_goes_sooner(served, small_budgets, tmp_path):
    _, url, _ = served
    unread = upload(url, sized_photo(tmp_path / "unread.png", 21))
    read = upload(url, sized_photo(tmp_path / "read.png", 22))
    assert call(url, "similar_photos", [{"path": read}, 3]).startswith("event: complete")
    small_budgets.sweep(now=time.time() + uploads.UNREAD_MAX_AGE_S + 1)
    assert not os.path.exists(unread) and os.path.exists(read)


def test_the_page_uploads_a_photo_as_before(served, client, tmp_path):
    path = handle_file(str(support.photo(tmp_path / "dish.png")))
    assert len(client.predict(path, 3, api_name="/photo_to_recipe")[1]) == 3


# --- headers and routes ----------------------------------------------------------------------
def test_headers_fit_a_space(served):
    _, url, _ = served
    page = httpx.get(url)
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    policy = page.headers["content-security-policy"]
    ancestors = next(part for part in policy.split(";") if "frame-ancestors" in part).split()[1:]
    assert ancestors == ["https://huggingface.co"]


@pytest.mark.parametrize("origin", ["http://localhost:9999", "http://127.0.0.1:1", "https://evil.example", "null"])
def test_no_other_origin_gets_credentials_or_its_origin_echoed(served, origin):
    _, url, _ = served
    simple = httpx.get(f"{url}config", headers={"origin": origin})
    preflight = httpx.options(
        f"{url}gradio_api/upload", headers={"origin": origin, "access-control-request-method": "POST"}
    )
    for answer in (simple, preflight):
        assert "access-control-allow-origin" not in answer.headers, (origin, dict(answer.headers))
        assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize(
    "route",
    [
        "gradio_api/token",
        "gradio_api/token/",
        "gradio_api/runs",
        "gradio_api/runs/",
        "gradio_api/deep_link?session_hash=x",
        "gradio_api/dev/reload",
        "openapi.json",
        "docs",
    ],
)
def test_routes_a_visitor_never_needs_are_closed(served, route):
    _, url, _ = served
    assert httpx.get(url + route).status_code == 404


def test_a_visitor_is_their_address_and_on_a_space_the_one_the_proxy_forwards(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert uploads.visitor_of("127.0.0.1", "203.0.113.7") == "127.0.0.1"  # a header nobody vouches for
    monkeypatch.setenv("SPACE_ID", "user/recipe-finder")
    # On a Space every request comes from the proxy's internal address; the visitor's is forwarded.
    assert uploads.visitor_of("10.16.3.80", "203.0.113.7, 10.0.0.1") == "203.0.113.7"
    assert uploads.visitor_of("10.16.3.80", None) == "10.16.3.80"
