"""Looking inside a trained network: its filters, its feature maps, its answer for one image.

Images come in as the data set holds them (uint8, channels first) and are scaled to [0, 1] here;
the model normalises them itself. Feature maps are caught with forward hooks on each layer, so
what is shown is exactly what the forward pass computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .architecture import Conv
from .errors import ArchitectureError
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
        raise ArchitectureError(0, "this network", "has no convolution layers")
    position = positions[0] if position is None else position
    if position not in positions:
        raise ArchitectureError(position + 1, "this layer", "is not a convolution")
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


def stretch(x: torch.Tensor) -> torch.Tensor:
    """Scale to 0..255 by its own range (a flat map shows mid-grey)."""
    low, high = float(x.min()), float(x.max())
    if high - low < 1e-12:
        return torch.full(x.shape, 128, dtype=torch.uint8)
    return ((x - low) / (high - low) * 255).round().to(torch.uint8)


def tile(images: list[torch.Tensor], columns: int, gap: int = 1, scale: int = 1) -> torch.Tensor:
    """Equal-sized uint8 images, (H, W) or (C, H, W), in a grid with white gaps, enlarged `scale`x."""
    if not images:
        return torch.full((1, 1), 255, dtype=torch.uint8)
    images = [img.repeat_interleave(scale, -1).repeat_interleave(scale, -2) for img in images]
    h, w = images[0].shape[-2:]
    rows = (len(images) + columns - 1) // columns
    shape = tuple(images[0].shape[:-2])  # (C,) for (C, H, W) images, () for (H, W) ones
    grid = torch.full((*shape, rows * (h + gap) - gap, columns * (w + gap) - gap), 255, dtype=torch.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        grid[..., r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = img
    return grid


def filter_grid(filters: torch.Tensor, max_filters: int = 64, scale: int = 8) -> torch.Tensor:
    """A first-layer bank (O, 3, k, k) as colour tiles; deeper banks as one grey tile per filter
    and input channel (first 8 inputs). Each tile is stretched to its own range."""
    filters = filters[:max_filters]
    if filters.shape[1] == 3:
        tiles = [stretch(f) for f in filters]
        return tile(tiles, columns=min(len(tiles), 9), gap=2, scale=scale)
    inputs = min(filters.shape[1], 8)
    tiles = [stretch(f[i]) for f in filters for i in range(inputs)]
    return tile(tiles, columns=inputs, gap=2, scale=scale)


def channel_grid(values: torch.Tensor, max_channels: int = 16, columns: int = 8, scale: int = 2) -> torch.Tensor:
    """An image-shaped feature map (C, H, W) as grey tiles, one per channel (the first few)."""
    tiles = [stretch(channel) for channel in values[:max_channels]]
    return tile(tiles, columns=min(columns, len(tiles)), gap=2, scale=scale)
