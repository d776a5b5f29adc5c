"""Tiny random models and generated collections for tests: seconds, no downloads."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
from PIL import Image

from model import Retriever, RetrieverConfig, save_pretrained

WORDS = (
    "chocolate cake brownies grilled salmon chicken tacos spicy soup salad pasta tomato garlic "
    "onion butter sugar flour egg milk salt pepper oil bake roast boil stir mix cup tablespoon "
    "teaspoon minutes oven heat pan bowl serve fresh lemon rice beans cheese bread apple"
).split()
COLOURS = [(200, 40, 40), (40, 160, 60), (40, 60, 200), (220, 200, 40), (120, 60, 20), (240, 240, 240)]


def make_text_backbone(folder: Path, architecture: str = "bert") -> Path:
    """A 2-layer, 32-wide random transformer + a WordPiece tokenizer over WORDS."""
    from transformers import AutoModel, BertConfig, BertTokenizerFast, DistilBertConfig, DistilBertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + sorted(set(WORDS))
        + list("abcdefghijklmnopqrstuvwxyz0123456789")
    )
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    if architecture == "distilbert":
        config = DistilBertConfig(
            vocab_size=len(vocab), dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=512
        )
        tokenizer = DistilBertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    else:
        config = BertConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=512,
        )
        tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_clip_checkpoint(folder: Path, image_size: int = 32) -> Path:
    """A full CLIP checkpoint as the Hub has them (both towers in one folder, one
    config.json of model_type "clip", a tokenizer), 2 layers and 32 wide, random weights.
    The BPE vocabulary is single characters with no merges: every word is spelt out."""
    import string

    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTokenizer, CLIPVisionConfig

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + string.digits + ".,-'!&()":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))  # the last character of a word
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    text = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=24,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=8,
        projection_dim=24,
    )
    config = CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=24)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_config(text_dir: Path, **overrides) -> RetrieverConfig:
    values = dict(
        image_backbone="timm:test_efficientnet",
        image_weights="",
        image_size=32,
        image_resize=36,
        title_backbone=str(text_dir),
        recipe_backbone=str(text_dir),
        title_max_tokens=16,
        recipe_max_tokens=48,
        embed_dim=16,
        recipe_encoder="pooled",  # the quickest; tests of the sequence encoders ask for theirs
        preset="tiny",
    )
    values.update(overrides)
    return RetrieverConfig(**values)


def make_tiny_model_dir(folder: Path, seed: int = 0, **config) -> Path:
    """A saved random tiny retriever, loadable with model.load_pretrained(folder);
    `config`: tiny_config overrides (rerank=3: with a re-ranker)."""
    import torch

    torch.manual_seed(seed)
    model = Retriever(tiny_config(make_text_backbone(folder / "_backbone"), **config))
    # Lexical features fitted as training would, on generated texts over the same words.
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 8))) for _ in range(60)]
    model.fit_lexical(texts[:30], texts[30:])
    save_pretrained(model, folder)
    return folder


def make_photo(path: Path, colour: tuple[int, int, int], size=(64, 40), seed: int = 0) -> None:
    rng = random.Random(seed)
    image = Image.new("RGB", size, colour)
    for _ in range(20):  # some texture so photos differ
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        image.putpixel((x, y), tuple(rng.randrange(256) for _ in range(3)))
    image.save(path, "JPEG")


def make_kaggle_folder(
    folder: Path, n: int = 24, title_only: int = 4, corrupt: int = 1, missing: int = 1, seed: int = 0
) -> Path:
    """A generated collection in the Kaggle layout. The last `corrupt` rows have a
    truncated JPEG, the `missing` before them have no photo file; `title_only` rows
    (the first ones) have empty Ingredients and Instructions."""
    rng = random.Random(seed)
    images = folder / "Food Images" / "Food Images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        colour = COLOURS[i % len(COLOURS)]
        words = rng.sample(WORDS, 3)
        name = f"dish-{i:04d}-{words[0]}"
        title = f"{words[0]} {words[1]} {words[2]}"
        if i < title_only:
            ingredients, instructions = "", ""
        else:
            ingredients = repr([f"1 cup {w}" for w in rng.sample(WORDS, 4)])
            instructions = "\n".join(f"{rng.choice(WORDS)} the {w} for 5 minutes." for w in rng.sample(WORDS, 3))
        rows.append(
            {
                "Title": title,
                "Ingredients": ingredients,
                "Instructions": instructions,
                "Image_Name": name,
                "Cleaned_Ingredients": "",
            }
        )
        path = images / f"{name}.jpg"
        if i >= n - corrupt:
            make_photo(path, colour, seed=i)
            path.write_bytes(path.read_bytes()[:200])  # truncated JPEG
        elif i >= n - corrupt - missing:
            pass  # no photo file at all
        else:
            make_photo(path, colour, seed=i)
    pd.DataFrame(rows).to_csv(folder / "Food Ingredients and Recipe Dataset with Image Name Mapping.csv")
    return folder


def train_tiny(folder: Path, text_dir: Path, *flags: str, **collection) -> Path:
    """`python -m train` for 2 epochs on a generated collection of 60 rows with a tiny
    random config; returns the model folder (folder/model)."""
    from train.cli import main as train_main

    data = make_kaggle_folder(folder / "data", **{"n": 60, "title_only": 10, **collection})
    config = folder / "tiny.json"
    config.write_text(tiny_config(text_dir).to_json())
    out = folder / "model"
    assert (
        train_main(
            [
                "--data",
                str(data),
                "--out",
                str(out),
                "--config",
                str(config),
                "--epochs",
                "2",
                "--batch-size",
                "16",
                "--cache-dir",
                str(folder / "cache"),
                "--quiet",
                *flags,
            ]
        )
        == 0
    )
    return out
