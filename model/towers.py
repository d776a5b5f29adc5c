"""Which tower class a backbone spec names: timm / torchvision photos, transformers text,
or CLIP's towers (model/clip.py) for "hf-clip:" specs."""

from __future__ import annotations

from torch import nn

from .clip import ClipImageBackbone, ClipTextBackbone, is_clip
from .encoders import ImageBackbone, TextBackbone


def build_image_backbone(spec: str, weights: str = "", from_config_dir: str | None = None) -> nn.Module:
    """The image backbone a spec names; from_config_dir rebuilds a saved CLIP tower offline."""
    return ClipImageBackbone(spec, weights, from_config_dir) if is_clip(spec) else ImageBackbone(spec, weights)


def build_text_backbone(spec: str, from_config_dir: str | None = None) -> TextBackbone:
    return (ClipTextBackbone if is_clip(spec) else TextBackbone)(spec, from_config_dir)
