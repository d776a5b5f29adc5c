"""The retriever model: encoders, heads, loss, config. Knows nothing of data files,
the Hub or the app."""
from .config import PRESETS, RetrieverConfig, preset
from .loss import clip_loss, multi_pair_loss
from .retriever import Retriever
from .saving import load_pretrained, save_pretrained

__all__ = [
    "PRESETS",
    "RetrieverConfig",
    "Retriever",
    "clip_loss",
    "load_pretrained",
    "multi_pair_loss",
    "preset",
    "save_pretrained",
]
