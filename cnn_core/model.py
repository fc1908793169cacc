"""Turns an Architecture into a PyTorch module, one module per spec layer.

This is the network as the tutorial writes it: layers in, logits out. The model takes images as
floats in [0, 1] and normalises them itself with the data set's mean and standard deviation, kept
as buffers: the saved weights then carry everything needed to classify a new picture, and no
caller can forget (or double) the normalisation. Training runs the same module through
`tuned.TunedCNN`, which computes the same numbers faster; nothing here knows about it.
"""

from __future__ import annotations

import torch
from torch import nn

from .architecture import ACTIVATIONS, Activation, Architecture, BatchNorm, Conv, Dropout, Layer, Linear, Pool
from .shapes import check


def _module(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module:
    if isinstance(layer, Conv):
        return nn.Conv2d(in_shape[0], layer.out_channels, layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, Pool):
        cls = nn.MaxPool2d if layer.kind == "max" else nn.AvgPool2d
        return cls(layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, Linear):
        return nn.Linear(torch.Size(in_shape).numel(), layer.out_features)
    if isinstance(layer, BatchNorm):
        return nn.BatchNorm2d(in_shape[0]) if len(in_shape) == 3 else nn.BatchNorm1d(in_shape[0])
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.p)
    if isinstance(layer, Activation):
        return getattr(nn, ACTIVATIONS[layer.kind])()
    raise TypeError(f"unknown layer {layer!r}")


class CNN(nn.Module):
    """The network a spec describes. `layers[i]` is spec layer i+1, so hooks and tables line up."""

    def __init__(
        self,
        arch: Architecture,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        num_classes: int = 10,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
    ):
        super().__init__()
        report = check(arch, input_shape, num_classes)  # refuse a broken stack before building it
        self.arch = arch
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        channels = input_shape[0]
        mean = mean if mean is not None else (0.5,) * channels
        std = std if std is not None else (0.5,) * channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(channels, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(channels, 1, 1))
        in_shapes = [report.input_shape] + [row.output_shape for row in report.rows[:-1]]
        self.layers = nn.ModuleList(_module(layer, shape) for layer, shape in zip(arch.layers, in_shapes, strict=True))
        # The flatten is implied before the first linear layer (the tutorial's x.view(-1, 18 * 16 * 16)).
        self.flatten_before = next(i for i, layer in enumerate(arch.layers) if isinstance(layer, Linear))
        self.flatten_shape = tuple(in_shapes[self.flatten_before])

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Floats in [0, 1] -> the inputs the first layer sees."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        for i, layer in enumerate(self.layers):
            if i == self.flatten_before:
                x = x.flatten(1)
            x = layer(x)
        return x


def build_model(
    arch: Architecture,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    seed: int | None = None,
) -> CNN:
    """Build the network; with `seed`, its initial weights are the same on every machine."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return CNN(arch, input_shape, num_classes, mean, std)
    return CNN(arch, input_shape, num_classes, mean, std)
