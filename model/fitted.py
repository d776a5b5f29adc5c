"""What training fits to its rows, kept apart from the settings a person chooses.

RetrieverConfig (config.py) holds choices: backbones, sizes, dropout. FittedState holds
what a training run learned from its data besides the weights: vocabularies, the query
expansion chosen on val, the recipe vector chosen on val, how its backbone features were
made. It is typed, saved beside the config in config.json (under "fitted") and in
model.safetensors' metadata, and read here only, with one default per field.

Models saved before the split kept these fields in the config and in a free-form
`extra` dict; `from_legacy` reads them from there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .confidence import Confidence
from .expansion import TEMPERATURE


@dataclass
class FeatureRecord:
    """How training made the backbone features it trained on, so evaluation and index
    building read the same cache entries: the image backbone's top `finetune_top` blocks
    trained on `views` cached views of each photo, or (`live`) every backbone ran on every
    batch (then no cached feature fits the model)."""

    finetune_top: int = 0
    views: int = 1
    live: bool = False

    @property
    def frozen_backbones(self) -> bool:
        """Every backbone weight is the pretrained one: cached features fit the model as they are."""
        return not self.live and self.finetune_top == 0


@dataclass
class QueryExpansion:
    """Query expansion through the training pairs (model/expansion.py): `rows` training rows'
    unit vectors kept in model.safetensors; per direction {"k": neighbours, "weight": w}."""

    rows: int = 0
    temperature: float = TEMPERATURE
    directions: dict[str, dict] = field(default_factory=dict)

    def setting(self, direction: str) -> dict | None:
        """{"k", "weight"} of a direction when it expands queries, else None."""
        chosen = self.directions.get(direction)
        return chosen if chosen and chosen.get("weight") else None

    def expanded_directions(self) -> list[str]:
        return [direction for direction in self.directions if self.setting(direction)]


@dataclass
class FittedState:
    # Backbone output sizes, recorded when the model is built (informational: the model
    # reads them from its towers).
    image_feature_dim: int = 0
    text_feature_dim: int = 0
    # Lexical features' vocabulary sizes {"title": V, "recipe": V} (model/lexical.py), so a
    # saved model rebuilds its lexical buffers at the right size. Empty: not fitted.
    lexical_vocabulary: dict[str, int] = field(default_factory=dict)
    # Ingredient words the auxiliary head predicts (train/ingredients.py, the training rows'
    # most frequent). Empty: no ingredient head.
    ingredient_vocab: list[str] = field(default_factory=list)
    # Dish classes of the AdaMine and cosine losses' semantic levels (train/dish_classes.py,
    # from the training titles): class 0 is "background". Empty: none fitted.
    dish_classes: list[str] = field(default_factory=list)
    # Whether the model holds the cosine loss's dish classifier (D -> len(dish_classes)),
    # used only by that loss; AdaMine's semantic level needs none.
    dish_classifier: bool = False
    # The vector recipes are searched by, chosen on val: "recipe" (the recipe text alone)
    # or "fused" (normalize(title + recipe)); with each one's val R@1.
    recipe_vector: str = "recipe"
    recipe_vector_val_r1: dict[str, float] = field(default_factory=dict)
    query_expansion: QueryExpansion = field(default_factory=QueryExpansion)
    query_expansion_val: dict[str, dict] = field(default_factory=dict)  # what each setting scored on val
    # None: not trained by `python -m train` (a fresh model): no cached feature is trusted.
    features: FeatureRecord | None = None
    # How sure an answer is, fitted on val (model/confidence.py, train/calibration.py).
    # None: a model saved before it existed, or not fitted; the app then says it has none.
    confidence: Confidence | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "FittedState":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"the fitted state has fields this version does not know: {unknown}")
        values = dict(raw)
        values["query_expansion"] = QueryExpansion(**values.get("query_expansion", {}))
        if values.get("features") is not None:
            values["features"] = FeatureRecord(**values["features"])
        if values.get("confidence") is not None:
            values["confidence"] = Confidence.from_dict(values["confidence"])
        return cls(**values)

    @classmethod
    def from_legacy(cls, raw_config: dict) -> "FittedState":
        """The fitted fields of a config.json written before FittedState existed."""
        extra = raw_config.get("extra", {}) or {}
        features = None
        if "live" in extra:  # written together with finetune_top and views by `python -m train`
            features = FeatureRecord(int(extra.get("finetune_top", 0)), int(extra.get("views", 1)), bool(extra["live"]))
        expansion = raw_config.get("query_expansion") or {}
        return cls(
            image_feature_dim=int(raw_config.get("image_feature_dim", 0)),
            text_feature_dim=int(raw_config.get("text_feature_dim", 0)),
            lexical_vocabulary=dict(raw_config.get("lexical_vocabulary") or {}),
            ingredient_vocab=list(raw_config.get("ingredient_vocab") or []),
            recipe_vector=extra.get("recipe_vector", "recipe"),
            recipe_vector_val_r1=dict(extra.get("recipe_vector_val_r1", {})),
            query_expansion=QueryExpansion(**expansion),
            query_expansion_val=dict(extra.get("query_expansion_val", {})),
            features=features,
        )


# The fields of a legacy config.json that were fitted state (read by from_legacy), and the
# options that lost on val and were removed; RetrieverConfig.from_json drops all of them.
LEGACY_FITTED_KEYS = (
    "image_feature_dim",
    "text_feature_dim",
    "lexical_vocabulary",
    "ingredient_vocab",
    "query_expansion",
    "extra",
)
