"""The flags of `python -m train` (train/cli.py runs them): the parser, and the
checks of flag combinations that argparse alone cannot express (loss_options)."""

from __future__ import annotations

import argparse
from pathlib import Path

from model import PRESETS, RECIPE_ENCODERS
from pipeline.features import DEFAULT_CACHE

from .designs import DESIGNS
from .loop import TrainOptions
from .objectives import DEFAULT_MARGIN, DEFAULT_MISMATCH_RATE, DEFAULT_SEMANTIC_WEIGHT, LOSSES, resolve_objective
from .rerank import RERANK_EPOCHS


def make_parser(description: str) -> argparse.ArgumentParser:
    """Every flag of `python -m train`, with its default and help, in the order --help lists them."""
    d = TrainOptions()
    p = argparse.ArgumentParser(
        prog="python -m train", description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    _collection_flags(p)
    _model_flags(p)
    _optimiser_flags(p, d)
    _objective_flags(p, d)
    _backbone_flags(p, d)
    _run_flags(p, d)
    return p


def _collection_flags(p: argparse.ArgumentParser) -> None:
    """The collection, where the model goes, and what it starts from."""
    p.add_argument(
        "--data",
        required=True,
        help="a Kaggle-layout folder, an imagefolder with metadata.jsonl/csv, or a datasets Hub id",
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="model folder to write (config.json, model.safetensors, tokenizers, metrics.json, curves.png)",
    )
    p.add_argument(
        "--preset",
        default="default",
        choices=sorted(PRESETS) + sorted(DESIGNS),
        help="backbones: default = Lite0 + MiniLM (offline); lite2; seed = ResNet50 + 2x DistilBERT (needs the Hub); "
        "clip = CLIP ViT-B/32 towers for photos and titles + MiniLM (recipes) (needs the Hub; untested at full size); "
        "Seed systems' designs on the default backbones (train/designs.py): im2recipe = LSTM recipe encoder + cosine "
        "loss with 80%% mismatches + dish classes; adamine = LSTM + adaptive-mining triplets with dish classes; "
        "ht-debias = hierarchical transformers + triplets + ingredient debiasing; hf-icma = hierarchical "
        "transformers + region x ingredient re-ranking of the top 20 + InfoNCE. Flags given win over a design's",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a config.json to start from instead of --preset (any backbones, sizes)",
    )


def _model_flags(p: argparse.ArgumentParser) -> None:
    """Overrides of the preset's model settings, and the re-ranker's training."""
    p.add_argument("--embed-dim", type=int, default=None, help="dimension D of the shared space (preset default: 512)")
    p.add_argument(
        "--lexical-dims",
        type=int,
        default=None,
        help="dimensions of the lexical text features (TF-IDF of words and word pairs, SVD fitted on the training "
        "rows) beside MiniLM's; 0: none (preset default: 256)",
    )
    p.add_argument(
        "--recipe-encoder",
        default=None,
        choices=RECIPE_ENCODERS,
        help="how recipes are read: pooled = ingredients and method each mean-pooled in one pass; lstm = "
        "im2recipe's LSTMs, hierarchical = H-T's transformers, over one cached vector per ingredient line and "
        "method sentence (preset default: lstm for default and lite2, pooled for seed and clip)",
    )
    p.add_argument(
        "--rerank",
        type=int,
        default=None,
        metavar="K",
        help="after the dual encoder, train a cross-attention scorer between photo regions (the image backbone's "
        "last spatial map) and ingredient lines that re-orders a photo query's top K recipes (kept in the model; "
        "the app and `embeddings search` use it); 0: none (preset default: 0)",
    )
    p.add_argument(
        "--rerank-epochs", type=int, default=RERANK_EPOCHS, help="epochs of the re-ranker (best on val kept)"
    )


def _optimiser_flags(p: argparse.ArgumentParser, d: TrainOptions) -> None:
    """Epochs, batch, learning rates and the auxiliary ingredient loss."""
    p.add_argument("--epochs", type=int, default=d.epochs, help="planned epochs (the LR schedule spans them)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help="pairs per step and process (in-batch negatives); under torchrun the global batch is N processes × this",
    )
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate of the heads")
    p.add_argument("--backbone-lr", type=float, default=d.backbone_lr, help="learning rate of unfrozen backbone blocks")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay")
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs, help="linear LR warm-up")
    p.add_argument(
        "--patience", type=int, default=d.patience, help="early stop after this many epochs without a better val score"
    )
    p.add_argument(
        "--ingredient-weight",
        type=float,
        default=d.ingredient_weight,
        help="weight of the auxiliary loss that predicts ingredient words from photo and recipe embeddings (0: off)",
    )


def _objective_flags(p: argparse.ArgumentParser, d: TrainOptions) -> None:
    """The contrastive loss and its settings; ingredient debiasing."""
    p.add_argument(
        "--loss",
        choices=LOSSES,
        default=d.loss,
        help="infonce: six-pair InfoNCE with a learned temperature; adamine: bidirectional triplets with adaptive "
        "mining, instance + semantic (dish classes) levels (Carvalho et al. 2018); cosine: im2recipe's cosine "
        "embedding loss over matching and mismatched pairs + a dish classifier (Salvador et al. 2017)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=None,
        help=f"margin of --loss adamine (default {DEFAULT_MARGIN['adamine']}) or cosine "
        f"(default {DEFAULT_MARGIN['cosine']})",
    )
    p.add_argument(
        "--semantic-weight",
        type=float,
        default=None,
        help="weight of the dish-class level: adamine's λ at the start, adapted each step to the levels' shares "
        f"of violated triplets (default {DEFAULT_SEMANTIC_WEIGHT['adamine']}); cosine's dish classifier "
        f"(default {DEFAULT_SEMANTIC_WEIGHT['cosine']}); 0: no dish classes",
    )
    p.add_argument(
        "--mismatch-rate",
        type=float,
        default=None,
        help=f"--loss cosine: share of rows paired with a random other row (default {DEFAULT_MISMATCH_RATE})",
    )
    p.add_argument(
        "--dish-classes",
        type=int,
        default=None,
        help="adamine/cosine with a semantic weight: at most this many dish classes, the training titles' most "
        "frequent words and word pairs (in 3 or more of them); titles with none are background "
        f"(default {d.dish_classes})",
    )
    p.add_argument(
        "--debias",
        action="store_true",
        help="ingredient debiasing of photo embeddings: add the ingredient head's probabilities times learned "
        "ingredient vectors (needs --ingredient-weight above 0); kept in the saved model and used when searching",
    )


def _backbone_flags(p: argparse.ArgumentParser, d: TrainOptions) -> None:
    """What of the backbones trains, and on which views of each photo."""
    p.add_argument(
        "--finetune-top",
        type=int,
        default=None,
        help="0: frozen backbones. N: the image backbone's top N blocks train on cached activations of the blocks "
        "below (CPU); with --live the top N blocks/layers of every backbone train. "
        f"Default: {d.finetune_top} where the image backbone allows it (timm/torchvision), else 0",
    )
    p.add_argument(
        "--views",
        type=int,
        default=d.views,
        help="cached views per photo: 1 = the plain crop; V > 1 adds V-1 augmented views (random crop, flip, "
        "colour), extracted once",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="run the backbones on every batch with fresh augmentation instead of caching (full fine-tune path, "
        "for GPUs: --device cuda)",
    )


def _run_flags(p: argparse.ArgumentParser, d: TrainOptions) -> None:
    """Seed, device, feature cache, resume and publishing."""
    p.add_argument("--seed", type=int, default=d.seed, help="seeds every random draw")
    p.add_argument("--device", default="auto", help="auto picks cuda, then mps, then cpu")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where frozen backbone features are cached")
    p.add_argument("--no-cache", action="store_true", help="extract features without reading or writing the cache")
    p.add_argument("--limit", type=int, default=None, help="use only the first N usable rows (smoke runs)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from --out/checkpoint.pt to the result an uninterrupted run gives",
    )
    p.add_argument(
        "--stop-after", type=int, default=None, help="stop after this epoch, leaving a checkpoint (to test --resume)"
    )
    p.add_argument(
        "--push-to-hub",
        metavar="USER/NAME",
        default=None,
        help="after training, build the index and publish model + index to this Hub repo",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def loss_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """TrainOptions' loss fields from the flags, the loss's defaults filled in; a flag the
    loss does not read, or a bad value, ends the run with argparse's message."""
    try:
        objective = resolve_objective(args.loss, args.margin, args.semantic_weight, args.mismatch_rate)
    except ValueError as err:
        parser.error(str(err))
    if args.dish_classes is not None and not objective.needs_dish_classes:
        parser.error("--dish-classes applies to --loss adamine or cosine with a semantic weight above 0")
    if args.dish_classes is not None and args.dish_classes < 1:
        parser.error(f"--dish-classes must be at least 1, got {args.dish_classes}")
    if args.rerank is not None and args.rerank < 0:
        parser.error(f"--rerank must be 0 (none) or the number of candidates to re-score, got {args.rerank}")
    if args.rerank_epochs < 1:
        parser.error(f"--rerank-epochs must be at least 1, got {args.rerank_epochs}")
    if args.rerank and args.live:
        parser.error("--rerank trains on cached photo regions and line features, not with --live")
    if args.debias and not args.ingredient_weight:
        parser.error("--debias needs the ingredient head: --ingredient-weight above 0")
    fields = {k: getattr(objective, k) for k in ("loss", "margin", "semantic_weight", "mismatch_rate")}
    if args.dish_classes is not None:
        fields["dish_classes"] = args.dish_classes
    return {**fields, "debias": args.debias}
