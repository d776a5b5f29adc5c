"""Training's fine-tuned image blocks in bfloat16 (TrainOptions.tail_precision): the tail
runs under CPU autocast and hands back float32 features with gradients, and a trained model
is left reading float32 (the saved weights and test scores are float32)."""

import json

import torch

from model import Retriever, load_pretrained
from tiny import tiny_config, train_tiny

TOP = 2


def tail_and_grads(encoder, activations):
    encoder.zero_grad(set_to_none=True)
    out = encoder.forward_tail(activations, TOP)
    out.square().mean().backward()
    unit = encoder.units()[-1]
    return out, torch.cat([p.grad.flatten() for p in unit.parameters() if p.grad is not None])


def test_a_bf16_tail_gives_float32_features_near_the_float32_ones(text_backbone_dir):
    encoder = Retriever(tiny_config(text_backbone_dir)).image_encoder.train()
    for param in encoder.parameters():
        param.requires_grad_(True)
    with torch.no_grad():
        activations = encoder.forward_trunk(torch.randn(6, 3, 32, 32), TOP)
    exact, exact_grads = tail_and_grads(encoder, activations)
    encoder.tail_dtype = torch.bfloat16
    low, low_grads = tail_and_grads(encoder, activations)
    assert low.dtype == torch.float32 and low_grads.dtype == torch.float32
    assert not torch.equal(low, exact)  # the blocks really ran in bfloat16
    # bfloat16 keeps 8 bits of mantissa: ~0.4% of each value, compounded over a few layers.
    assert torch.nn.functional.cosine_similarity(low, exact).min() > 0.99
    assert torch.nn.functional.cosine_similarity(low_grads, exact_grads, dim=0) > 0.95


def test_training_in_bf16_leaves_a_float32_model(tmp_path, text_backbone_dir):
    out = train_tiny(tmp_path, text_backbone_dir, "--tail-precision", "bf16", "--views", "1")
    model = load_pretrained(out)
    assert model.image_encoder.tail_dtype is None
    assert all(p.dtype == torch.float32 for p in model.image_encoder.parameters())
    assert json.loads((out / "metrics.json").read_text())["options"]["tail_precision"] == "bf16"
