"""Looking inside a trained network: its filters, its feature maps, its answer for one image.

Images come in as the data set holds them (uint8, channels first) and are scaled to [0, 1] here;
the model normalises them itself. Feature maps are caught with forward hooks on each layer, so
what is shown is exactly what the forward pass computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .architecture import Conv
from .model import CNN


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    """uint8 (C, H, W) or float in [0, 1] -> float (1, C, H, W)."""
    if image.dim() == 3:
        image = image.unsqueeze(0)
    return image.float() / 255 if image.dtype == torch.uint8 else image.float()


def conv_layers(model: CNN) -> list[int]:
    """0-based positions of the convolution layers."""
    return [i for i, layer in enumerate(model.arch.layers) if isinstance(layer, Conv)]


def conv_filters(model: CNN, position: int | None = None) -> torch.Tensor:
    """Weights of a convolution as (out_channels, in_channels, k, k); the first one by default."""
    positions = conv_layers(model)
    if not positions:
        raise ValueError("this network has no convolution layers")
    position = positions[0] if position is None else position
    if position not in positions:
        raise ValueError(f"layer {position + 1} is not a convolution")
    return model.layers[position].weight.detach().cpu().clone()


@dataclass(frozen=True)
class FeatureMap:
    index: int  # 1-based layer number
    description: str
    values: torch.Tensor  # (C, H, W) for image-shaped outputs, (F,) after the flatten


@torch.inference_mode()
def feature_maps(model: CNN, image: torch.Tensor) -> list[FeatureMap]:
    """The output of every layer for one image, in layer order."""
    captured: list[torch.Tensor] = []
    hooks = [
        layer.register_forward_hook(lambda _m, _i, out: captured.append(out[0].detach().cpu()))
        for layer in model.layers
    ]
    was_training = model.training
    model.eval()
    try:
        model(_as_batch(image).to(next(model.buffers()).device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return [
        FeatureMap(i + 1, layer.describe(), values)
        for i, (layer, values) in enumerate(zip(model.arch.layers, captured, strict=True))
    ]


@torch.inference_mode()
def class_probabilities(model: CNN, image: torch.Tensor) -> torch.Tensor:
    """Softmax over the classes for one image, as a 1-D tensor on the CPU."""
    was_training = model.training
    model.eval()
    try:
        logits = model(_as_batch(image).to(next(model.buffers()).device))
    finally:
        model.train(was_training)
    return logits.softmax(dim=1)[0].float().cpu()
