"""`python -m train --data DIR --out DIR`: train the retriever and write a model folder.

With only --data and --out it trains the recommended default (the full model `make demo`
swaps in): EfficientNet-Lite0 + all-MiniLM-L6-v2 from their pip packages, the photo
backbone's top three blocks fine-tuned on four cached views of every photo (the trunk below
them runs once, on the inference engine), recipes read line by line by im2recipe's LSTMs,
heads trained contrastively on the six modality pairs, best epoch chosen on val.

`torchrun --nproc-per-node N -m train ...` trains the same on N processes (one per GPU
with nccl, or CPU processes with gloo): each step's global batch is N × --batch-size rows
whose embeddings every rank sees (train/distributed.py); rank 0 alone evaluates and writes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch

from embeddings.building.build import build_index
from embeddings.building.publish import publish
from model import (
    FeatureRecord,
    Retriever,
    RetrieverConfig,
    preset,
    save_pretrained,
)
from model.atomic import atomic_write_json
from model.preprocess import recipe_text
from pipeline.embed import embed_source
from pipeline.read import load_recipes
from pipeline.sources import cached_sources, live_sources, rerank_inputs
from pipeline.splits import split_rows
from pipeline.world import World, join, leave

from .calibration import describe as describe_confidence
from .calibration import fit_confidence, pool_from_embeds
from .calibration import score as score_confidence
from .designs import DESIGNS
from .expansion import describe, fit_query_expansion, score_test
from .flags import loss_options, make_parser
from .loop import TrainOptions, train_model, unfreeze_top
from .metrics import evaluate_embeddings, format_table
from .plots import plot_curves
from .rerank import report, train_reranker
from .row_targets import fit_row_state, row_labels


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def make_sources(model: Retriever, splits: dict, options: TrainOptions, cache_dir, progress: bool, world: World):
    """Feature sources of each split for the training mode, the unfrozen backbone tensors,
    and the seconds spent on text and on photo features (near zero on a cache hit)."""
    if options.live:
        return live_sources(model, splits), unfreeze_top(model, options.finetune_top), {}
    if options.finetune_top and not model.image_encoder.splittable:
        raise SystemExit(
            f"{model.config.image_backbone} cannot fine-tune on cached activations; "
            "add --live to run it on every batch (a GPU helps)"
        )
    trainable = unfreeze_top(model, options.finetune_top, towers=("image",))
    sources, seconds = cached_sources(model, splits, options.views, options.finetune_top, cache_dir, progress, world)
    return sources, trainable, seconds


def fit_lexical(model: Retriever, train_recipes: list, report: bool = True) -> None:
    """Fit the model's lexical features to the training rows (titles of all, recipe texts of
    those with a recipe): never to val or test. About 15 s for the sample's 7.5k rows."""
    if not model.config.lexical_dims:
        return
    started = time.time()
    model.fit_lexical(
        [r.title for r in train_recipes],
        [recipe_text(r.ingredients, r.instructions) for r in train_recipes if r.has_recipe],
    )
    sizes = model.fitted.lexical_vocabulary
    if not report:
        return
    print(
        f"lexical features fitted on {len(train_recipes)} training rows: {sizes['title']} title terms, "
        f"{sizes['recipe']} recipe terms ({time.time() - started:.0f} s)",
        file=sys.stderr,
    )


def choose_recipe_vector(model: Retriever, val_embeds: dict, val_has_recipe: torch.Tensor) -> None:
    """The recipe vector: recipe text alone, or fused with the title, whichever gives the
    better mean val R@1 of image->recipe and recipe->image."""
    choice = {}
    for field in ("recipe", "fused"):
        m = evaluate_embeddings(val_embeds, val_has_recipe, recipe_field=field)
        choice[field] = (m["image_to_recipe"]["r1"] + m["recipe_to_image"]["r1"]) / 2
    model.fitted.recipe_vector = max(choice, key=choice.get)
    model.fitted.recipe_vector_val_r1 = choice


def calibration_pool(splits: dict, sources: dict, embeds: dict):
    """Every row of the collection (train, val, test), as the index built from it will hold them."""
    names = ("train", "val", "test")
    joined = {field: torch.cat([embeds[n][field] for n in names]) for field in ("image", "title", "recipe")}
    has_recipe = torch.cat([sources[n].has_recipe for n in names])
    titles = [r.title for n in names for r in splits[n]]
    return pool_from_embeds(joined, has_recipe, titles, [n for n in names for _ in splits[n]])


def build_parser() -> argparse.ArgumentParser:
    return make_parser(__doc__)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.preset in DESIGNS:  # a seed system's design: its settings become the flags' defaults
        parser.set_defaults(**DESIGNS[args.preset])
        args = parser.parse_args(argv)
    losses = loss_options(parser, args)  # before any data is read: a bad flag fails at once
    # Under torchrun each process is one rank of a world; a plain run is a world of one.
    world, device = join(pick_device(args.device))
    try:
        return train(args, world, device, losses)
    finally:
        leave(world)


def train(args: argparse.Namespace, world: World, device: torch.device, losses: dict) -> int:
    """The run `args` asks for; `losses`: loss_options' TrainOptions fields."""
    d = TrainOptions()
    started = time.time()
    progress = not args.quiet and world.is_main
    options = TrainOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        backbone_lr=args.backbone_lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        finetune_top=d.finetune_top if args.finetune_top is None else args.finetune_top,
        views=args.views,
        tail_precision=args.tail_precision,
        live=args.live,
        patience=args.patience,
        seed=args.seed,
        ingredient_weight=args.ingredient_weight,
        **losses,
    )
    recipes = load_recipes(args.data, progress=progress)
    if args.limit:
        recipes = recipes[: args.limit]
    splits = split_rows(recipes)
    for name, rows in splits.items():
        if sum(r.has_recipe for r in rows) < 2 or len(rows) < 2:
            raise SystemExit(
                f"the {name} split of {args.data} has {len(rows)} rows "
                f"({sum(r.has_recipe for r in rows)} full recipes): too few to train and choose on val"
            )
    if world.is_main:
        # Said even with --quiet: which world the run trains in decides its batches.
        print(f"world size {world.size}, global batch {options.batch_size * world.size}", file=sys.stderr)
        print(
            " / ".join(f"{n}: {len(rows)} rows, {sum(r.has_recipe for r in rows)} full" for n, rows in splits.items()),
            file=sys.stderr,
        )

    torch.manual_seed(args.seed)  # head initialisation
    overrides = {"embed_dim": args.embed_dim} if args.embed_dim else {}
    if options.debias:
        overrides["debias"] = True
    if args.lexical_dims is not None:
        overrides["lexical_dims"] = args.lexical_dims
    if args.recipe_encoder is not None:
        overrides["recipe_encoder"] = args.recipe_encoder
    if args.rerank is not None:
        overrides["rerank"] = args.rerank
    try:
        fitted = fit_row_state(options, splits["train"])
    except ValueError as err:
        raise SystemExit(str(err)) from err
    if fitted.dish_classes and world.is_main:
        background = float((row_labels(fitted, options, splits["train"])[1] == 0).float().mean())
        print(
            f"{len(fitted.dish_classes) - 1} dish classes from the training titles; "
            f"{background:.0%} of training rows are background",
            file=sys.stderr,
        )
    try:
        if args.config:
            config = RetrieverConfig.from_json(args.config.read_text())
        elif args.preset in DESIGNS:  # our backbones, the design's recipe encoder (an override above)
            config = dataclasses.replace(preset("default"), preset=args.preset)
        else:
            config = preset(args.preset)
        model = Retriever(dataclasses.replace(config, **overrides), fitted)
    except (ValueError, OSError) as err:  # a bad config or backbone spec, weights not reachable: one line, no trace
        raise SystemExit(f"cannot build the model: {err}") from err
    if args.finetune_top is None and not args.live and not model.image_encoder.splittable:
        # The default fine-tunes the photo tail on cached activations; towers with no
        # trunk/tail split (CLIP's ViT) train heads only unless asked for --live.
        options = dataclasses.replace(options, finetune_top=0)
    fit_lexical(model, splits["train"], report=world.is_main)
    # Under torchrun each rank extracts its share of the feature cache (pipeline/features.py).
    sources, trainable, feature_seconds = make_sources(
        model, splits, options, None if args.no_cache else args.cache_dir, progress, world
    )
    if trainable and world.is_main:
        print(f"fine-tuning {len(trainable)} backbone tensors on {device}", file=sys.stderr)
    if model.has_reranker:
        # Trained after the dual encoder (train/rerank.py): no gradient of it now, which DDP would wait for.
        model.reranker.requires_grad_(False)
        if world.size > 1 and not args.no_cache:
            # Every rank extracts its share of the regions and lines entries now; rank 0 reads them later.
            rerank_inputs(model, splits, sources, options.finetune_top, args.cache_dir, progress, world, names=())
    extracted = time.time()

    labels, dishes = row_labels(model.fitted, options, splits["train"])
    result = train_model(
        model,
        sources["train"],
        sources["val"],
        options,
        args.out,
        device,
        resume=args.resume,
        stop_after=args.stop_after,
        progress=progress,
        labels=labels,
        world=world,
        dish_labels=dishes,
    )
    if not world.is_main:
        return 0  # rank 0 alone evaluates and writes the model folder
    if args.stop_after is not None and result["history"][-1]["epoch"] < options.epochs:
        print(f"stopped after epoch {args.stop_after}; continue with --resume", file=sys.stderr)
        return 0
    model.eval()
    val_embeds = embed_source(model, sources["val"], device)
    choose_recipe_vector(model, val_embeds, sources["val"].has_recipe)
    # Query expansion through the training pairs, each direction's setting chosen on val.
    train_embeds = embed_source(model, sources["train"], device)
    expansion = fit_query_expansion(
        model,
        train_embeds,
        sources["train"].has_recipe,
        val_embeds,
        sources["val"].has_recipe,
        recipe_field=model.fitted.recipe_vector,
    )
    print(f"query expansion chosen on val:\n{describe(expansion)}", file=sys.stderr)
    rerank = None
    if model.has_reranker:
        started_rerank = time.time()
        cache_dir = None if args.no_cache else args.cache_dir
        inputs = rerank_inputs(model, splits, sources, options.finetune_top, cache_dir, progress)
        rerank = train_reranker(model, sources, inputs, device, args.rerank_epochs, args.seed, progress)
        rerank["seconds"] = round(time.time() - started_rerank, 1)
        report(rerank)
        del inputs
    # How the backbone features were made, so evaluation and index building can reuse the cache.
    model.fitted.features = FeatureRecord(options.finetune_top, options.views, options.live)
    test_embeds = embed_source(model, sources["test"], device)
    # How sure answers are, fitted on val against every row (the index the app will search).
    pool = calibration_pool(splits, sources, {"train": train_embeds, "val": val_embeds, "test": test_embeds})
    fit_confidence(model.cpu(), pool)
    save_pretrained(model, args.out)
    confidence = score_confidence(model, pool)
    atomic_write_json(args.out / "confidence_test.json", confidence)
    print(
        f"how sure answers are (fitted on val), on the test split:\n{describe_confidence(confidence)}", file=sys.stderr
    )
    model.to(device)

    test = score_test(model, test_embeds, sources["test"].has_recipe)
    finished = time.time()
    metrics = {
        "data": str(args.data),
        "options": dataclasses.asdict(options),
        "preset": args.preset,
        "best_epoch": result["best_epoch"],
        "best_val_score": result["best_score"],
        "selection": "best epoch by mean val R@1 over four directions; test never used for a choice",
        "recipe_vector": model.fitted.recipe_vector,
        "query_expansion": expansion,
        "rerank": rerank,
        "seconds": {
            "features": extracted - started,
            **feature_seconds,
            "training": finished - extracted,
            "total": finished - started,
        },
        "epochs": result["history"],
    }
    atomic_write_json(args.out / "metrics.json", metrics)
    atomic_write_json(args.out / "eval_test.json", test["expanded"])
    atomic_write_json(args.out / "eval_test_plain.json", test["plain"])  # no expansion
    plot_curves(result["history"], args.out / "curves.png", result["best_epoch"])
    (args.out / "checkpoint.pt").unlink(missing_ok=True)  # the model folder is the result now
    print(
        f"best epoch {result['best_epoch']} (val score {result['best_score']:.3f}); recipe vector: "
        f"{model.fitted.recipe_vector}; {finished - started:.0f} s in all"
    )
    print("test split (reported, never used to choose), with query expansion:\n" + format_table(test["expanded"]))
    if args.push_to_hub:
        # Train -> index -> Hub in one go; the index sits beside the model folder.
        index_dir = args.out.parent / f"{args.out.name}-index"
        build_index(args.out, args.data, index_dir, progress=progress)
        published = publish(args.out, index_dir, args.push_to_hub)
        print(f"published {published['repo']} at {published['commit']}\n{published['preload']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
