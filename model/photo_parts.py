"""What the app and the re-ranker take from a photo besides its searched vector: the
vector before debiasing and the backbone's last spatial map (its regions), from ONE
backbone pass; and the region x ingredient re-ranker's scores (model/reranker.py).

A mixin of Retriever (model/retriever.py), kept apart so the retriever's file holds the
encoders and heads; it reads the retriever's config, image encoder, heads and re-ranker.
"""

from __future__ import annotations

import dataclasses

import torch
from PIL import Image

from .recipe_lines import RaggedLines
from .reranker import regions_of


@dataclasses.dataclass
class PhotoParts:
    vectors: torch.Tensor  # (B, D) unit vectors, as searched (debiased under --debias)
    plain: torch.Tensor  # (B, D) before debiasing
    regions: torch.Tensor | None  # (B, R, C), or None when not asked for


class PhotoPartsMixin:
    @property
    def has_reranker(self) -> bool:
        """The model carries a scorer (trained with --rerank K): its weights are in the state."""
        return self.config.rerank > 0

    @property
    def reranks(self) -> bool:
        """Search re-orders a photo's top K: a scorer whose alpha is not 0. Training saves a
        scorer that lost on val with alpha 0 (train/rerank.py), the dual encoder's own order."""
        return self.has_reranker and float(self.reranker.alpha.detach()) != 0.0

    def image_regions_and_features(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ONE backbone pass -> (regions (B, R, C), rounded through float16 as the cache
        stores them, so serving reads what training read; pooled features (B, C))."""
        feature_map = self.image_encoder.feature_map(pixel_values.to(self.device))
        return regions_of(feature_map), self.image_encoder.pool(feature_map)

    @torch.no_grad()
    def encode_photo_parts(self, photos: list[Image.Image], with_regions: bool = False) -> PhotoParts:
        """Everything one backbone pass gives of PIL photos: the searched unit vectors, the
        vectors before debiasing (what the ingredient head was trained to read: the same
        vectors without --debias) and, `with_regions`, the re-ranker's regions."""
        pixels = self.pixel_values(photos)
        if with_regions:
            regions, features = self.image_regions_and_features(pixels)
        else:
            regions, features = None, self.image_features(pixels)
        plain = self.embed_image_plain(features)
        return PhotoParts(vectors=self.debias_image(plain), plain=plain, regions=regions)

    def ingredient_line_features(self, ingredients: list[list[str]]) -> RaggedLines:
        """Each recipe's ingredient-line vectors, split as the cache splits them: what the
        re-ranker reads of a candidate (no method: no sentence is embedded)."""
        return self.recipe_lines(ingredients, [[] for _ in ingredients])[0]

    def rerank_scores(
        self, regions: torch.Tensor, candidates: RaggedLines, global_scores: torch.Tensor
    ) -> torch.Tensor:
        """One photo's regions (R, C), its K candidates' ingredient lines and their global
        cosines (K,) -> the final scores (K,): global + alpha * local."""
        if not self.has_reranker:
            raise ValueError("this model has no re-ranker (trained without --rerank)")
        lines, counts = candidates.padded()
        local = self.reranker.local(regions.to(self.device)[None, None], lines.to(self.device)[None], counts[None])[0]
        return self.reranker.final(global_scores.to(local.device, local.dtype), local)
