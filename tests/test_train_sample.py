"""One small end-to-end run of `python -m train` on 64 rows of the real sample, with the
real packaged weights, as a user would type it."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_on_64_real_rows(sample_dir, tmp_path):
    out = tmp_path / "model"
    command = [
        sys.executable,
        "-m",
        "train",
        "--data",
        str(sample_dir),
        "--out",
        str(out),
        "--limit",
        "64",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--quiet",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test split" in done.stdout and "image_to_recipe" in done.stdout
    assert "10692 rows -> 10692 kept" in done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2
    assert (out / "model.safetensors").stat().st_size > 50_000_000  # real backbones inside
