"""The contrastive objective of a training run (`--loss`): six-pair InfoNCE (model/loss.py),
AdaMine's adaptive triplets (model/adamine.py) or im2recipe's cosine pairs with the dish
classifier (model/cosine_pairs.py), over the same three pairs of modalities and the same
masking of rows that lack one."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model import Retriever, multi_pair_loss
from model.adamine import adamine_loss
from model.cosine_pairs import cosine_loss, semantic_regulariser

LOSSES = ("infonce", "adamine", "cosine")
# The papers' margins: AdaMine's triplet margin, im2recipe's cosine embedding margin.
DEFAULT_MARGIN = {"adamine": 0.3, "cosine": 0.1}
# im2recipe weighted its classifier at 0.02. AdaMine's λ start is our choice, not the
# paper's: large enough to be felt, small enough that instance retrieval leads.
DEFAULT_SEMANTIC_WEIGHT = {"adamine": 0.1, "cosine": 0.02}
DEFAULT_MISMATCH_RATE = 0.8  # im2recipe's share of mismatched pairs


@dataclass(frozen=True)
class Objective:
    """A resolved --loss and the settings it reads; a setting the loss does not read is None."""

    loss: str = "infonce"
    margin: float | None = None
    semantic_weight: float | None = None
    mismatch_rate: float | None = None

    @property
    def needs_dish_classes(self) -> bool:
        return self.loss != "infonce" and bool(self.semantic_weight)


INFONCE = Objective()


def resolve_objective(
    loss: str, margin: float | None = None, semantic_weight: float | None = None, mismatch_rate: float | None = None
) -> Objective:
    """The loss's defaults filled in; ValueError (with the flag's name) for a setting the loss
    does not read or a value out of range."""
    if loss not in LOSSES:
        raise ValueError(f"--loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if loss == "infonce":
        given = [f for f, v in (("--margin", margin), ("--semantic-weight", semantic_weight)) if v is not None]
        if mismatch_rate is not None:
            given.append("--mismatch-rate")
        if given:
            raise ValueError(f"{', '.join(given)} apply to --loss adamine or cosine, not infonce")
        return INFONCE
    if loss == "adamine" and mismatch_rate is not None:
        raise ValueError("--mismatch-rate applies to --loss cosine only")
    margin = DEFAULT_MARGIN[loss] if margin is None else margin
    semantic_weight = DEFAULT_SEMANTIC_WEIGHT[loss] if semantic_weight is None else semantic_weight
    if margin < 0 or semantic_weight < 0:
        raise ValueError("--margin and --semantic-weight must not be negative")
    if loss == "cosine":
        mismatch_rate = DEFAULT_MISMATCH_RATE if mismatch_rate is None else mismatch_rate
        if not 0 <= mismatch_rate <= 1:
            raise ValueError(f"--mismatch-rate must lie in [0, 1], got {mismatch_rate}")
    return Objective(loss, margin, semantic_weight, mismatch_rate)


def contrastive_loss(
    model: Retriever,
    embeds: dict[str, torch.Tensor],
    present: dict[str, torch.Tensor],
    objective: Objective = INFONCE,
    dish_labels: torch.Tensor | None = None,
    draw: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The objective's loss over a batch's unit vectors (image, title, recipe), masked by `present`.
    dish_labels: (B,) dish classes, for the semantic levels; draw: the cosine loss's mismatches."""
    if objective.loss == "infonce":
        return multi_pair_loss(embeds, present, model.clamped_logit_scale())
    if objective.needs_dish_classes and dish_labels is None:
        raise ValueError(f"--loss {objective.loss} with a semantic weight needs the batch's dish classes")
    if objective.loss == "adamine":
        return adamine_loss(embeds, present, dish_labels, objective.margin, objective.semantic_weight)
    if draw is None:
        raise ValueError("--loss cosine draws its mismatched pairs from a generator; none was given")
    loss, terms = cosine_loss(embeds, present, objective.mismatch_rate, objective.margin, draw)
    if objective.needs_dish_classes:
        semantic = semantic_regulariser(model.dish_head, embeds, present, dish_labels)
        terms["dish_classes"] = float(semantic.detach())
        loss = loss + objective.semantic_weight * semantic
    return loss, terms
