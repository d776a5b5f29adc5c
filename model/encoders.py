"""Backbones: an image backbone (timm or torchvision) and a text backbone (transformers)
with mean pooling. Each returns one pooled feature vector per input, before any head."""

from __future__ import annotations

import torch
from torch import nn

from .token_groups import length_groups
from .weights import load_image_weights, resolve_text_backbone


def engine_may_run(module: nn.Module, inputs: torch.Tensor) -> bool:
    """An engine graph replaces a torch pass only where nothing trains and nothing needs
    CUDA: eval mode, no gradients, CPU inputs. Training, --live and GPUs stay on torch."""
    return not module.training and not torch.is_grad_enabled() and inputs.device.type == "cpu"


class ImageBackbone(nn.Module):
    """pixel_values (B, 3, S, S) -> pooled features (B, C)."""

    def __init__(self, spec: str, weights: str = ""):
        super().__init__()
        library, _, name = spec.partition(":")
        self.library, self.name = library, name
        if library == "timm":
            import timm

            self.net = timm.create_model(name, pretrained=(weights == "timm-hub"))
            load_image_weights(self.net, weights)
            self.feature_dim = self.net.num_features
        elif library == "torchvision":
            import torchvision

            tv_weights = weights.split(":", 1)[1] if weights.startswith("torchvision:") else None
            self.net = torchvision.models.get_model(name, weights=tv_weights)
            load_image_weights(self.net, weights)
            self.feature_dim = self.net.fc.in_features
            self.net.fc = nn.Identity()  # the pooled 2048-d vector is the feature
        else:
            raise ValueError(
                "image backbone must be 'timm:<name>', 'torchvision:<name>' or "
                f"'hf-clip:<Hub id or folder>', got {spec!r}"
            )
        # channels-last convolutions run ~1.8x faster on CPU (measured: Lite0, 64 photos,
        # 2.7 s -> 1.5 s on 2 cores); the weights' values and names are unchanged.
        self.net.to(memory_format=torch.channels_last)
        # Engine graphs (model/engine.py) that replace passes that only infer: "pooled"
        # (forward) and trunk<N> (forward_trunk(x, N)); attached by use_engine, never saved.
        self.graphs: dict[str, object] = {}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        graph = self.graphs.get("pooled")
        if graph is not None and engine_may_run(self, pixel_values):
            return graph(pixel_values)
        return self.torch_forward(pixel_values)

    def torch_forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        if self.library == "timm":
            return self.net.forward_head(self.net.forward_features(pixel_values), pre_logits=True)
        return self.net(pixel_values)

    splittable = True  # forward_trunk / forward_tail can fine-tune top blocks on cached activations

    def units(self) -> list[nn.Module]:
        """Every step from pixels to the last feature map, in order: the stem, each block,
        then the head convolution. Pooling the last map gives forward()'s features."""
        net = self.net
        if self.library == "timm" and hasattr(net, "blocks"):
            # EfficientNet: every inverted-residual block is a unit.
            blocks = [block for stage in net.blocks for block in stage]
            return [nn.Sequential(net.conv_stem, net.bn1), *blocks, nn.Sequential(net.conv_head, net.bn2)]
        if self.library == "torchvision" and hasattr(net, "layer4"):
            blocks = [block for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for block in layer]
            return [nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool), *blocks]
        raise ValueError(f"don't know the blocks of {self.library}:{self.name}")

    def blocks(self) -> list[nn.Module]:
        """The units after the stem; fine-tuning unfreezes the last few."""
        return self.units()[1:]

    # Fine-tuning the top `top` blocks on a CPU: the trunk (everything below them) runs once
    # per cached view, the tail runs every step. forward(x) == forward_tail(forward_trunk(x, top), top).
    def forward_trunk(self, pixel_values: torch.Tensor, top: int) -> torch.Tensor:
        graph = self.graphs.get(f"trunk{top}")
        if graph is not None and engine_may_run(self, pixel_values):
            return graph(pixel_values).contiguous(memory_format=torch.channels_last)
        return self.torch_trunk(pixel_values, top)

    def torch_trunk(self, pixel_values: torch.Tensor, top: int) -> torch.Tensor:
        x = pixel_values.contiguous(memory_format=torch.channels_last)
        for unit in self.units()[: -top or None]:
            x = unit(x)
        return x

    def forward_tail(self, activations: torch.Tensor, top: int) -> torch.Tensor:
        return self.pool(self.tail_map(activations, top))

    def tail_map(self, activations: torch.Tensor, top: int) -> torch.Tensor:
        """The top `top` blocks on cached activations -> the last feature map (B, C, h, w), unpooled."""
        x = activations.contiguous(memory_format=torch.channels_last)
        for unit in self.units()[-top:] if top else []:
            x = unit(x)
        return x

    def feature_map(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixels -> the last feature map (B, C, h, w) before pooling (Lite0: 1280 x 7 x 7);
        pool(feature_map(x)) == forward(x), so one pass gives a photo's regions and features."""
        return self.forward_trunk(pixel_values, 0)

    def pool(self, feature_map: torch.Tensor) -> torch.Tensor:
        """The last feature map -> the pooled features forward() returns, (B, C)."""
        if self.library == "timm":
            return self.net.forward_head(feature_map, pre_logits=True)
        return torch.flatten(self.net.avgpool(feature_map), 1)

    def train(self, mode: bool = True) -> "ImageBackbone":
        # BatchNorm keeps its ImageNet statistics even while blocks fine-tune: batches of
        # 7x7 maps from a few thousand food photos would drag them off (affine weights train).
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


class TextBackbone(nn.Module):
    """list[str] -> mean-pooled token features (B, H), padding excluded from the mean."""

    def __init__(self, spec: str, from_config_dir: str | None = None):
        super().__init__()
        self.spec = spec
        self.net, self.tokenizer = self.load(spec, from_config_dir)
        self.feature_dim = self.output_dim
        self.graph = None  # an engine graph for forward_tokens (model/engine.py), never saved

    def load(self, spec: str, from_config_dir: str | None):
        """(transformer, tokenizer); subclasses (the CLIP text tower) load other classes."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        if from_config_dir is not None:
            # Rebuilding a saved model: architecture and tokenizer from its folder, weights
            # come afterwards from model.safetensors, so no network and no pip package.
            net = AutoModel.from_config(AutoConfig.from_pretrained(from_config_dir))
            return net, AutoTokenizer.from_pretrained(from_config_dir)
        source = resolve_text_backbone(spec)
        return AutoModel.from_pretrained(source), AutoTokenizer.from_pretrained(source)

    @property
    def output_dim(self) -> int:
        return self.net.config.hidden_size

    def tokenize(self, texts: list[str], max_tokens: int) -> dict[str, torch.Tensor]:
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")

    def forward_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.graph is not None and engine_may_run(self, input_ids):
            return self.graph(input_ids, attention_mask)
        return self.torch_tokens(input_ids, attention_mask)

    def torch_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.net(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, texts: list[str], max_tokens: int) -> torch.Tensor:
        device = next(self.net.parameters()).device
        tokens = self.tokenize(texts, max_tokens)
        ids, mask = tokens["input_ids"], tokens["attention_mask"]
        if self.graph is not None and engine_may_run(self, ids) and self.tokenizer.padding_side == "right":
            return self.graph_in_length_groups(ids, mask)
        return self.forward_tokens(ids.to(device), mask.to(device))

    def graph_in_length_groups(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The engine's pass with rows of similar length together, each group padded to its
        own longest row (model/token_groups.py): a pasted recipe's short ingredient lines
        no longer pad to its long sentences. Padding changes no row's vector beyond float
        rounding, so only the engine path groups: torch's (training, CUDA, and the
        bit-exact checks against the cache) runs the batch as one."""
        groups = length_groups(mask.sum(1).tolist())
        if len(groups) <= 1:
            return self.graph(ids, mask)
        parts = [self.graph(ids[rows, :n].contiguous(), mask[rows, :n].contiguous()) for rows, n in groups]
        order = torch.tensor([row for rows, _ in groups for row in rows])  # the parts' rows, in turn
        return torch.cat(parts)[order.argsort()]  # back in the batch's order

    def blocks(self) -> list[nn.Module]:
        net = self.net
        for path in ("encoder.layer", "transformer.layer", "layers", "encoder.layers"):
            module = net
            try:
                for part in path.split("."):
                    module = getattr(module, part)
            except AttributeError:
                continue
            return list(module)
        raise ValueError(f"don't know the layers of {type(net).__name__}")
