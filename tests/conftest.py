import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

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
