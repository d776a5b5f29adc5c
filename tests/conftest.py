import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The packages come from `pip install -e .` (make setup); tests/ itself is on sys.path as
# pytest's rootdir-less test folder, so `tiny` and the other helpers import as modules.
ROOT = Path(__file__).resolve().parents[1]

SAMPLE = ROOT.parent / "shared" / "data" / "epicurious"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from tiny import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def text_backbone_dir(tmp_path_factory):
    from tiny import make_text_backbone

    return make_text_backbone(tmp_path_factory.mktemp("tiny_text"))


@pytest.fixture()
def kaggle_folder(tmp_path):
    from tiny import make_kaggle_folder

    return make_kaggle_folder(tmp_path / "collection")


@pytest.fixture(scope="session")
def sample_dir():
    if not (SAMPLE / "Food Images").is_dir():
        pytest.fail(f"the Epicurious sample is expected at {SAMPLE} (see README)")
    return SAMPLE


@pytest.fixture(scope="session")
def loaded(tiny_model_dir, tmp_path_factory):
    """(index, model): a real index of a generated collection (tests/app_support.py)."""
    import app_support

    return app_support.make_index(tiny_model_dir, tmp_path_factory.mktemp("app_index"))


@pytest.fixture(scope="session")
def search(loaded, tmp_path_factory):
    """Photos given as paths are read from the tests' own temporary folders (in the app,
    only from Gradio's: tested in test_app_api.py)."""
    from ui.search import RecipeSearch

    index, model = loaded
    return RecipeSearch(index, model, tmp_path_factory.mktemp("thumbs"), [tmp_path_factory.getbasetemp()])
