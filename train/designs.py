"""The seed systems' designs as presets on our backbones (`python -m train --preset NAME`):
each names the recipe encoder and the training objective its paper used; the photo side
stays ours (Lite0, MiniLM, lexical features, cached views). A flag given on the command
line wins over the preset's value. benchmarks/bench_seed_designs.py compares them.

  im2recipe  Salvador et al. 2017: LSTMs over ingredient and sentence vectors; cosine
             embedding loss with 80% mismatched pairs; dish-class cross-entropy (0.02)
  adamine    Carvalho et al. 2018: the same LSTM recipe encoder; triplets with adaptive
             mining at the instance and the dish-class level (margin 0.3)
  ht-debias  Salvador et al. 2021 (H-T) + ingredient debiasing (2025): hierarchical
             transformers over ingredients and steps; triplets (margin 0.3, no class level);
             the photo's vector plus its predicted ingredients' vectors
  hf-icma    HF-ICMA (hybrid fusion with intra- and cross-modality attention): attention
             within the recipe (the hierarchical transformers over ingredients and steps)
             and a cross-attention between photo regions and ingredient lines whose local
             score is added to the global one (model/reranker.py), re-scoring the top 20;
             six-pair InfoNCE.
             Deviations from the paper: the cross-attention is not part of one jointly
             trained model scoring every pair; it trains after the dual encoder, frozen at
             its best epoch, and re-scores only the dual encoder's top K at search time,
             so the index stays a dual-encoder index and search stays fast at any size.
             Its regions are Lite0's last 7x7 map of the plain crop, its ingredients the
             cached per-line MiniLM vectors, and the intra-recipe attention is H-T's
             (self-attention within ingredients and within steps, not between the two).
"""

from __future__ import annotations

# Which of a design's settings are the model's (RetrieverConfig) rather than training's.
CONFIG_KEYS = ("recipe_encoder", "rerank")

DESIGNS: dict[str, dict] = {
    "im2recipe": {
        "recipe_encoder": "lstm",
        "loss": "cosine",
        "mismatch_rate": 0.8,
        "margin": 0.1,
        "semantic_weight": 0.02,
        "ingredient_weight": 0.0,
    },
    "adamine": {
        "recipe_encoder": "lstm",
        "loss": "adamine",
        "margin": 0.3,
        "semantic_weight": 0.1,
        "ingredient_weight": 0.0,
    },
    "ht-debias": {
        "recipe_encoder": "hierarchical",
        "loss": "adamine",
        "margin": 0.3,
        "semantic_weight": 0.0,
        "ingredient_weight": 0.1,
        "debias": True,
    },
    "hf-icma": {
        "recipe_encoder": "hierarchical",
        "rerank": 20,
        "loss": "infonce",
    },
}


def design_overrides(name: str) -> tuple[dict, dict]:
    """(RetrieverConfig fields, TrainOptions fields) of a design."""
    settings = DESIGNS[name]
    config = {k: v for k, v in settings.items() if k in CONFIG_KEYS}
    return config, {k: v for k, v in settings.items() if k not in CONFIG_KEYS}
