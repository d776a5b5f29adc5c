"""The training half of a run's settings (the model's half is model.RetrieverConfig): how
the loop trains. Each field is documented by the string under it, which `python -m train
--help` shows as the flag's help. The defaults are the product default."""

from __future__ import annotations

from dataclasses import dataclass

from .objectives import resolve_objective


@dataclass(frozen=True)
class TrainOptions:
    """The defaults are the best-on-val step of the quality ladder (benchmarks/RESULTS.md)."""

    epochs: int = 20
    """Planned epochs (the LR schedule spans them): val peaked at epoch 12-18; 30 epochs
    gained nothing beyond split noise."""
    batch_size: int = 128
    """Pairs per step and process (in-batch negatives; under torchrun the global batch is N
    processes x this): 128 beat 512 on mean val R@1 (0.056 vs 0.051), more noisier steps."""
    lr: float = 1e-4
    """Learning rate of the heads: at 1e-3 they overfit 7.5k pairs within a few epochs;
    1e-4 gave the best mean val R@1 of the sweep."""
    backbone_lr: float = 3e-5
    """Learning rate of the unfrozen backbone blocks."""
    weight_decay: float = 0.05
    """AdamW weight decay."""
    warmup_epochs: int = 2
    """Linear LR warm-up."""
    finetune_top: int = 3
    """0: frozen backbones. N: the photo backbone's top N blocks train on cached activations
    of the blocks below (CPU); with `live` the top N blocks/layers of every backbone train."""
    views: int = 4
    """Cached views per photo: 1 = the plain crop; V > 1 adds V-1 augmented views (random
    crop, flip, colour), extracted once."""
    live: bool = False
    """Run the backbones on every batch with fresh augmentation instead of caching (the full
    fine-tune path, for GPUs)."""
    patience: int = 10
    """Early stop after this many epochs without a better val score."""
    ingredient_weight: float = 0.1
    """Weight of the auxiliary loss that predicts ingredient words from photo and recipe
    embeddings (train/ingredients.py); 0: off."""
    loss: str = "infonce"
    """The contrastive loss (train/objectives.py): infonce = six-pair InfoNCE with a learned
    temperature; adamine = bidirectional triplets with adaptive mining at the instance and
    dish-class levels (Carvalho et al. 2018); cosine = im2recipe's cosine embedding loss over
    matching and mismatched pairs + a dish classifier (Salvador et al. 2017)."""
    margin: float | None = None
    """Margin of adamine (0.3 when unset) or cosine (0.1); infonce reads none."""
    semantic_weight: float | None = None
    """Weight of the dish-class level: adamine's lambda at the start, adapted each step
    (0.1 when unset); cosine's dish classifier (0.02); 0: no dish classes."""
    mismatch_rate: float | None = None
    """Cosine loss only: share of rows paired with a random other row (0.8 when unset)."""
    dish_classes: int = 300
    """adamine/cosine with a semantic weight: at most this many dish classes, the training
    titles' most frequent words and word pairs (in 3 or more); titles with none are background."""
    rerank_epochs: int = 4
    """Epochs of the re-ranker (model.rerank > 0), best on val kept."""
    seed: int = 0
    """Seeds every random draw."""

    def objective(self):
        return resolve_objective(self.loss, self.margin, self.semantic_weight, self.mismatch_rate)
