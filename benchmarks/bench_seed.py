"""The seed design side by side: one end-to-end training step of ResNet50 + two DistilBERT
encoders against one step of our heads on cached features, and the full training runs.

    python benchmarks/bench_seed.py                      # batch 128, 1 warm-up + 3 timed steps (~15 min, ~16 GB)
    python benchmarks/bench_seed.py --quick              # batch 2, one step, no warm-up, scaled x64 -> seed_quick.json

The seed trained its backbones end to end, so every epoch runs them forward and backward
over every pair; ours extracts frozen features once and trains only the heads. The seed
step uses the real sizes with random weights (compute does not depend on the values):
torchvision resnet50(weights=None) on 224x224 photos, two DistilBertModel(DistilBertConfig())
towers on titles of 32 tokens and recipe texts of 200, our heads and six-pair InfoNCE on
top, AdamW over every parameter. Texts are full length: a padded batch is as long as its
longest text, and nearly every batch of 128 holds a recipe of 200+ tokens.

If a batch of 128 does not fit in memory beside the machine's other work, the step runs
as micro-batches with accumulated gradients (same arithmetic per pair; only the InfoNCE
term, a negligible share, sees fewer negatives), and the JSON says so. Memory is measured
by two probe steps (batch 8 and 16) in child processes and extrapolated linearly.

Full-run estimate = step time x steps per epoch (train rows / 128) x epochs, with the seed
given the epochs our default actually trained (read from the model's metrics.json). It
leaves out photo decoding and per-epoch validation, which the seed pays too: a lower bound.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from benchmarks.common import RESULTS, ROOT, load_average, peak_rss_mb, percentiles_ms, shown, write_result
from benchmarks.quick import QUICK_ROWS

BATCH = 128  # ours (train/loop.py TrainOptions.batch_size)
TITLE_TOKENS, RECIPE_TOKENS, IMAGE_SIZE = 32, 200, 224


class SeedModel(nn.Module):
    """ResNet50 + DistilBERT (titles) + DistilBERT (recipes), heads into one space."""

    def __init__(self):
        super().__init__()
        import torchvision
        from transformers import DistilBertConfig, DistilBertModel

        from model.heads import ProjectionHead

        self.image = torchvision.models.resnet50(weights=None)
        self.image.fc = nn.Identity()
        # channels-last as our ImageBackbone runs it: ~1.8x faster convolutions on CPU,
        # so the seed is timed at its best on this machine.
        self.image.to(memory_format=torch.channels_last)
        self.title, self.recipe = DistilBertModel(DistilBertConfig()), DistilBertModel(DistilBertConfig())
        hidden = self.title.config.dim
        self.heads = nn.ModuleDict(
            {
                "image": ProjectionHead(2048, 512, 0.2),
                "title": ProjectionHead(hidden, 512, 0.2),
                "recipe": ProjectionHead(hidden, 512, 0.2),
            }
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def loss(self, pixels: torch.Tensor, title_ids: torch.Tensor, recipe_ids: torch.Tensor) -> torch.Tensor:
        from model.loss import multi_pair_loss

        # Every token is real (no padding), so mean pooling is a plain mean over tokens.
        features = {
            "image": self.image(pixels.contiguous(memory_format=torch.channels_last)),
            "title": self.title(input_ids=title_ids).last_hidden_state.mean(1),
            "recipe": self.recipe(input_ids=recipe_ids).last_hidden_state.mean(1),
        }
        embeds = {k: nn.functional.normalize(self.heads[k](v), dim=-1) for k, v in features.items()}
        present = {k: torch.ones(len(pixels), dtype=torch.bool) for k in embeds}
        return multi_pair_loss(embeds, present, self.logit_scale)[0]


def seed_inputs(micro: int):
    vocab = 30522  # DistilBertConfig().vocab_size
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(micro, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator),
        torch.randint(vocab, (micro, TITLE_TOKENS), generator=generator),
        torch.randint(vocab, (micro, RECIPE_TOKENS), generator=generator),
    )


def seed_steps(batch: int, micro: int, steps: int, warmup: int = 1) -> dict:
    """In this process: `warmup` untimed steps (allocator, oneDNN kernels, optimizer
    state), then `steps` timed ones of `batch` pairs."""
    torch.manual_seed(0)
    model = SeedModel().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    inputs = seed_inputs(micro)
    rss_before = peak_rss_mb()
    times = []
    for step in tqdm(range(warmup + steps), desc=f"seed steps (batch {batch}, micro-batch {micro})", file=sys.stderr):
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        for _ in range(batch // micro):
            (model.loss(*inputs) * (micro / batch)).backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - began)
    return {
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "batch": batch,
        "micro_batch": micro,
        "warmup_steps": warmup,
        "step_seconds": [round(t, 2) for t in times],
        "peak_rss_before_steps_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def child(batch: int, micro: int, steps: int, warmup: int = 1) -> dict:
    """seed_steps in a child process, so its peak memory is its own."""
    command = [sys.executable, __file__, "--child", str(batch), str(micro), str(steps), str(warmup)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def available_mb() -> float:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(info["MemAvailable"].split()[0]) / 1024


def choose_micro_batch(share: float) -> dict:
    """The largest micro-batch (128 down to 8) whose extrapolated peak memory fits in
    `share` of the memory available now (others' training runs here too)."""
    small, large = child(8, 8, 0), child(16, 16, 0)
    per_pair = max(0.0, (large["peak_rss_mb"] - small["peak_rss_mb"]) / 8)
    predict = lambda m: large["peak_rss_mb"] + (m - 16) * per_pair  # noqa: E731
    budget = share * available_mb()
    micro = next((m for m in (128, 64, 32, 16) if predict(m) <= budget), 8)
    return {
        "micro_batch": micro,
        "probe_peak_rss_mb": {"8": small["peak_rss_mb"], "16": large["peak_rss_mb"]},
        "mb_per_pair": round(per_pair, 1),
        "predicted_peak_rss_mb_at_128": round(predict(128), 0),
        "memory_budget_mb": round(budget, 0),
    }


def our_head_step(steps: int) -> dict:
    """One step of our training loop on cached features (train/loop.py's batch_loss and
    AdamW over the heads), batch 128; features random, of the cached shapes."""
    import dataclasses

    from benchmarks.heads_lab import LAB_CONFIG
    from model import Retriever, preset
    from train.loop import TrainOptions, batch_loss, make_optimizer, unfreeze_top

    torch.manual_seed(0)
    # The pooled recipe encoder, as the frozen-heads benchmarks pin it: its head reads one
    # cached feature vector per recipe, which is what this step times (the preset's "lstm"
    # reads the recipe's lines instead).
    model = Retriever(dataclasses.replace(preset("default"), **LAB_CONFIG))
    unfreeze_top(model, 0)
    model.train()
    optimizer = make_optimizer(model, TrainOptions())
    # What each head reads from the cache: backbone features, with the lexical ones on the text sides.
    width = {name: getattr(model, f"{name}_head")[0].in_features for name in ("image", "title", "recipe")}
    features = {name: torch.randn(BATCH, size) for name, size in width.items()}
    has_recipe = torch.rand(BATCH) < 3836 / 10692  # the sample's share of rows with a recipe
    times = []
    for step in tqdm(range(steps + 10), desc="our head steps", file=sys.stderr):
        began = time.perf_counter()
        loss, _ = batch_loss(model, features, has_recipe)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 10:
            times.append(time.perf_counter() - began)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_parameters_m": round(trainable / 1e6, 2), "batch": BATCH, **percentiles_ms(times)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "epicurious"))
    p.add_argument(
        "--model",
        default=str(ROOT / "artifacts" / "model"),
        help="our trained model (its metrics.json gives the epochs)",
    )
    p.add_argument("--steps", type=int, default=3, help="timed seed steps after one warm-up")
    p.add_argument("--micro-batch", type=int, help="skip the memory probes and use this micro-batch")
    p.add_argument("--memory-share", type=float, default=0.6, help="share of available memory the seed step may use")
    p.add_argument(
        "--quick", action="store_true", help="batch 2, one step with no warm-up, scaled x64; written to seed_quick.json"
    )
    p.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(seed_steps(*args.child)))
        return

    from pipeline.read import load_recipes
    from pipeline.splits import split_of

    load_start = load_average()
    recipes = load_recipes(args.data, progress=False)[: QUICK_ROWS if args.quick else None]
    train_rows = sum(split_of(r.id) == "train" for r in recipes)
    steps_per_epoch = math.ceil(train_rows / BATCH)
    metrics = json.loads((Path(args.model) / "metrics.json").read_text())
    epochs = len(metrics["epochs"])
    ours = json.loads((RESULTS / "train.json").read_text())

    if args.quick:
        memory, batch, steps = {"micro_batch": 2, "note": "quick: batch 2, scaled linearly to 128"}, 2, 1
    elif args.micro_batch:
        memory, batch, steps = (
            {"micro_batch": args.micro_batch, "note": "micro-batch given on the command line"},
            BATCH,
            args.steps,
        )
    else:
        memory, batch, steps = choose_micro_batch(args.memory_share), BATCH, args.steps
    seed = child(batch, memory["micro_batch"], steps, warmup=0 if args.quick else 1)
    step_s = float(np.median(seed["step_seconds"])) * BATCH / batch  # x1 unless quick
    head = our_head_step(20 if args.quick else 200)
    head_s = head["p50_ms"] / 1000

    seed_run_s = step_s * steps_per_epoch * epochs
    figures = {
        "quick": args.quick,
        "train_rows": train_rows,
        "batch": BATCH,
        "steps_per_epoch": steps_per_epoch,
        "epochs": epochs,
        "epochs_assumption": f"the seed given as many epochs as our default model trained: best epoch "
        f"{metrics['best_epoch']} + patience {metrics['options']['patience']}",
        "epochs_source": shown(Path(args.model) / "metrics.json"),
        "seed_step": {
            **seed,
            **memory,
            "median_step_seconds_at_128": round(step_s, 2),
            "scaled_from_batch": batch if batch != BATCH else None,
        },
        "our_head_step": head,
        "seed_full_run_minutes": round(seed_run_s / 60, 1),
        "our_heads_compute_minutes": round(head_s * steps_per_epoch * epochs / 60, 3),
        "our_full_run_minutes_from_nothing": round(ours["minutes_from_nothing"], 2),
        "our_full_run_minutes_with_cache": round(ours["minutes_with_cache"], 2),
        "our_full_run_source": {k: ours[k] for k in ("command", "date", "commit")},
        "ratio_step_seed_over_our_head_step": round(step_s / head_s, 0),
        "ratio_run_seed_over_ours_from_nothing": round(seed_run_s / 60 / ours["minutes_from_nothing"], 1),
        "ratio_run_seed_over_ours_with_cache": round(seed_run_s / 60 / ours["minutes_with_cache"], 1),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    print(
        f"seed step (ResNet50 + 2x DistilBERT, batch {BATCH}, micro-batch {memory['micro_batch']}"
        f"{', scaled from batch ' + str(batch) if batch != BATCH else ''}): "
        f"{step_s:.1f} s median of {seed['step_seconds']}; peak RSS {seed['peak_rss_mb'] / 1024:.1f} GB"
    )
    print(
        f"our head step on cached features, batch {BATCH}: {head['p50_ms']:.1f} ms median (p10 {head['p10_ms']:.1f}, "
        f"p90 {head['p90_ms']:.1f}) -> {figures['ratio_step_seed_over_our_head_step']:.0f}x per step"
    )
    print(
        f"full run on {train_rows} training rows, {steps_per_epoch} steps x {epochs} epochs: "
        f"seed ~{seed_run_s / 60:.0f} min vs ours {ours['minutes_from_nothing']:.1f} min from nothing "
        f"({figures['ratio_run_seed_over_ours_from_nothing']}x), {ours['minutes_with_cache']:.1f} min with the "
        f"feature cache ({figures['ratio_run_seed_over_ours_with_cache']}x)"
    )
    print(f"load average (1, 5, 15 min): {load_start} at start, {figures['load_average_end']} at end")
    write_result("seed_quick" if args.quick else "seed", figures)


if __name__ == "__main__":
    main()
