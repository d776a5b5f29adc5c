"""`python -m train --data DIR --out DIR` (or `recipe-train`): train the retriever and write
a model folder.

With only --data and --out it trains the recommended default (the full model `make demo`
swaps in): EfficientNet-Lite0 + all-MiniLM-L6-v2 from their pip packages, the photo
backbone's top three blocks fine-tuned on four cached views of every photo (the trunk below
them runs once, on the inference engine), recipes read line by line by im2recipe's LSTMs,
heads trained contrastively on the six modality pairs, best epoch chosen on val.

A run is four stages, each a module: prepare (train/prepare.py: options, rows, model,
feature sources) -> fit (train/loop.py) -> select on val (train/select.py) -> save and
publish (train/save.py). Experiments call the same stages.

`torchrun --nproc-per-node N -m train ...` trains the same on N processes (one per GPU
with nccl, or CPU processes with gloo): each step's global batch is N × --batch-size rows
whose embeddings every rank sees (train/distributed.py); rank 0 alone evaluates and writes.
"""

from __future__ import annotations

import argparse
import sys

import torch

from pipeline.world import World, join, leave

from .flags import make_parser, run_config
from .loop import train_model
from .prepare import RunPlace, prepare
from .row_targets import row_labels
from .run_config import RunConfig
from .save import publish_run, save_run
from .select import select_on_val


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def build_parser() -> argparse.ArgumentParser:
    return make_parser(__doc__)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config = run_config(parser, args)  # before any data is read: a bad flag fails at once
    place = RunPlace(args.data, args.out, None if args.no_cache else args.cache_dir, args.limit, not args.quiet)
    # Under torchrun each process is one rank of a world; a plain run is a world of one.
    world, device = join(pick_device(args.device))
    try:
        return train(config, place, world, device, args.resume, args.stop_after, args.push_to_hub)
    finally:
        leave(world)


def train(
    config: RunConfig,
    place: RunPlace,
    world: World,
    device: torch.device,
    resume: bool = False,
    stop_after: int | None = None,
    push_to_hub: str | None = None,
) -> int:
    """The run `config` describes, at `place`, stage by stage."""
    run = prepare(config, place, world, device)
    labels, dishes = row_labels(run.model.fitted, run.options, run.splits["train"])
    result = train_model(
        run.model,
        run.sources["train"],
        run.sources["val"],
        run.options,
        place.out,
        device,
        resume=resume,
        stop_after=stop_after,
        progress=place.progress and world.is_main,
        labels=labels,
        world=world,
        dish_labels=dishes,
    )
    if not world.is_main:
        return 0  # rank 0 alone evaluates and writes the model folder
    if stop_after is not None and result["history"][-1]["epoch"] < run.options.epochs:
        print(f"stopped after epoch {stop_after}; continue with --resume", file=sys.stderr)
        return 0
    save_run(run, result, select_on_val(run, place, device), place, device)
    if push_to_hub:
        publish_run(place, push_to_hub)
    return 0
