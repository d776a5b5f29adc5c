import dataclasses
import json
import os

import pytest
import torch

from model import Retriever, RetrieverConfig, load_pretrained, save_pretrained
from tiny import make_text_backbone, tiny_config
from train.run_config import load_preset


def test_config_json_round_trip():
    for name in ("default", "lite2", "seed"):
        config = dataclasses.replace(load_preset(name).model, embed_dim=256)
        again = RetrieverConfig.from_json(config.to_json())
        assert again == config
    with pytest.raises(ValueError, match="does not know"):
        RetrieverConfig.from_json('{"embed_dim": 4, "colour": "red"}')


def test_save_load_gives_identical_embeddings(tmp_path, text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    save_pretrained(model, tmp_path / "m")
    again = load_pretrained(tmp_path / "m")
    pixels = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.encode_image(pixels), again.encode_image(pixels))
        assert torch.equal(model.encode_title(["spicy soup"]), again.encode_title(["spicy soup"]))
        a = model.encode_recipe([["salt", "egg"]], [["boil", "serve"]])
        assert torch.equal(a, again.encode_recipe([["salt", "egg"]], [["boil", "serve"]]))
    assert torch.allclose(a.norm(dim=-1), torch.ones(1))
    # Readable by others as the umask allows (a Space or web server may run as another user).
    mask = os.umask(0)
    os.umask(mask)
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / "m" / name).stat().st_mode & 0o777 == 0o666 & ~mask


def test_load_names_the_missing_file(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        load_pretrained(tmp_path)


def test_seed_design_builds_and_runs_with_tiny_distilberts(tmp_path):
    """The seed preset's classes (torchvision ResNet50, two separate DistilBERTs), with
    random weights and tiny text configs; ResNet50 itself is full size."""
    distil = make_text_backbone(tmp_path / "distil", architecture="distilbert")
    config = dataclasses.replace(
        load_preset("seed").model,
        image_weights="",
        title_backbone=str(distil),
        recipe_backbone=str(distil),
        image_size=64,
        image_resize=64,
        embed_dim=32,
    )
    model = Retriever(config).eval()
    assert "recipe" in model.text_encoders  # two encoders, as in the seed design
    with torch.no_grad():
        assert model.encode_image(torch.randn(2, 3, 64, 64)).shape == (2, 32)
        assert model.encode_title(["a", "b"]).shape == (2, 32)
        assert model.encode_recipe([["x"]], [["y"]]).shape == (1, 32)
    assert model.fitted.image_feature_dim == 2048
    save_pretrained(model, tmp_path / "seed")
    assert RetrieverConfig.from_json((tmp_path / "seed" / "config.json").read_text()).preset == "seed"


def test_a_config_is_never_changed_by_the_model_built_from_it(text_backbone_dir):
    config = tiny_config(text_backbone_dir)
    before = config.to_json()
    model = Retriever(config)
    titles = ["lemon tart", "lemon cake", "apple pie", "apple crumble", "rice salad", "bean soup"]
    model.fit_lexical(titles, titles)
    assert config.to_json() == before and model.config is config
    assert model.fitted.lexical_vocabulary["title"] > 0  # what was fitted lives in the fitted state
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.embed_dim = 8


def test_removed_options_in_an_old_config_load_or_are_refused_by_name():
    old = json.loads(RetrieverConfig().to_json())
    assert RetrieverConfig.from_json(json.dumps({**old, "input_dropout": 0.0})) == RetrieverConfig()
    with pytest.raises(ValueError, match="zero-shot bridge"):
        RetrieverConfig.from_json(json.dumps({**old, "zero_shot_bridge": True}))


def test_a_save_interrupted_before_config_json_still_loads(tmp_path, text_backbone_dir):
    """The weights are replaced first; a crash before config.json is rewritten must not
    leave a folder whose config no longer fits its weights."""
    from model.protocol import DIRECTIONS

    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir)).eval()
    save_pretrained(model, tmp_path / "m")
    stale_config = (tmp_path / "m" / "config.json").read_text()
    # A second save adds the query-expansion rows (new tensors and fitted fields) ...
    rows = 6
    embeds = {
        m: torch.nn.functional.normalize(torch.randn(rows, model.config.embed_dim), dim=-1)
        for m in ("image", "title", "recipe")
    }
    model.set_expansion_rows(embeds, torch.ones(rows, dtype=torch.bool))
    model.set_expansion_directions({d: {"k": 2, "weight": 0.5} for d in DIRECTIONS})
    save_pretrained(model, tmp_path / "m")
    # ... and is killed after the weights' rename, before config.json's.
    (tmp_path / "m" / "config.json").write_text(stale_config)
    with pytest.warns(UserWarning, match="interrupted save"):
        again = load_pretrained(tmp_path / "m")
    assert again.config == model.config and again.fitted == model.fitted
    assert torch.equal(again.memory_image, model.memory_image)
