"""A trained model as a folder: config.json + model.safetensors + the text towers'
configs and tokenizers (+ the image tower's config when it is a transformers model, as
CLIP's is), so it rebuilds with no weight package and no network.

config.json holds the settings (RetrieverConfig) and, under "fitted", what training fitted
(FittedState). model.safetensors carries the same JSON in its metadata: the weights file
is replaced in one atomic rename, so the state saved with it always fits it, even when a
save was interrupted between writing the weights and writing config.json (query expansion,
for one, adds tensors and fitted fields together)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_write, atomic_write_bytes
from .clip import is_clip
from .config import RetrieverConfig
from .fitted import FittedState
from .retriever import Retriever

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CONFIG_KEY = "retriever_config"  # config.json's text in model.safetensors' metadata
FITTED_KEY = "fitted"  # where config.json keeps the fitted state
IMAGE_TOWER_DIR = "image_tower"  # a transformers image tower's config (CLIP); timm/torchvision need none


def model_json(model: Retriever) -> str:
    """config.json's text: the settings, and the fitted state under "fitted"."""
    settings = json.loads(model.config.to_json())
    return json.dumps({**settings, FITTED_KEY: model.fitted.to_dict()}, indent=2, sort_keys=True)


def read_model_json(text: str) -> tuple[RetrieverConfig, FittedState]:
    """(settings, fitted state) of a config.json, this format or the one before FittedState."""
    raw = json.loads(text)
    fitted = FittedState.from_dict(raw[FITTED_KEY]) if FITTED_KEY in raw else FittedState.from_legacy(raw)
    return RetrieverConfig.from_json(text), fitted


def save_pretrained(model: Retriever, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for role, encoder in model.text_encoders.items():
        # Text tower architecture + tokenizer; its weights live in model.safetensors.
        encoder.net.config.save_pretrained(out_dir / f"{role}_text")
        encoder.tokenizer.save_pretrained(out_dir / f"{role}_text")
    if hasattr(model.image_encoder, "save_config"):
        model.image_encoder.save_config(out_dir / IMAGE_TOWER_DIR)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    text = model_json(model)
    atomic_write(
        out_dir / WEIGHTS_NAME, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt", CONFIG_KEY: text})
    )
    atomic_write_bytes(out_dir / CONFIG_NAME, text.encode())


def saved_state(model_dir: Path) -> tuple[RetrieverConfig, FittedState]:
    """config.json's settings and fitted state, unless the weights file carries different
    ones: then a save was interrupted after the weights were replaced, and the weights' own
    are the ones that fit them."""
    text = (model_dir / CONFIG_NAME).read_text()
    with safe_open(str(model_dir / WEIGHTS_NAME), framework="pt") as handle:
        carried = (handle.metadata() or {}).get(CONFIG_KEY)
    state = read_model_json(text)
    if carried is None:  # saved before the weights carried their config
        return state
    carried_state = read_model_json(carried)
    if carried_state != state:
        warnings.warn(
            f"{model_dir / CONFIG_NAME} does not match the config saved inside {WEIGHTS_NAME} "
            "(an interrupted save?); using the one saved with the weights",
            stacklevel=3,
        )
    return carried_state


def load_pretrained(model_dir: str | Path, device: str | torch.device = "cpu") -> Retriever:
    model_dir = Path(model_dir)
    for name in (CONFIG_NAME, WEIGHTS_NAME, "title_text"):
        if not (model_dir / name).exists():
            raise FileNotFoundError(f"{model_dir} is not a saved retriever: {name} is missing")
    config, fitted = saved_state(model_dir)
    tower_dirs = {role: str(model_dir / f"{role}_text") for role in ("title", "recipe")}
    if is_clip(config.image_backbone):
        if not (model_dir / IMAGE_TOWER_DIR).is_dir():
            raise FileNotFoundError(f"{model_dir} is not a saved retriever: {IMAGE_TOWER_DIR} is missing")
        tower_dirs["image"] = str(model_dir / IMAGE_TOWER_DIR)
    model = Retriever(config, fitted, pretrained=False, tower_dirs=tower_dirs)
    model.load_state_dict(load_file(str(model_dir / WEIGHTS_NAME)), strict=True)
    return model.to(device).eval()
