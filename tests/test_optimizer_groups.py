"""The optimizer's two learning rates follow the modules, not their names."""

import torch
from torch import nn

from model import Retriever
from tiny import tiny_config
from train.loop import TrainOptions, make_optimizer, unfreeze_top


def lr_of(optimizer: torch.optim.Optimizer, param: nn.Parameter) -> float:
    (lr,) = [group["lr"] for group in optimizer.param_groups if any(p is param for p in group["params"])]
    return lr


def test_only_the_backbones_train_at_the_backbone_rate_whatever_a_module_is_called(text_backbone_dir):
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir))
    model.new_encoder = nn.Linear(4, 4)  # a head-like module whose name says "encoder"
    unfreeze_top(model, 1)
    options = TrainOptions(lr=1e-3, backbone_lr=1e-5)
    optimizer = make_optimizer(model, options)
    assert lr_of(optimizer, model.new_encoder.weight) == options.lr
    assert lr_of(optimizer, next(model.image_head.parameters())) == options.lr
    top_image = next(p for p in model.image_encoder.blocks()[-1].parameters() if p.requires_grad)
    top_text = next(p for p in model.title_encoder.blocks()[-1].parameters() if p.requires_grad)
    assert lr_of(optimizer, top_image) == options.backbone_lr
    assert lr_of(optimizer, top_text) == options.backbone_lr
    frozen = next(model.image_encoder.blocks()[0].parameters())
    assert not any(p is frozen for group in optimizer.param_groups for p in group["params"])
