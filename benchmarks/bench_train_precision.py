"""Training's fine-tuned photo blocks in float32 or bfloat16 (--tail-precision): the step's
speed on random activations, and, given two trained models, their epochs' step seconds,
val and test figures side by side.

    python benchmarks/bench_train_precision.py                       # the step alone
    python benchmarks/bench_train_precision.py --runs FP32_MODEL BF16_MODEL

The models of --runs are `python -m train --data ../shared/data/epicurious --out DIR
--tail-precision {fp32,bf16} [--epochs N]` (same seed and feature cache); any trained
model folders compare, so the table also holds other settings' runs (more epochs). Figures, not tests: timings
depend on the machine and on what else runs on it (the load average is stored).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.common import load_average, shown, write_result

BACKBONE = "timm:tf_efficientnet_lite0"  # the default's photo backbone
TOP, BATCH, STEPS = 3, 128, 5  # the default's fine-tuned blocks and batch; timed steps


def step_ms(threads: int, dtype) -> float:
    """Mean ms of one forward + backward of the top blocks on a batch of cached
    activations, after two warm-up steps."""
    import torch

    from model.encoders import ImageBackbone

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    encoder = ImageBackbone(BACKBONE).train()
    with torch.no_grad():
        shape = encoder.forward_trunk(torch.zeros(1, 3, 224, 224), TOP).shape[1:]
    activations = torch.randn(BATCH, *shape)
    for param in encoder.parameters():
        param.requires_grad_(False)
    for unit in encoder.units()[-TOP:]:
        for param in unit.parameters():
            param.requires_grad_(True)
    encoder.tail_dtype = dtype

    def step():
        encoder.forward_tail(activations, TOP).square().mean().backward()

    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(STEPS):
        step()
    return round((time.perf_counter() - started) / STEPS * 1000, 1)


def run_figures(model_dir: Path) -> dict:
    metrics = json.loads((model_dir / "metrics.json").read_text())
    test = json.loads((model_dir / "eval_test.json").read_text())
    steps = [entry["step_seconds"] for entry in metrics["epochs"]]  # one entry per epoch run
    return {
        "model": shown(model_dir),
        "tail_precision": metrics["options"].get("tail_precision", "fp32"),
        "epochs_planned": metrics["options"]["epochs"],
        "epochs_run": len(steps),
        "mean_epoch_step_s": round(sum(steps) / len(steps), 1),
        "training_s": round(metrics["seconds"]["training"], 1),
        "best_epoch": metrics["best_epoch"],
        "best_val_score": round(metrics["best_val_score"], 4),
        "test_r1": {d: [round(f["r1"], 4), round(f["r1_std"], 4)] for d, f in test.items() if "r1" in f},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="+", type=Path, default=[], help="trained model folders to compare")
    args = parser.parse_args()
    import torch

    before = load_average()
    dtypes = (("fp32", None), ("bf16", torch.bfloat16))
    step = {f"{threads}_threads": {name: step_ms(threads, dtype) for name, dtype in dtypes} for threads in (1, 2)}
    for figures in step.values():
        figures["speed-up"] = round(figures["fp32"] / figures["bf16"], 2)
    payload = {
        "backbone": BACKBONE,
        "top_blocks": TOP,
        "batch": BATCH,
        "step_ms": step,
        "runs": [run_figures(folder) for folder in args.runs],
        "load_average": [before, load_average()],
    }
    print(json.dumps(payload, indent=2))
    write_result("train_precision", payload)


if __name__ == "__main__":
    main()
