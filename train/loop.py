"""The training loop: contrastive heads (and optionally top backbone blocks), a
checkpoint each epoch, exact resume, best epoch chosen on val."""

from __future__ import annotations

import dataclasses
import io
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from model import Retriever, multi_pair_loss
from model.atomic import atomic_write_bytes
from pipeline.embed import embed_source
from pipeline.world import World, broadcast

from .distributed import wrap
from .metrics import evaluate_embeddings
from .options import TrainOptions
from .step import EmbedRows, embed_features, global_loss

CHECKPOINT = "checkpoint.pt"


def val_score(metrics: dict[str, dict]) -> float:
    """What "best epoch" means: mean R@1 over the four directions on val."""
    return sum(m["r1"] for m in metrics.values()) / len(metrics)


def batch_loss(
    model: Retriever,
    features: dict[str, torch.Tensor],
    has_recipe: torch.Tensor,
    labels: torch.Tensor | None = None,
    ingredient_weight: float = 0.0,
    **objective,
):
    """The objective (six-pair InfoNCE by default; `objective`: global_loss's keywords) over
    one process's batch of features (+ the ingredient-word loss): (loss, {term: value})."""
    embeds = embed_features(model, features)
    return global_loss(model, embeds, has_recipe, World(), labels, ingredient_weight, **objective)


def backbone_parameter_ids(model: Retriever) -> set[int]:
    """The pretrained backbones' parameters, by identity: they train at backbone_lr, every
    other module (heads, sequence encoders, re-ranker, whatever is added) at lr. Listed from
    the modules themselves, not from parameter names, so a new module called "*encoder*"
    cannot drift into the backbones' rate."""
    backbones = [model.image_encoder, *model.text_encoders.values()]
    return {id(param) for backbone in backbones for param in backbone.parameters()}


def make_optimizer(model: Retriever, options: TrainOptions) -> torch.optim.Optimizer:
    backbone, heads, in_backbone = [], [], backbone_parameter_ids(model)
    for param in model.parameters():
        if param.requires_grad:
            (backbone if id(param) in in_backbone else heads).append(param)
    groups = [{"params": heads, "lr": options.lr}]
    if backbone:
        groups.append({"params": backbone, "lr": options.backbone_lr})
    return torch.optim.AdamW(groups, weight_decay=options.weight_decay)


def lr_factor(step: int, steps_per_epoch: int, options: TrainOptions) -> float:
    """Linear warm-up, then cosine decay to zero over the planned epochs."""
    warmup = options.warmup_epochs * steps_per_epoch
    total = options.epochs * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def trainable_state(model: Retriever) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def train_model(
    model: Retriever,
    train_source,
    val_source,
    options: TrainOptions,
    out_dir: Path,
    device: torch.device,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    labels: torch.Tensor | None = None,
    world: World = World(),
    dish_labels: torch.Tensor | None = None,
) -> dict:
    """Trains in place; returns {"history", "best_epoch", "best_score"}, the best epoch's weights
    loaded in `model` (rank 0; other ranks keep the last). `labels`: (rows, K) ingredient labels
    (options.ingredient_weight > 0); `dish_labels`: (rows,) dish classes (train/dish_classes.py).
    With N ranks a step's global batch is N × batch_size rows, each rank its share."""
    out_dir.mkdir(parents=True, exist_ok=True)
    objective = options.objective()
    # Only InfoNCE reads the temperature; left trainable, DDP would wait for its gradient.
    model.logit_scale.requires_grad_(objective.loss == "infonce")
    model.to(device)
    step = wrap(EmbedRows(model), world, device)
    optimizer = make_optimizer(model, options)
    global_batch = options.batch_size * world.size
    steps_per_epoch = max(1, math.ceil(len(train_source) / global_batch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps_per_epoch, options))
    checkpoint_path = out_dir / CHECKPOINT
    saved = broadcast(read_checkpoint(checkpoint_path, options, global_batch) if resume else None, world)
    state, first_epoch = resumed_state(saved, model, optimizer, scheduler)
    if saved is not None and world.is_main:
        print(f"resuming from {checkpoint_path} after epoch {saved['epoch']}", file=sys.stderr)

    epochs = epoch_bar(first_epoch, options.epochs, progress and world.is_main)
    run_epoch = EpochSteps(model, step, train_source, options, optimizer, scheduler, world, device, labels, dish_labels)
    for epoch in epochs:
        if epoch - state["best_epoch"] > options.patience and state["best_epoch"] > 0:
            if world.is_main:
                print(f"early stop: val score has not improved since epoch {state['best_epoch']}", file=sys.stderr)
            break
        began = time.perf_counter()
        train_loss = run_epoch(epoch)
        evaluated = broadcast(evaluate_epoch(model, val_source, device) if world.is_main else None, world)
        # The epoch's steps and its val pass (benchmarks/bench_distributed.py divides rows by it).
        seconds = time.perf_counter() - began
        entry = record_epoch(state, model, epoch, train_loss, round(seconds, 3), evaluated)
        epochs.set_postfix(
            loss=f"{entry['train_loss']:.3f}", val_r1=f"{entry['val_score']:.3f}", best=state["best_epoch"]
        )
        if world.is_main:
            save_checkpoint(checkpoint_path, epoch, model, optimizer, scheduler, options, state, global_batch)
        if stop_after is not None and epoch >= stop_after:
            break
    model.load_state_dict(state["best_state"], strict=False)
    return {k: state[k] for k in ("history", "best_epoch", "best_score")}


@dataclass
class EpochSteps:
    """One epoch's optimiser steps over the training rows: called with the epoch's number,
    returns the mean training loss."""

    model: Retriever
    step: torch.nn.Module  # EmbedRows, DDP-wrapped under torchrun (train/distributed.py)
    source: object  # the training split's feature source
    options: TrainOptions
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    world: World
    device: torch.device
    labels: torch.Tensor | None
    dish_labels: torch.Tensor | None

    def __call__(self, epoch: int) -> float:
        model, options, world, device = self.model, self.options, self.world, self.device
        train_source, labels, dish_labels = self.source, self.labels, self.dish_labels
        global_batch, objective = options.batch_size * world.size, options.objective()
        # Seeds derived from the epoch (and the rank, for dropout), not carried along: a
        # resumed run draws exactly the batches, views and dropout masks the uninterrupted
        # run would have drawn. Rows and views come from one generator every rank seeds
        # alike, so the ranks agree on the global batches whatever their number.
        torch.manual_seed(options.seed * 100_003 + epoch + 1_000_003 * world.rank)
        draw = torch.Generator().manual_seed(options.seed * 7919 + epoch)
        order = torch.randperm(len(train_source), generator=draw)
        views = epoch_views(train_source, len(order), draw)
        self.step.train()
        total, batches = 0.0, 0
        for start in range(0, len(order), global_batch):
            rows = order[start : start + global_batch]
            if len(rows) < max(2, world.size):  # no negatives, or a rank with no row
                continue
            shown = None if views is None else world.share(views[rows])
            local = self.step(train_source, world.share(rows), device, shown)
            loss, _ = global_loss(
                model,
                local,
                train_source.has_recipe[rows].to(device),
                world,
                None if labels is None else labels[rows].to(device),
                options.ingredient_weight,
                objective=objective,
                dish_labels=None if dish_labels is None else dish_labels[rows].to(device),
                draw=draw,  # the cosine loss's mismatches: after this epoch's rows and views, alike on every rank
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total, batches = total + float(loss.detach()), batches + 1
        return total / max(1, batches)


def epoch_bar(first: int, last: int, shown: bool) -> tqdm:
    """Epochs first..last as a progress bar that counts the epochs a resumed run skipped."""
    return tqdm(range(first, last + 1), desc="epochs", disable=not shown, initial=first - 1, total=last)


def record_epoch(state: dict, model: Retriever, epoch: int, loss: float, seconds: float, evaluated: dict) -> dict:
    """The epoch's history entry, appended to `state`; its weights kept when val is best yet."""
    entry = {"epoch": epoch, "train_loss": loss, "step_seconds": seconds, **evaluated}
    state["history"].append(entry)
    if entry["val_score"] > state["best_score"]:
        state.update(best_epoch=epoch, best_score=entry["val_score"], best_state=trainable_state(model))
    return entry


def resumed_state(saved: dict | None, model: Retriever, optimizer, scheduler) -> tuple[dict, int]:
    """(the loop's state, the first epoch to run): a fresh start, or where a checkpoint left
    off with the model, optimiser and schedule restored from it."""
    if saved is None:
        return {"history": [], "best_epoch": 0, "best_score": -1.0, "best_state": trainable_state(model)}, 1
    model.load_state_dict(saved["trainable"], strict=False)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    return {k: saved[k] for k in ("history", "best_epoch", "best_score", "best_state")}, saved["epoch"] + 1


def epoch_views(source, rows: int, draw: torch.Generator) -> torch.Tensor | None:
    """Which cached view each row shows this epoch (indexed by row), or None for a
    source with one view or none (live sources augment as they read)."""
    count = getattr(source, "view_count", 1)
    return torch.randint(count, (rows,), generator=draw) if count > 1 else None


def evaluate_epoch(model: Retriever, val_source, device: torch.device) -> dict:
    """The val metrics, loss and score of the epoch's weights (rank 0 only: once)."""
    model.eval()
    val_embeds = embed_source(model, val_source, device)
    val = evaluate_embeddings(val_embeds, val_source.has_recipe)
    with torch.no_grad():
        ones = torch.ones_like(val_source.has_recipe)
        val_loss, _ = multi_pair_loss(
            {k: val_embeds[k] for k in ("image", "title", "recipe")},
            {"image": ones, "title": ones, "recipe": val_source.has_recipe},
            model.clamped_logit_scale().cpu(),
        )
    return {
        "val_loss": float(val_loss),
        "val_score": val_score(val),
        "val": val,
        "temperature": float(1 / model.logit_scale.detach().exp()),
    }


def read_checkpoint(path: Path, options: TrainOptions, global_batch: int) -> dict | None:
    """The checkpoint to resume from (None when there is none), refused when it was made
    with other options or another global batch (the schedule and the negatives differ)."""
    if not path.is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    # Options added since a checkpoint was made took their defaults in it; options since
    # moved to the model's settings (debias) are compared there, through the weights' keys.
    known = dataclasses.asdict(TrainOptions())
    made = {**known, **{k: v for k, v in saved["options"].items() if k in known}}
    if made != dataclasses.asdict(options):
        raise ValueError(
            f"{path} was made with other options {saved['options']}; "
            "resume with the same flags, or start afresh without --resume"
        )
    made_with = saved.get("global_batch", options.batch_size)  # older checkpoints: one process
    if made_with != global_batch:
        raise ValueError(
            f"{path} was made with a global batch of {made_with}, this run's is {global_batch}; "
            "resume with as many processes as it had, or start afresh without --resume"
        )
    return saved


def save_checkpoint(path: Path, epoch, model, optimizer, scheduler, options, state, global_batch: int) -> None:
    buffer = io.BytesIO()
    torch.save(
        {
            "epoch": epoch,
            "trainable": trainable_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "options": dataclasses.asdict(options),
            "global_batch": global_batch,
            **state,
        },
        buffer,
    )
    atomic_write_bytes(path, buffer.getvalue())


def unfreeze_top(model: Retriever, top: int, towers: tuple[str, ...] = ("image", "text")) -> list[str]:
    """Freeze every backbone parameter, then unfreeze the last `top` blocks of the image
    backbone and the last `top` layers of each text backbone, for the towers named.
    Heads always train. Returns the names of the trainable backbone parameters."""
    encoders = {"image": [model.image_encoder], "text": list(model.text_encoders.values())}
    for encoder in encoders["image"] + encoders["text"]:
        encoder.requires_grad_(False)
    for tower in towers:
        for encoder in encoders[tower]:
            for block in encoder.blocks()[-top:] if top > 0 else []:
                block.requires_grad_(True)
    in_backbone = backbone_parameter_ids(model)
    return [n for n, p in model.named_parameters() if p.requires_grad and id(p) in in_backbone]
