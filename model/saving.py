"""A trained model as a folder: config.json + model.safetensors + the text towers'
configs and tokenizers (+ the image tower's config when it is a transformers model, as
CLIP's is), so it rebuilds with no weight package and no network.

model.safetensors also carries the config in its metadata: the weights file is replaced
in one atomic rename, so the config saved with it always fits it, even when a save was
interrupted between writing the weights and writing config.json (the query-expansion
memory, for one, adds tensors and config fields together)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .clip import is_clip
from .config import RetrieverConfig
from .retriever import Retriever

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CONFIG_KEY = "retriever_config"  # the config's JSON in model.safetensors' metadata
IMAGE_TOWER_DIR = "image_tower"  # a transformers image tower's config (CLIP); timm/torchvision need none


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename: a reader never sees a
    half-written file, and a killed run leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a Space or server may read as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    tmp = out_dir / f".{WEIGHTS_NAME}.tmp"
    save_file(state, str(tmp), metadata={"format": "pt", CONFIG_KEY: model.config.to_json()})
    os.chmod(tmp, 0o666 & ~_umask())  # safetensors writes 0600; a Space or server may read as another user
    os.replace(tmp, out_dir / WEIGHTS_NAME)
    atomic_write_bytes(out_dir / CONFIG_NAME, model.config.to_json().encode())


def saved_config(model_dir: Path) -> RetrieverConfig:
    """config.json, unless the weights file carries a different config: then a save was
    interrupted after the weights were replaced, and the weights' own config is the one
    that fits them."""
    from safetensors import safe_open

    config = RetrieverConfig.from_json((model_dir / CONFIG_NAME).read_text())
    with safe_open(str(model_dir / WEIGHTS_NAME), framework="pt") as handle:
        carried = (handle.metadata() or {}).get(CONFIG_KEY)
    if carried is None:  # saved before the weights carried their config
        return config
    carried_config = RetrieverConfig.from_json(carried)
    if carried_config != config:
        import warnings

        warnings.warn(f"{model_dir / CONFIG_NAME} does not match the config saved inside {WEIGHTS_NAME} "
                      "(an interrupted save?); using the one saved with the weights", stacklevel=3)
    return carried_config


def load_pretrained(model_dir: str | Path, device: str | torch.device = "cpu") -> Retriever:
    model_dir = Path(model_dir)
    for name in (CONFIG_NAME, WEIGHTS_NAME, "title_text"):
        if not (model_dir / name).exists():
            raise FileNotFoundError(f"{model_dir} is not a saved retriever: {name} is missing")
    config = saved_config(model_dir)
    tower_dirs = {role: str(model_dir / f"{role}_text") for role in ("title", "recipe")}
    if is_clip(config.image_backbone):
        if not (model_dir / IMAGE_TOWER_DIR).is_dir():
            raise FileNotFoundError(f"{model_dir} is not a saved retriever: {IMAGE_TOWER_DIR} is missing")
        tower_dirs["image"] = str(model_dir / IMAGE_TOWER_DIR)
    model = Retriever(config, pretrained=False, tower_dirs=tower_dirs)
    model.load_state_dict(load_file(str(model_dir / WEIGHTS_NAME)), strict=True)
    return model.to(device).eval()
