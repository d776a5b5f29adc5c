"""embeddings.serving.hub with its network functions replaced at the seam: no network. A fake Hub
records uploads into folders named like the HF cache's snapshots/<commit>/, and serves
them back to snapshot_download."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import embeddings.serving.hub as hub
from embeddings import CorruptIndexError, load_index
from embeddings.building.build import build_index
from embeddings.building.publish import publish
from embeddings.serving.manifest import model_fingerprint
from tiny import make_tiny_model_dir

EVAL = {
    "image_to_recipe": {"medr": 12.0, "r1": 0.213, "r1_std": 0.011, "r5": 0.45, "r10": 0.58, "pool": 500, "bags": 10},
    "title_to_image": {"medr": 30.0, "r1": 0.1, "r5": 0.3, "r10": 0.4, "pool": 1000, "bags": 10},
}


class FakeHub:
    """Stands in for HfApi (calls recorded) and snapshot_download (serves commits)."""

    def __init__(self, root: Path):
        self.root, self.calls, self.repos = root, [], {}  # repos: (repo, revision) -> snapshot dir

    # --- HfApi ---
    def __call__(self, *args, **kwargs):  # HfApi() -> this object
        return self

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def create_commit(self, repo_id, operations, **kwargs):
        operations = list(operations)
        names = [op.path_in_repo for op in operations]
        commit = hashlib.sha1(json.dumps([repo_id, names]).encode()).hexdigest()
        snapshot = self.root / repo_id.replace("/", "--") / "snapshots" / commit
        for op in operations:
            (snapshot / op.path_in_repo).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(op.path_or_fileobj, snapshot / op.path_in_repo)
        self.repos[(repo_id, commit)] = self.repos[(repo_id, kwargs.get("revision") or "main")] = snapshot
        self.calls.append(("create_commit", repo_id, {"files": names, "revision": kwargs.get("revision")}))
        return type("CommitInfo", (), {"oid": commit})()

    def create_tag(self, repo_id, **kwargs):
        self.repos[(repo_id, kwargs["tag"])] = self.repos[(repo_id, kwargs["revision"])]
        self.calls.append(("create_tag", repo_id, kwargs))

    # --- snapshot_download ---
    def snapshot_download(self, repo_id, revision=None, allow_patterns=None, **kwargs):
        self.calls.append(("snapshot_download", repo_id, {"revision": revision, "allow_patterns": allow_patterns}))
        return str(self.repos[(repo_id, revision or "main")])


@pytest.fixture()
def fake_hub(tmp_path, monkeypatch):
    fake = FakeHub(tmp_path / "hub")
    monkeypatch.setattr(hub, "HfApi", fake)
    monkeypatch.setattr(hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.setattr(hub, "get_token", lambda: "hf_not_a_real_token")
    return fake


@pytest.fixture()
def model_and_index(tiny_model_dir, kaggle_folder, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir, ignore=shutil.ignore_patterns("_backbone"))
    (model_dir / "eval_test.json").write_text(json.dumps(EVAL))
    build_index(model_dir, kaggle_folder, tmp_path / "index", progress=False)
    return model_dir, tmp_path / "index"


def test_local_paths_never_touch_the_hub(fake_hub, tiny_model_dir, model_and_index):
    model = hub.load_model(tiny_model_dir)
    assert model.config.embed_dim == 16
    load_index(model_and_index[1])
    assert fake_hub.calls == []


def test_publish_uploads_the_exact_file_list_and_loads_back(fake_hub, model_and_index, capsys):
    model_dir, index_dir = model_and_index
    result = publish(model_dir, index_dir, "cook/recipe-retriever", tag="v1")
    text_files = sorted(f"title_text/{p.name}" for p in (model_dir / "title_text").iterdir())
    expected = sorted(
        [
            "README.md",
            "config.json",
            "model.safetensors",
            "eval_test.json",
            "index/manifest.json",
            "index/embeddings.safetensors",
            "index/recipes.parquet",
            "index/engine/image-pooled.onnx",  # the served passes' graphs go up with the index
            "index/engine/text-title.onnx",
            *text_files,
        ]
    )
    assert result["files"] == expected
    names = [call[0] for call in fake_hub.calls]
    assert names == ["create_repo", "create_commit", "create_tag"]
    assert fake_hub.calls[0][1:] == (
        "cook/recipe-retriever",
        {"repo_type": "model", "private": False, "exist_ok": True},
    )
    assert fake_hub.calls[1][2] == {"files": expected, "revision": None}
    assert fake_hub.calls[2][2]["tag"] == "v1" and fake_hub.calls[2][2]["revision"] == result["commit"]
    assert (
        "preload_from_hub:\n  - cook/recipe-retriever " in result["preload"] and result["commit"] in result["preload"]
    )
    assert "hf_not_a_real_token" not in capsys.readouterr().out

    # What a Space does: the index names its own repo as the model, at the commit it came from.
    fake_hub.calls.clear()
    index = load_index("cook/recipe-retriever", revision="v1")
    assert index.manifest["model"]["source"] == "cook/recipe-retriever"
    assert index.manifest["model"]["revision"] == result["commit"]
    model = hub.load_model(index.manifest["model"]["source"], index.manifest["model"]["revision"])
    index.check_model(model)  # same weights as the ones that made the vectors
    assert model_fingerprint(model) == index.manifest["model"]["fingerprint"]
    assert fake_hub.calls == [
        ("snapshot_download", "cook/recipe-retriever", {"revision": "v1", "allow_patterns": hub.INDEX_PATTERNS}),
        (
            "snapshot_download",
            "cook/recipe-retriever",
            {"revision": result["commit"], "allow_patterns": hub.MODEL_PATTERNS},
        ),
    ]


def test_model_card_has_metadata_table_and_usage(fake_hub, model_and_index):
    model_dir, index_dir = model_and_index
    publish(model_dir, index_dir, "cook/recipe-retriever", datasets=["epicurious-sample"])
    card = (fake_hub.repos[("cook/recipe-retriever", "main")] / "README.md").read_text()
    front = card.split("---\n")[1]
    for line in (
        "library_name: pytorch",
        "license: cc-by-sa-3.0",
        "tags:\n- image-retrieval",
        "datasets:\n- epicurious-sample",
    ):
        assert line in front
    assert "| image → recipe | 500 | 10 | 12.0 | 21.3 ± 1.1 | 45.0 | 58.0 |" in card
    assert "| title → image | 1000 | 10 |" in card
    assert 'load_index("cook/recipe-retriever"' in card and "22 recipes" in card
    assert "256-d lexical features" in card and " title terms" in card


def test_model_only_push_for_the_train_cli(fake_hub, tiny_model_dir):
    result = publish(tiny_model_dir, None, "cook/only-model", private=True, revision="dev")
    assert not any(name.startswith("index/") for name in result["files"])
    assert (
        "create_branch",
        "cook/only-model",
        {"branch": "dev", "repo_type": "model", "exist_ok": True},
    ) in fake_hub.calls
    assert hub.load_model("cook/only-model", "dev").config.embed_dim == 16


def test_no_token_no_upload(fake_hub, model_and_index, monkeypatch):
    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(PermissionError, match="HF_TOKEN"):
        publish(*model_and_index, "cook/recipe-retriever")
    assert fake_hub.calls == []


def test_an_index_from_another_model_is_not_published(fake_hub, model_and_index, tmp_path):
    other = make_tiny_model_dir(tmp_path / "other", seed=3)
    with pytest.raises(CorruptIndexError, match="model mismatch"):
        publish(other, model_and_index[1], "cook/recipe-retriever")
    assert fake_hub.calls == []


def test_bad_ids_are_named(fake_hub, tiny_model_dir):
    with pytest.raises(ValueError, match="USER/NAME"):
        publish(tiny_model_dir, None, "not a repo")
    with pytest.raises(FileNotFoundError, match="no such local directory"):
        hub.load_model("no/such/dir/here")


def test_hub_failures_become_file_not_found(monkeypatch, tmp_path):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("no cached snapshot")

    monkeypatch.setattr(hub, "snapshot_download", offline)
    with pytest.raises(FileNotFoundError, match="cook/absent at revision v2: not found in the local cache"):
        load_index("cook/absent", revision="v2")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "artifacts").mkdir()  # "artifacts/index" is then a local path, never a repo id
    with pytest.raises(FileNotFoundError, match="artifacts/index: no such local directory"):
        load_index("artifacts/index")


def test_train_cli_push_to_hub_trains_builds_and_publishes(fake_hub, tmp_path, text_backbone_dir):
    from tiny import train_tiny

    train_tiny(tmp_path, text_backbone_dir, "--push-to-hub", "cook/trained", corrupt=0, missing=0)
    commits = [c for c in fake_hub.calls if c[0] == "create_commit"]
    assert len(commits) == 1 and commits[0][1] == "cook/trained"
    files = set(commits[0][2]["files"])
    assert {
        "config.json",
        "model.safetensors",
        "README.md",
        "index/manifest.json",
        "index/embeddings.safetensors",
        "index/recipes.parquet",
    } <= files
    assert (tmp_path / "model-index" / "manifest.json").is_file()
    assert hub.load_model("cook/trained").config.embed_dim == 16


def test_a_re_ranker_models_index_publishes_and_preloads_its_ingredient_lines(fake_hub, kaggle_folder, tmp_path):
    from fnmatch import fnmatch

    from embeddings.serving.manifest import LINES_FILE

    model_dir = make_tiny_model_dir(tmp_path / "model", rerank=3)
    build_index(model_dir, kaggle_folder, tmp_path / "index", progress=False)
    result = publish(model_dir, tmp_path / "index", "cook/reranked")
    assert f"index/{LINES_FILE}" in result["files"] and f"index/{LINES_FILE}" in result["preload"]
    # The Space preloads what the index load asks for: the lines file among it.
    assert any(fnmatch(f"index/{LINES_FILE}", pattern) for pattern in hub.INDEX_PATTERNS)
    assert any(fnmatch(LINES_FILE, pattern) for pattern in hub.INDEX_PATTERNS), "an index repo of its own"
    index = load_index("cook/reranked", revision=result["commit"])
    assert index.ingredient_lines is not None and len(index.ingredient_lines) == index.count
