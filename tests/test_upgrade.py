"""A first `make demo`: the quick model serves while the full one is made, the page says how
far it is, and the app switches to the better index by itself (ui/upgrade.py, train/first_run.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from train import first_run
from ui.search import RecipeSearch
from ui.upgrade import SwappableSearch, Upgrade

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def serving(loaded, tmp_path):
    index, model = loaded
    return SwappableSearch(RecipeSearch(index, model, tmp_path / "quick-thumbs", None), "quick model")


def test_switches_once_the_better_index_is_there(loaded, serving, tmp_path):
    index, model = loaded
    target = tmp_path / "full-index"
    made = []

    def load(directory):
        made.append(directory)
        return RecipeSearch(index, model, tmp_path / "full-thumbs"), "full model"

    upgrade = Upgrade(serving, target, load)
    quick = serving.current
    example = quick.thumbnails.path(3)  # an example photo the page offered before the switch
    assert not upgrade.check_once() and serving.current is quick and made == []
    shutil.copytree(index.directory, target)
    assert upgrade.check_once() and serving.current is not quick and made == [target]
    assert serving.label == "full model" and "Serving the <b>full model</b>" in upgrade.banner()
    gallery, results, *_ = serving.photo_to_recipe(example, 3)  # still readable after the switch
    assert len(results) == 3 and all(path.startswith(str(tmp_path / "full-thumbs")) for path, _ in gallery)
    assert upgrade.check_once() and made == [target]  # once only


def test_a_better_index_that_fails_to_load_keeps_the_quick_model(serving, tmp_path):
    target = tmp_path / "broken"
    target.mkdir()
    (target / "manifest.json").write_text("{")

    def load(directory):
        raise SystemExit(f"The index at {directory} failed its checks")

    upgrade = Upgrade(serving, target, load)
    assert not upgrade.check_once() and serving.label == "quick model"
    # The reason (with its path) is the server log's, never the page's.
    assert "could not be loaded" in upgrade.banner() and "failed its checks" not in upgrade.banner()
    assert str(target) not in upgrade.banner()


def test_banner_shows_the_step_and_its_progress_never_log_text(serving, tmp_path):
    status = tmp_path / "full-run.json"
    first_run.write_status(status, 0, "running", time.time() - 125)
    (tmp_path / first_run.LOG_FILE).write_text(
        "loading\nphoto views:  10%|#  | 3/30\rphoto views /srv/secret/path:  40%|####  | 12/30\r"
    )
    upgrade = Upgrade(serving, tmp_path / "none", lambda d: None, status)
    banner = upgrade.banner()
    assert "step 1 of 2, training the full model" in banner and "2 min so far" in banner
    assert "40% of its current stage" in banner and "10%" not in banner
    assert "photo views" not in banner and "/srv/secret" not in banner
    (tmp_path / first_run.LOG_FILE).write_text("Traceback (most recent call last):\n  File /srv/secret.py\n")
    assert "secret" not in upgrade.banner() and "Traceback" not in upgrade.banner()
    first_run.write_status(status, -1, "failed", time.time(), "`python -m train` failed (exit 1) at /srv/x <b>")
    html, timer = upgrade.tick()
    assert "failed" in html and "/srv/x" not in html and "<b>" not in html.replace("<b>quick model</b>", "")
    assert timer.active is False


def test_app_page_shows_the_banner_while_waiting(loaded, tmp_path):
    import app

    status = tmp_path / "full-run.json"
    first_run.write_status(status, 1, "running", time.time())
    demo = app.build_demo(*loaded, cache_root=tmp_path / "cache", better=tmp_path / "not-yet", progress=status)
    page = " ".join(str(c.get("props", {}).get("value", "")) for c in demo.config["components"])
    assert "step 2 of 2, indexing the collection with it" in page
    named = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert "cook_from_what_i_have" in named


def test_a_pid_file_names_a_run_only_while_it_lives(tmp_path):
    pid_file = tmp_path / "full-run.pid"
    assert not first_run.running(pid_file)
    pid_file.write_text(f"{os.getpid()}\n")  # alive, but pytest, not a first run
    assert not first_run.running(pid_file)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "train.first_run"])
    try:
        pid_file.write_text(f"{child.pid}\n")
        cmdline = Path(f"/proc/{child.pid}/cmdline")
        for _ in range(200):  # until the child has exec'd: before that its command line is pytest's
            if b"time.sleep" in cmdline.read_bytes():
                break
            time.sleep(0.05)
        assert first_run.running(pid_file)
    finally:
        child.kill()
        child.wait()
    assert not first_run.running(pid_file)


def test_first_run_with_the_full_index_ready_does_nothing(tmp_path, capsys):
    index = tmp_path / "index"
    index.mkdir()
    (index / "manifest.json").write_text(json.dumps({}))
    first_run.main(
        ["--data", "nowhere", "--model", str(tmp_path / "m"), "--index", str(index), "--quick", str(tmp_path)]
    )
    assert "ready" in capsys.readouterr().out and not (tmp_path / first_run.PID_FILE).exists()


def test_first_run_makes_the_quick_model_and_starts_the_full_one(tmp_path, monkeypatch, capsys):
    """The steps, with the training and building replaced at the subprocess seam."""
    ran, started = [], []
    monkeypatch.setattr(first_run, "run", lambda command, log=None: ran.append(command[2:4]))

    class Child:
        pid = 4242

    monkeypatch.setattr(first_run.subprocess, "Popen", lambda command, **kw: started.append(command) or Child())
    args = [
        "--data",
        "d",
        "--model",
        str(tmp_path / "m"),
        "--index",
        str(tmp_path / "i"),
        "--quick",
        str(tmp_path / "q"),
    ]
    first_run.main(args)
    assert ran == [["train", "--data"], ["embeddings", "build"]]
    assert "--background" in started[0] and (tmp_path / "q" / first_run.PID_FILE).read_text() == "4242\n"
    assert "trains in the background" in capsys.readouterr().out


def test_make_stop_ends_the_whole_background_run(tmp_path):
    """`make stop` ends the process group the pid file names (the run and its training child)
    with /bin/sh's own kill, which takes no `--`."""
    child = "import time; time.sleep(60)"
    script = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        (tmp_path / first_run.PID_FILE).write_text(f"{leader.pid}\n")
        time.sleep(1)  # the child has started
        done = subprocess.run(["make", "-s", "stop", f"FIRST={tmp_path}"], cwd=ROOT, capture_output=True, text=True)
        assert "stopped the background run" in done.stdout, done.stderr
        assert leader.wait(timeout=10) != 0
        time.sleep(0.5)
        group = subprocess.run(["pgrep", "-g", str(leader.pid)], capture_output=True, text=True).stdout.split()
        assert all(state(pid) in ("Z", None) for pid in group)  # the grandchild went too (at most unreaped)
    finally:
        if leader.poll() is None:
            leader.kill()


def state(pid: str) -> str | None:
    """A process's state letter from /proc (None once it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_every_endpoint_answers_from_the_search_swapped_in(loaded, serving, tmp_path):
    """The swap delegates exactly the methods marked @endpoint (ui/search.py's ENDPOINTS);
    any other method is refused by name rather than left bound to the quick model."""
    from ui.search import ENDPOINTS

    index, model = loaded
    assert {"photo_to_recipe", "title_to_recipe", "recipe_to_photo", "more_like_this", "show_result"} <= set(ENDPOINTS)
    full = RecipeSearch(index, model, tmp_path / "full-thumbs")
    called = []
    for name in ENDPOINTS:
        setattr(full, name, lambda *args, _name=name, **kwargs: called.append(_name))
    serving.swap(full, "full model")
    for name in ENDPOINTS:
        getattr(serving, name)()
    assert called == list(ENDPOINTS)
    with pytest.raises(AttributeError, match="_search is not marked @endpoint"):
        getattr(serving, "_search")  # noqa: B009 (the read itself is under test)
    assert serving.index is index  # plain attributes still read from the current search
