"""`python -m train --data DIR --out DIR`: train the retriever and write a model folder.

With only --data and --out it trains the recommended default (the one `make demo` uses):
EfficientNet-Lite0 + all-MiniLM-L6-v2 from their pip packages, frozen, features cached
once, heads trained contrastively on the six modality pairs, best epoch chosen on val.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from model import PRESETS, Retriever, RetrieverConfig, preset, save_pretrained
from model.saving import atomic_write_bytes

from .data import load_recipes, split_of
from .memory import describe, expanded_queries, fit_query_expansion
from .features import DEFAULT_CACHE, backbone_features, fit_lexical
from .ingredients import build_vocabulary, label_matrix
from .loop import TrainOptions, embed_features, train_model
from .metrics import evaluate_embeddings, format_table
from .plots import plot_curves
from .sources import CachedFeatures, LiveFeatures, unfreeze_top
from .views import CachedViews, view_features

SPLIT_NAMES = ("train", "val", "test")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def _views_cached(model: Retriever, ordered: list, splits: dict, cache_dir) -> bool:
    """Whether a views entry of this collection can serve the plain crops (view 0)."""
    from .views import reusable_views_path

    return reusable_views_path(model, ordered, 1, cache_dir, {r.id for r in splits["train"]}) is not None


def make_sources(model: Retriever, splits: dict, options: TrainOptions, cache_dir, progress: bool):
    """Feature sources of each split for the training mode, the unfrozen backbone tensors,
    and the seconds spent on text and on photo features (near zero on a cache hit)."""
    if options.live:
        trainable = unfreeze_top(model, options.finetune_top)
        return {n: LiveFeatures(model, rows) for n, rows in splits.items()}, trainable, {}
    if options.finetune_top and not model.image_encoder.splittable:
        raise SystemExit(f"{model.config.image_backbone} cannot fine-tune on cached activations; "
                         "add --live to run it on every batch (a GPU helps)")
    trainable = unfreeze_top(model, options.finetune_top, towers=("image",))
    ordered = splits["train"] + splits["val"] + splits["test"]
    bounds = torch.cumsum(torch.tensor([0] + [len(splits[n]) for n in SPLIT_NAMES]), 0)
    ranges = {n: torch.arange(bounds[i], bounds[i + 1]) for i, n in enumerate(SPLIT_NAMES)}
    started = time.time()
    text = backbone_features(model, ordered, cache_dir, progress=progress, parts=("text",))
    seconds = {"text_features": time.time() - started}
    if options.views == 1 and options.finetune_top == 0 and not _views_cached(model, ordered, splits, cache_dir):
        features = {**text, **backbone_features(model, ordered, cache_dir, progress=progress, parts=("image",))}
        sources = {n: CachedFeatures(features, rows) for n, rows in ranges.items()}
    else:
        views = view_features(model, ordered, options.views, options.finetune_top, cache_dir,
                              augmented={r.id for r in splits["train"]}, progress=progress)
        sources = {n: CachedViews(model, views, text, text["has_recipe"], rows, options.finetune_top,
                                  augmented=n == "train") for n, rows in ranges.items()}
    seconds["photo_features"] = time.time() - started - seconds["text_features"]
    return sources, trainable, seconds


def build_parser() -> argparse.ArgumentParser:
    d = TrainOptions()
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="a Kaggle-layout folder, an imagefolder with metadata.jsonl/csv, or a datasets Hub id")
    p.add_argument("--out", required=True, type=Path, help="model folder to write (config.json, model.safetensors, tokenizers, metrics.json, curves.png)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="backbones: default = Lite0 + MiniLM (offline); lite2; seed = ResNet50 + 2x DistilBERT (needs the Hub); "
                   "clip = CLIP ViT-B/32 towers for photos and titles + MiniLM for recipes (needs the Hub; untested at full size)")
    p.add_argument("--config", type=Path, default=None, help="a config.json to start from instead of --preset (any backbones, sizes)")
    p.add_argument("--embed-dim", type=int, default=None, help="dimension D of the shared space (preset default: 512)")
    p.add_argument("--lexical-dims", type=int, default=None, help="dimensions of the lexical text features (TF-IDF of words and word pairs, SVD fitted on the training rows) beside MiniLM's; 0: none (preset default: 256)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="planned epochs (the LR schedule spans them)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="pairs per step (in-batch negatives)")
    p.add_argument("--lr", type=float, default=d.lr, help="learning rate of the heads")
    p.add_argument("--backbone-lr", type=float, default=d.backbone_lr, help="learning rate of unfrozen backbone blocks")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay")
    p.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs, help="linear LR warm-up")
    p.add_argument("--patience", type=int, default=d.patience, help="early stop after this many epochs without a better val score")
    p.add_argument("--loss-pairs", default=d.loss_pairs, choices=["all", "image_recipe"], help="all: six-pair InfoNCE over image, title, recipe; image_recipe: that pair only")
    p.add_argument("--ingredient-weight", type=float, default=d.ingredient_weight, help="weight of the auxiliary loss that predicts ingredient words from photo and recipe embeddings (0: off)")
    p.add_argument("--hard-negatives", type=float, default=d.hard_negatives, metavar="BETA", help="weight each InfoNCE negative by exp(BETA * logit), normalised (0: plain InfoNCE)")
    p.add_argument("--title-pretrain-epochs", type=int, default=d.title_pretrain_epochs, help="train photo-title only (every row) for this many epochs before the full loss")
    p.add_argument("--finetune-top", type=int, default=None, help=f"0: frozen backbones. N: the image backbone's top N blocks train on cached activations of the blocks below (CPU); with --live the top N blocks/layers of every backbone train. Default: {d.finetune_top} where the image backbone allows it (timm/torchvision), else 0")
    p.add_argument("--views", type=int, default=d.views, help="cached views per photo: 1 = the plain crop; V > 1 adds V-1 augmented views (random crop, flip, colour), extracted once")
    p.add_argument("--live", action="store_true", help="run the backbones on every batch with fresh augmentation instead of caching (full fine-tune path, for GPUs: --device cuda)")
    p.add_argument("--seed", type=int, default=d.seed, help="seeds every random draw")
    p.add_argument("--device", default="auto", help="auto picks cuda, then mps, then cpu")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where frozen backbone features are cached")
    p.add_argument("--no-cache", action="store_true", help="extract features without reading or writing the cache")
    p.add_argument("--limit", type=int, default=None, help="use only the first N usable rows (smoke runs)")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt to the result an uninterrupted run gives")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this epoch, leaving a checkpoint (to test --resume)")
    p.add_argument("--push-to-hub", metavar="USER/NAME", default=None, help="after training, build the index and publish model + index to this Hub repo")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    d = TrainOptions()
    started = time.time()
    progress = not args.quiet
    device = pick_device(args.device)
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, backbone_lr=args.backbone_lr,
                           weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs,
                           finetune_top=d.finetune_top if args.finetune_top is None else args.finetune_top,
                           views=args.views, live=args.live,
                           patience=args.patience, seed=args.seed, ingredient_weight=args.ingredient_weight,
                           loss_pairs=args.loss_pairs, hard_negatives=args.hard_negatives,
                           title_pretrain_epochs=args.title_pretrain_epochs)
    recipes = load_recipes(args.data, progress=progress)
    if args.limit:
        recipes = recipes[: args.limit]
    splits = {name: [r for r in recipes if split_of(r.id) == name] for name in ("train", "val", "test")}
    for name, rows in splits.items():
        if sum(r.has_recipe for r in rows) < 2 or len(rows) < 2:
            raise SystemExit(f"the {name} split of {args.data} has {len(rows)} rows "
                             f"({sum(r.has_recipe for r in rows)} full recipes): too few to train and choose on val")
    print(" / ".join(f"{n}: {len(rows)} rows, {sum(r.has_recipe for r in rows)} full" for n, rows in splits.items()), file=sys.stderr)

    torch.manual_seed(args.seed)  # head initialisation
    overrides = {"embed_dim": args.embed_dim} if args.embed_dim else {}
    if args.lexical_dims is not None:
        overrides["lexical_dims"] = args.lexical_dims
    if options.ingredient_weight:
        overrides["ingredient_vocab"] = build_vocabulary(splits["train"])
        if not overrides["ingredient_vocab"]:
            raise SystemExit("--ingredient-weight: no ingredient word occurs in two training recipes; "
                             "train without it on a collection with no ingredient lists")
    try:
        config = (RetrieverConfig.from_json(args.config.read_text()) if args.config else preset(args.preset))
        model = Retriever(dataclasses.replace(config, **overrides))
    except (ValueError, OSError) as err:  # a bad config or backbone spec, weights not reachable: one line, no trace
        raise SystemExit(f"cannot build the model: {err}") from err
    if args.finetune_top is None and not args.live and not model.image_encoder.splittable:
        # The default fine-tunes the photo tail on cached activations; towers with no
        # trunk/tail split (CLIP's ViT) train heads only unless asked for --live.
        options = dataclasses.replace(options, finetune_top=0)
    fit_lexical(model, splits["train"])
    sources, trainable, feature_seconds = make_sources(model, splits, options, None if args.no_cache else args.cache_dir,
                                                       progress)
    if trainable:
        print(f"fine-tuning {len(trainable)} backbone tensors on {device}", file=sys.stderr)
    extracted = time.time()

    result = train_model(model, sources["train"], sources["val"], options, args.out, device,
                         resume=args.resume, stop_after=args.stop_after, progress=progress,
                         labels=label_matrix(splits["train"], model.config.ingredient_vocab) if options.ingredient_weight else None)
    if args.stop_after is not None and result["history"][-1]["epoch"] < options.epochs:
        print(f"stopped after epoch {args.stop_after}; continue with --resume", file=sys.stderr)
        return 0
    model.eval()
    # The recipe vector: recipe text alone, or fused with the title, whichever is better on val.
    val_embeds = embed_features(model, sources["val"], device)
    choice = {}
    for field in ("recipe", "fused"):
        m = evaluate_embeddings(val_embeds, sources["val"].has_recipe, pool=1000, recipe_pool=500, recipe_field=field)
        choice[field] = (m["image_to_recipe"]["r1"] + m["recipe_to_image"]["r1"]) / 2
    model.config.extra["recipe_vector"] = max(choice, key=choice.get)
    model.config.extra["recipe_vector_val_r1"] = choice
    field = model.config.extra["recipe_vector"]
    # Query expansion through the training pairs, each direction's setting chosen on val.
    expansion = fit_query_expansion(model, embed_features(model, sources["train"], device), sources["train"].has_recipe,
                                    val_embeds, sources["val"].has_recipe, recipe_field=field)
    model.config.extra["query_expansion_val"] = expansion
    print(f"query expansion chosen on val:\n{describe(expansion)}", file=sys.stderr)
    model.config.extra["frozen_backbones"] = options.finetune_top == 0
    # How the backbone features were made, so evaluation and index building can reuse the cache.
    model.config.extra.update(finetune_top=options.finetune_top, views=options.views, live=options.live)
    save_pretrained(model.cpu(), args.out)
    model.to(device)

    test_embeds = embed_features(model, sources["test"], device)
    test_plain = evaluate_embeddings(test_embeds, sources["test"].has_recipe, pool=1000, recipe_pool=500, recipe_field=field)
    test = evaluate_embeddings(test_embeds, sources["test"].has_recipe, pool=1000, recipe_pool=500, recipe_field=field,
                               queries=expanded_queries(model, test_embeds, field))
    finished = time.time()
    metrics = {
        "data": str(args.data), "options": dataclasses.asdict(options), "preset": args.preset,
        "best_epoch": result["best_epoch"], "best_val_score": result["best_score"],
        "selection": "best epoch by mean val R@1 over four directions; test never used for a choice",
        "recipe_vector": model.config.extra["recipe_vector"],
        "query_expansion": expansion,
        "seconds": {"features": extracted - started, **feature_seconds, "training": finished - extracted,
                    "total": finished - started},
        "epochs": result["history"],
    }
    atomic_write_bytes(args.out / "metrics.json", json.dumps(metrics, indent=2).encode())
    atomic_write_bytes(args.out / "eval_test.json", json.dumps(test, indent=2).encode())
    atomic_write_bytes(args.out / "eval_test_plain.json", json.dumps(test_plain, indent=2).encode())  # no expansion
    plot_curves(result["history"], args.out / "curves.png", result["best_epoch"])
    (args.out / "checkpoint.pt").unlink(missing_ok=True)  # the model folder is the result now
    print(f"best epoch {result['best_epoch']} (val score {result['best_score']:.3f}); recipe vector: "
          f"{model.config.extra['recipe_vector']}; {finished - started:.0f} s in all")
    print("test split (reported, never used to choose), with query expansion:\n" + format_table(test))
    if args.push_to_hub:
        # Train -> index -> Hub in one go; the index sits beside the model folder.
        from embeddings.build import build_index
        from embeddings.hub import publish

        index_dir = args.out.parent / f"{args.out.name}-index"
        build_index(args.out, args.data, index_dir, progress=progress)
        published = publish(args.out, index_dir, args.push_to_hub)
        print(f"published {published['repo']} at {published['commit']}\n{published['preload']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
