"""AdaMine and the cosine loss over the gathered global batch (train/step.py): two gloo
processes compute the loss and gradients one process computes on the whole batch."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_distributed import ROWS, Toy, global_batch

from pipeline.world import World
from train.distributed import wrap
from train.objectives import resolve_objective
from train.step import global_loss

DISHES = torch.tensor([1, 2, 1, 0, 2, 1, 0])  # one per row of global_batch, 0 background


class DishToy(Toy):
    """Toy's heads, without a trainable temperature (train_model freezes it for these
    losses), with the dish classifier where the loss has one (cosine's, not AdaMine's)."""

    def __init__(self, loss: str):
        super().__init__()
        if loss == "cosine":
            self.dish_head = torch.nn.Linear(self.ingredient_head.in_features, 3)
        self.logit_scale.requires_grad_(False)


def loss_and_grads(toy: DishToy, module, world: World, loss: str):
    inputs, has_recipe, labels = global_batch()
    mine = world.share(torch.arange(ROWS))
    value, _ = global_loss(
        toy,
        module(inputs[mine]),
        has_recipe,
        world,
        labels,
        0.5,
        objective=resolve_objective(loss, semantic_weight=0.5),
        dish_labels=DISHES,
        draw=torch.Generator().manual_seed(3),
    )
    value.backward()
    return float(value.detach()), {n: p.grad.clone() for n, p in toy.named_parameters() if p.requires_grad}


def _one_rank(rank: int, size: int, rendezvous: str, out: str, loss: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=size)
    try:
        world, toy = World(rank, size), DishToy(loss)
        torch.save(loss_and_grads(toy, wrap(toy, world, torch.device("cpu")), world, loss), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("loss", ["adamine", "cosine"])
def test_two_processes_compute_the_one_process_loss_and_gradients(loss, tmp_path):
    mp.spawn(_one_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path), loss), nprocs=2, join=True)
    toy = DishToy(loss)
    single_loss, single_grads = loss_and_grads(toy, toy, World(), loss)
    for rank in range(2):
        value, grads = torch.load(tmp_path / f"rank{rank}.pt")
        assert value == pytest.approx(single_loss, rel=1e-6), f"rank {rank} sees another loss"
        assert grads.keys() == single_grads.keys()
        for name, grad in single_grads.items():
            assert torch.allclose(grads[name], grad, atol=1e-6), f"rank {rank}: gradient of {name} differs"
