"""CLIP towers from a Hugging Face checkpoint, for the `clip` preset.

A spec "hf-clip:<Hub id or local folder>" names a CLIP checkpoint: a full one holding both
towers (openai/clip-vit-base-patch32) or a folder with one tower. Each tower returns
CLIP's *projected* embedding (image_embeds / text_embeds) rather than the pooled hidden
state: the projection is what puts photos and titles in CLIP's joint space, so the heads
start from features that already agree across the two modalities.

Only titles go through CLIP's text tower: it reads at most 77 tokens, and recipes run
to hundreds, so recipes stay with a sentence encoder (see Retriever).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .encoders import TextBackbone

PREFIX = "hf-clip:"
# image_weights value meaning "the weights of the checkpoint image_backbone names".
CHECKPOINT_WEIGHTS = "checkpoint"


def is_clip(spec: str) -> bool:
    return spec.startswith(PREFIX)


def checkpoint_of(spec: str) -> str:
    source = spec[len(PREFIX) :].strip()
    if not is_clip(spec) or not source:
        raise ValueError(
            f"{spec!r}: a CLIP tower is 'hf-clip:<Hub id or local folder>', "
            "for example 'hf-clip:openai/clip-vit-base-patch32'"
        )
    return source


def _from_checkpoint(loader, source: str, what: str):
    """loader(source) with a clear message when the checkpoint cannot be read."""
    try:
        return loader(source)
    except (OSError, ValueError) as err:  # no network, no such repo or folder, not a CLIP config
        where = "the local folder" if Path(source).exists() else "the Hub (the clip preset needs network access)"
        raise ValueError(f"cannot load the CLIP {what} from {source!r} via {where}: {err}") from err


def _load_tower(model_class, source: str, what: str) -> nn.Module:
    """One tower's weights from a checkpoint that may hold both. The other tower's weights
    are expected extras, so transformers' report of them is silenced; a weight missing
    from *this* tower would leave it partly random, so that is an error instead."""
    from transformers.utils import logging

    previous = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        net, info = _from_checkpoint(lambda s: model_class.from_pretrained(s, output_loading_info=True), source, what)
    finally:
        logging.set_verbosity(previous)
    if info["missing_keys"]:
        missing = sorted(info["missing_keys"])
        raise ValueError(f"{source!r} has no complete CLIP {what}: {len(missing)} weights missing, e.g. {missing[0]}")
    return net


def _tower_config(config_class, source: str, what: str):
    return _from_checkpoint(config_class.from_pretrained, source, what)


class ClipImageBackbone(nn.Module):
    """pixel_values (B, 3, S, S) -> CLIP image_embeds (B, projection_dim)."""

    library = "hf-clip"

    def __init__(self, spec: str, weights: str = "", from_config_dir: str | None = None):
        super().__init__()
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        self.name = checkpoint_of(spec)
        if weights not in ("", CHECKPOINT_WEIGHTS):
            raise ValueError(
                f"image_weights for a CLIP image tower is {CHECKPOINT_WEIGHTS!r} (the checkpoint's "
                f"own weights) or '' (random init), got {weights!r}"
            )
        if from_config_dir is not None:
            # Rebuilding a saved model: architecture from its folder, weights from model.safetensors.
            self.net = CLIPVisionModelWithProjection(CLIPVisionConfig.from_pretrained(from_config_dir))
        elif weights:
            self.net = _load_tower(CLIPVisionModelWithProjection, self.name, "image tower")
        else:
            self.net = CLIPVisionModelWithProjection(_tower_config(CLIPVisionConfig, self.name, "image tower"))
        self.feature_dim = self.net.config.projection_dim
        # CLIP's position embeddings fix the input size; the Retriever checks its config against it.
        self.input_size = self.net.config.image_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values=pixel_values).image_embeds

    # Cached views (augmentation at cached-feature speed) need only the whole tower as the
    # "trunk" (top = 0); a ViT has no convolutional tail to fine-tune on cached activations,
    # so top > 0 trains it --live instead.
    splittable = False

    def forward_trunk(self, pixel_values: torch.Tensor, top: int) -> torch.Tensor:
        if top:
            raise ValueError("the CLIP image tower fine-tunes with --live, not on cached activations")
        return self(pixel_values)

    def forward_tail(self, features: torch.Tensor, top: int) -> torch.Tensor:
        if top:
            raise ValueError("the CLIP image tower fine-tunes with --live, not on cached activations")
        return features

    def blocks(self) -> list[nn.Module]:
        """The vision transformer's layers, input to output; fine-tuning unfreezes the last few."""
        return list(self.net.vision_model.encoder.layers)

    def save_config(self, folder: Path) -> None:
        self.net.config.save_pretrained(folder)


class ClipTextBackbone(TextBackbone):
    """list[str] -> CLIP text_embeds (B, projection_dim): the end-of-text token's state
    through CLIP's text projection, CLIP's own pooling (not the mean over tokens)."""

    def load(self, spec: str, from_config_dir: str | None):
        from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModelWithProjection

        source = checkpoint_of(spec)
        if from_config_dir is not None:
            net = CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(from_config_dir))
            return net, AutoTokenizer.from_pretrained(from_config_dir)
        net = _load_tower(CLIPTextModelWithProjection, source, "text tower")
        return net, _from_checkpoint(AutoTokenizer.from_pretrained, source, "tokenizer")

    @property
    def output_dim(self) -> int:
        return self.net.config.projection_dim

    def tokenize(self, texts: list[str], max_tokens: int) -> dict[str, torch.Tensor]:
        # CLIP has 77 position embeddings; a longer limit would index past them.
        return super().tokenize(texts, min(max_tokens, self.net.config.max_position_embeddings))

    def forward_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids=input_ids, attention_mask=attention_mask).text_embeds

    def blocks(self) -> list[nn.Module]:
        return list(self.net.text_model.encoder.layers)
