"""Turns an Architecture into a PyTorch module, one module per spec layer.

The module takes images as floats in [0, 1] and normalises them itself with the data set's mean
and standard deviation, kept as buffers: the saved weights then carry everything needed to
classify a new picture, and no caller can forget (or double) the normalisation.
"""

from __future__ import annotations

import torch
from torch import nn

from . import pooling
from .architecture import Activation, Architecture, BatchNorm, Conv, Dropout, Layer, Linear, Pool
from .shapes import check


def _activation(kind: str) -> nn.Module:
    return {
        "relu": nn.ReLU,
        "leaky_relu": nn.LeakyReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU,
    }[kind]()


def _module(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module:
    if isinstance(layer, Conv):
        return nn.Conv2d(in_shape[0], layer.out_channels, layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, Pool):
        cls = nn.MaxPool2d if layer.kind == "max" else nn.AvgPool2d
        return cls(layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, Linear):
        in_features = 1
        for d in in_shape:
            in_features *= d
        return nn.Linear(in_features, layer.out_features)
    if isinstance(layer, BatchNorm):
        return nn.BatchNorm2d(in_shape[0]) if len(in_shape) == 3 else nn.BatchNorm1d(in_shape[0])
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.p)
    if isinstance(layer, Activation):
        return _activation(layer.kind)
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
        # The flatten is implied before the first linear layer.
        self.flatten_before = next(i for i, layer in enumerate(arch.layers) if isinstance(layer, Linear))
        self.flatten_shape = tuple(in_shapes[self.flatten_before])
        self.hwc_flatten = False
        self.swap_relu_pool = False
        # 2x2 max pools the trainer may compute as pairwise maxima (pooling.py): the same numbers
        # without PyTorch's int64 indices and scatter. Only while training (pairwise_pool), as
        # a module hook on the pool would not see it.
        self.pairwise_pool = False
        self.pools_2x2 = {
            i
            for i, layer in enumerate(arch.layers)
            if isinstance(layer, Pool)
            and (layer.kind, layer.kernel_size, layer.stride, layer.padding) == ("max", 2, 2, 0)
        }
        # ReLU directly followed by max pooling: max(relu(a), relu(b), ...) = relu(max(a, b, ...)),
        # and the gradient goes to the same pixel, so the pair can run as pool-then-ReLU, whose
        # ReLU touches a quarter of the values. Only the trainer asks for it (swap_relu_pool), as a
        # forward hook on either layer would see different tensors.
        self.relu_pool_pairs = {
            i
            for i in range(len(arch.layers) - 1)
            if isinstance(arch.layers[i], Activation)
            and arch.layers[i].kind == "relu"
            and isinstance(arch.layers[i + 1], Pool)
            and arch.layers[i + 1].kind == "max"
            and i + 1 != self.flatten_before
        }
        self.register_state_dict_post_hook(_weights_out_in_chw_order)
        self.register_load_state_dict_pre_hook(_weights_in_from_chw_order)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Floats in [0, 1] -> the inputs the first layer sees."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        if not normalized:
            x = self.normalize(x)
        i = 0
        while i < len(self.layers):
            if i == self.flatten_before:
                # (H, W, C) order is a free view of a channels-last tensor; (C, H, W) order is a copy
                # forwards and another backwards, a tenth of a SimpleCNN training step.
                x = x.permute(0, 2, 3, 1).flatten(1) if self.hwc_flatten else x.flatten(1)
            if self.swap_relu_pool and i in self.relu_pool_pairs:
                x = self.layers[i](self._layer(i + 1, x))
                i += 2
                continue
            x = self._layer(i, x)
            i += 1
        return x

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        if self.pairwise_pool and i in self.pools_2x2 and x.requires_grad and pooling.applies(x):
            return pooling.max_pool_2x2(x)
        return self.layers[i](x)

    def use_hwc_flatten(self, on: bool = True) -> CNN:
        """Flatten feature maps in (height, width, channel) order, for training in channels-last
        memory. The first linear layer's weight columns are permuted in place to match, so the
        outputs do not change; state_dict() and load_state_dict() keep the usual (channel, height,
        width) order, so saved weights are the same either way."""
        if on != self.hwc_flatten and len(self.flatten_shape) == 3:
            linear = self.layers[self.flatten_before]
            with torch.no_grad():
                linear.weight.copy_(self._reorder(linear.weight, to_hwc=on))
            self.hwc_flatten = on
        return self

    def _reorder(self, weight: torch.Tensor, to_hwc: bool) -> torch.Tensor:
        c, h, w = self.flatten_shape
        if to_hwc:
            return weight.reshape(-1, c, h, w).permute(0, 2, 3, 1).reshape(weight.shape)
        return weight.reshape(-1, h, w, c).permute(0, 3, 1, 2).reshape(weight.shape)

    def canonical(self, param: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """`value` (the parameter itself, or optimizer state shaped like it) in the saved order."""
        if self.hwc_flatten and param is self.layers[self.flatten_before].weight:
            return self._reorder(value, to_hwc=False)
        return value

    def internal(self, param: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """The inverse of canonical(): a saved tensor shaped like `param`, in the order it trains in."""
        if self.hwc_flatten and param is self.layers[self.flatten_before].weight:
            return self._reorder(value, to_hwc=True)
        return value


def _weights_out_in_chw_order(module: CNN, state_dict, prefix: str, local_metadata) -> None:
    if module.hwc_flatten:
        key = f"{prefix}layers.{module.flatten_before}.weight"
        state_dict[key] = module._reorder(state_dict[key], to_hwc=False)


def _weights_in_from_chw_order(module: CNN, state_dict, prefix: str, *args) -> None:
    key = f"{prefix}layers.{module.flatten_before}.weight"
    if module.hwc_flatten and key in state_dict:
        state_dict[key] = module._reorder(state_dict[key], to_hwc=True)


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


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
