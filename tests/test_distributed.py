"""Training on several processes (train/distributed.py, train/step.py): two gloo CPU
processes compute what one process computes with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from safetensors.torch import load_file

from pipeline.world import World
from tiny import make_kaggle_folder, tiny_config
from train.cli import main as train_main
from train.distributed import wrap
from train.loop import CHECKPOINT, TrainOptions, read_checkpoint
from train.step import global_loss

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS, WIDTH, DIM, WORDS = 7, 6, 4, 5  # 7 rows: ranks of 4 and 3, an uneven split
# Adam turns a gradient's last-bit differences (a matrix product over 8 rows, not 16)
# into updates of up to the learning rate where a gradient element is near zero; the
# weights move by ~1e-2 in these steps (seen: differences under 1.2e-4).
ATOL = 5e-4


class Toy(torch.nn.Module):
    """Three heads, a temperature and an ingredient head: the parts global_loss uses."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.heads = torch.nn.ModuleDict({m: torch.nn.Linear(WIDTH, DIM) for m in ("image", "title", "recipe")})
        self.ingredient_head = torch.nn.Linear(DIM, WORDS)
        self.logit_scale = torch.nn.Parameter(torch.tensor(2.0))

    def clamped_logit_scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=4.6)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {m: F.normalize(head(x + i), dim=-1) for i, (m, head) in enumerate(self.heads.items())}


def global_batch():
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(ROWS, WIDTH, generator=generator)
    has_recipe = torch.tensor([True, False, True, True, True, False, True])
    labels = (torch.rand(ROWS, WORDS, generator=generator) > 0.5).float()
    return inputs, has_recipe, labels


def loss_and_grads(toy: Toy, module, world: World):
    inputs, has_recipe, labels = global_batch()
    mine = world.share(torch.arange(ROWS))
    loss, _ = global_loss(toy, module(inputs[mine]), has_recipe, world, labels, ingredient_weight=0.5)
    loss.backward()
    return float(loss.detach()), {name: p.grad.clone() for name, p in toy.named_parameters()}


def _one_rank(rank: int, size: int, rendezvous: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        world, toy = World(rank, size), Toy()
        torch.save(loss_and_grads(toy, wrap(toy, world, torch.device("cpu")), world), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_gathered_loss_and_gradients_equal_one_process_on_the_concatenated_batch(tmp_path):
    mp.spawn(_one_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    toy = Toy()
    single_loss, single_grads = loss_and_grads(toy, toy, World())
    for rank in range(2):
        loss, grads = torch.load(tmp_path / f"rank{rank}.pt")
        assert loss == pytest.approx(single_loss, rel=1e-6), f"rank {rank} sees another loss"
        for name, grad in single_grads.items():
            # After DDP's average every rank holds the one-process gradient: the heads (fed
            # only the rank's rows), the temperature and the ingredient head alike.
            assert torch.allclose(grads[name], grad, atol=1e-6), f"rank {rank}: gradient of {name} differs"


def test_world_shares_cover_the_global_batch_in_order():
    rows = torch.arange(10, 17)
    shares = [World(rank, 3).share(rows) for rank in range(3)]
    assert torch.equal(torch.cat(shares), rows)
    assert [len(s) for s in shares] == World(0, 3).batch_sizes(len(rows)) == [3, 2, 2]


def test_a_checkpoint_of_another_global_batch_is_refused(tmp_path):
    options = TrainOptions(batch_size=16)
    torch.save({"options": TrainOptions(batch_size=16).__dict__, "global_batch": 32}, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError, match="global batch of 32, this run's is 16"):
        read_checkpoint(tmp_path / CHECKPOINT, options, global_batch=16)
    assert read_checkpoint(tmp_path / CHECKPOINT, options, global_batch=32)["global_batch"] == 32


def test_two_gloo_processes_train_as_one_with_the_same_global_batch(tmp_path, text_backbone_dir, capsys):
    data = make_kaggle_folder(tmp_path / "data", n=60, title_only=10)
    config = tmp_path / "tiny.json"
    config.write_text(tiny_config(text_backbone_dir, head_dropout=0.0).to_json())  # dropout masks differ by rank
    flags = ["--data", str(data), "--config", str(config), "--epochs", "2", "--quiet"]
    # A large rate without warm-up: the weights move far beyond the tolerance in 2 epochs.
    flags += ["--lr", "1e-2", "--warmup-epochs", "0"]
    one_cache, two_cache = ["--cache-dir", str(tmp_path / "cache-one")], ["--cache-dir", str(tmp_path / "cache-two")]

    assert train_main([*flags, *one_cache, "--out", str(tmp_path / "one"), "--batch-size", "16"]) == 0
    assert "world size 1, global batch 16" in capsys.readouterr().err
    # A cache of its own: the two ranks extract its entries in shards, rank 0 merges them.
    flags += two_cache
    assert "world size 2, global batch 16" in torchrun_train(
        *flags, "--out", str(tmp_path / "two"), "--batch-size", "8"
    )
    entries = {p.name for p in (tmp_path / "cache-one").iterdir()}
    assert {p.name for p in (tmp_path / "cache-two").iterdir()} == entries, "the same entries, no shard left"
    # Stopped after epoch 1 and resumed, also on two processes.
    torchrun_train(*flags, "--out", str(tmp_path / "resumed"), "--batch-size", "8", "--stop-after", "1")
    assert "resuming" in torchrun_train(*flags, "--out", str(tmp_path / "resumed"), "--batch-size", "8", "--resume")

    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two", "resumed")}
    curves = {name: [e[k] for e in m["epochs"] for k in ("train_loss", "val_loss")] for name, m in metrics.items()}
    weights = {name: load_file(tmp_path / name / "model.safetensors") for name in metrics}
    for name in ("two", "resumed"):
        assert curves[name] == pytest.approx(curves["one"], rel=1e-4), name
        assert weights[name].keys() == weights["one"].keys()
        for key, tensor in weights["one"].items():
            assert torch.allclose(tensor, weights[name][key], atol=ATOL), f"{name}: {key} differs"
        assert not (tmp_path / name / CHECKPOINT).exists()


def torchrun_train(*flags: str) -> str:
    """`torchrun --nproc-per-node 2 -m train FLAGS` on gloo; its stderr."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    run = subprocess.run([*torchrun, "-m", "train", *flags], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stderr


def test_live_fine_tuning_runs_on_two_gloo_processes(tmp_path, text_backbone_dir):
    """--live runs every backbone in the forward DDP wraps, the unfrozen text layers
    included: each must get its gradient every step, or DDP stops the run."""
    data = make_kaggle_folder(tmp_path / "data", n=40, title_only=6)
    config = tmp_path / "tiny.json"
    config.write_text(tiny_config(text_backbone_dir).to_json())
    flags = ["--data", str(data), "--config", str(config), "--out", str(tmp_path / "live"), "--epochs", "1"]
    log = torchrun_train(*flags, "--batch-size", "8", "--live", "--finetune-top", "1", "--no-cache", "--quiet")
    assert "world size 2, global batch 16" in log and "fine-tuning" in log
    assert (tmp_path / "live" / "model.safetensors").is_file()


def test_issue_16_options_train_on_two_gloo_processes_as_on_one(tmp_path, text_backbone_dir, capsys):
    """The LSTM recipe encoder over per-line features (their cache entry extracted in
    shards), AdaMine's triplets with dish classes and the debiased photo vector: two ranks
    give one process's loss curve and weights with the same global batch."""
    data = make_kaggle_folder(tmp_path / "data", n=60, title_only=10)
    config = tmp_path / "tiny.json"
    config.write_text(tiny_config(text_backbone_dir, head_dropout=0.0).to_json())
    flags = ["--data", str(data), "--config", str(config), "--epochs", "2", "--quiet", "--lr", "1e-2"]
    flags += ["--warmup-epochs", "0", "--recipe-encoder", "lstm", "--loss", "adamine", "--dish-classes", "5"]
    flags += ["--ingredient-weight", "0.1", "--debias"]
    one = [*flags, "--cache-dir", str(tmp_path / "cache-one"), "--out", str(tmp_path / "one"), "--batch-size", "16"]
    assert train_main(one) == 0
    two = [*flags, "--cache-dir", str(tmp_path / "cache-two"), "--out", str(tmp_path / "two"), "--batch-size", "8"]
    assert "world size 2, global batch 16" in torchrun_train(*two)
    assert any(p.name.startswith("lines-") for p in (tmp_path / "cache-two").iterdir()), "no lines entry"
    metrics = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two")}
    curves = {name: [e[k] for e in m["epochs"] for k in ("train_loss", "val_loss")] for name, m in metrics.items()}
    assert curves["two"] == pytest.approx(curves["one"], rel=1e-4)
    weights = {name: load_file(tmp_path / name / "model.safetensors") for name in metrics}
    assert any("recipe_sequence" in key for key in weights["one"]) and "ingredient_vectors" in weights["one"]
    for key, tensor in weights["one"].items():
        assert torch.allclose(tensor, weights["two"][key], atol=ATOL), f"{key} differs"
