"""The retriever: settings (config) and fitted state, backbones and heads, the losses,
query expansion, saving and loading a model folder, the evaluation protocol's constants,
and the one atomic-write helper.

May import: torch, timm, torchvision, transformers, safetensors, PIL. Nothing of this
project: it is the bottom of the house (pipeline, embeddings, train, ui and app.py import
it; it imports none of them). It knows nothing of data files, the Hub or the app."""

import os

# Before torch loads its OpenMP runtime: idle OpenMP workers spin by default, and when
# another process shares this machine's two cores the spinning starves the real work.
# Measured: one head-training step took 3.5 s instead of 0.09 s under such load; passive
# waiting costs nothing measurable on an idle machine. The train, embeddings and app
# entry points import this package before torch for that reason.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from .config import RECIPE_ENCODERS, RetrieverConfig
from .fitted import FeatureRecord, FittedState
from .loss import clip_loss, multi_pair_loss
from .retriever import Retriever
from .saving import load_pretrained, save_pretrained

__all__ = [
    "RECIPE_ENCODERS",
    "FeatureRecord",
    "FittedState",
    "RetrieverConfig",
    "Retriever",
    "clip_loss",
    "load_pretrained",
    "multi_pair_loss",
    "save_pretrained",
]
