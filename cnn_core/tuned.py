"""The speed techniques of training, kept out of the model a learner reads.

`TunedCNN` wraps a plain `model.CNN` for the trainer and computes exactly what it computes, in a
faster way: channels-last memory, flattening in (height, width, channel) order, ReLU-then-max-pool
run as pool-then-ReLU, and 2x2 max pools as pairwise maxima (pooling.py). `prepare_inputs`
normalises a run's training images once. Each technique has a switch in `Tuning` so that the
benchmark (`python -m cnn_core bench --ablation`) can show what it is worth; docs/benchmarks.md
has the figures. tests/test_speed_paths.py and tests/test_pooling.py check every one against the
plain model.

The wrapper shares the plain model's parameters (an optimizer built on either trains both). While
it is wrapped, the first linear layer's weight columns are in (H, W, C) order; the
`plain_state_dict`, `canonical` and `internal` methods convert to and from the usual (C, H, W)
order, so saved weights and checkpoints are the same with or without it, and `unwrap()` hands the
plain model back with its weights in that order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from . import pooling
from .architecture import Activation, Pool
from .model import CNN

PREPARED_LIMIT = 2 * 1024**3  # bytes: above this the training images are normalised per batch instead


@dataclass(frozen=True)
class Tuning:
    """Speed techniques, each kept because the benchmark showed it helps; switches exist so the
    benchmark can show it again."""

    channels_last: bool = True  # NHWC tensors: oneDNN's fast convolution and pooling layout
    fused_optimizer: bool = True  # one kernel for the whole optimizer step instead of one per tensor
    hwc_flatten: bool = True  # with channels-last: flatten without a layout copy
    prepared_inputs: bool = True  # without augmentation: normalise the training images once, not per batch
    swap_relu_pool: bool = True  # ReLU then max pooling computed as pooling then ReLU: same numbers, less work
    pairwise_pool: bool = True  # 2x2 max pooling as two pairwise maxima (pooling.py): same numbers, no indices


class TunedCNN(nn.Module):
    """`model`, computed the fast way on `device`. Call `unwrap()` when training is over."""

    def __init__(self, model: CNN, tuning: Tuning, device: torch.device):
        super().__init__()
        self.model = model
        layers = model.arch.layers
        has_conv = any(layer.type == "conv" for layer in layers)
        self.channels_last = tuning.channels_last and has_conv and device.type in ("cpu", "cuda")
        self.fused_optimizer = tuning.fused_optimizer and device.type in ("cpu", "cuda")
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        # (H, W, C) order is a free view of a channels-last tensor; (C, H, W) order is a copy
        # forwards and another backwards.
        self.hwc_flatten = self.channels_last and tuning.hwc_flatten and len(model.flatten_shape) == 3
        if self.hwc_flatten:
            self._permute_linear(to_hwc=True)
        # ReLU directly followed by max pooling: max(relu(a), relu(b), ...) = relu(max(a, b, ...)),
        # and the gradient goes to the same pixel, so the pair can run as pool-then-ReLU, whose
        # ReLU touches a quarter of the values.
        self.relu_pool_pairs = (
            {
                i
                for i in range(len(layers) - 1)
                if isinstance(layers[i], Activation)
                and layers[i].kind == "relu"
                and isinstance(layers[i + 1], Pool)
                and layers[i + 1].kind == "max"
                and i + 1 != model.flatten_before
            }
            if tuning.swap_relu_pool
            else set()
        )
        # 2x2 max pools, computed as pairwise maxima where pooling.applies (training steps only).
        self.pools_2x2 = (
            {
                i
                for i, layer in enumerate(layers)
                if isinstance(layer, Pool)
                and (layer.kind, layer.kernel_size, layer.stride, layer.padding) == ("max", 2, 2, 0)
            }
            if tuning.pairwise_pool and self.channels_last
            else set()
        )

    def forward(self, x: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        if not normalized:
            x = self.model.normalize(x)
        layers, i = self.model.layers, 0
        while i < len(layers):
            if i == self.model.flatten_before:
                x = x.permute(0, 2, 3, 1).flatten(1) if self.hwc_flatten else x.flatten(1)
            if i in self.relu_pool_pairs:
                x = layers[i](self._layer(i + 1, x))
                i += 2
                continue
            x = self._layer(i, x)
            i += 1
        return x

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        if i in self.pools_2x2 and x.requires_grad and pooling.applies(x):
            return pooling.max_pool_2x2(x)
        return self.model.layers[i](x)

    # --- the saved (C, H, W) order ----------------------------------------------------------
    def _first_linear(self) -> nn.Linear:
        return self.model.layers[self.model.flatten_before]

    def _reorder(self, weight: torch.Tensor, to_hwc: bool) -> torch.Tensor:
        c, h, w = self.model.flatten_shape
        if to_hwc:
            return weight.reshape(-1, c, h, w).permute(0, 2, 3, 1).reshape(weight.shape)
        return weight.reshape(-1, h, w, c).permute(0, 3, 1, 2).reshape(weight.shape)

    def _permute_linear(self, to_hwc: bool) -> None:
        weight = self._first_linear().weight
        with torch.no_grad():
            weight.copy_(self._reorder(weight, to_hwc))

    def canonical(self, param: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """`value` (the parameter itself, or optimizer state shaped like it) in the saved order."""
        if self.hwc_flatten and param is self._first_linear().weight:
            return self._reorder(value, to_hwc=False)
        return value

    def internal(self, param: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """The inverse of canonical(): a saved tensor shaped like `param`, in the order it trains in."""
        if self.hwc_flatten and param is self._first_linear().weight:
            return self._reorder(value, to_hwc=True)
        return value

    def plain_state_dict(self) -> dict[str, torch.Tensor]:
        """The plain model's state_dict, as it would be without this wrapper."""
        state = dict(self.model.state_dict())
        if self.hwc_flatten:
            key = f"layers.{self.model.flatten_before}.weight"
            state[key] = self._reorder(state[key], to_hwc=False)
        return state

    def load_plain_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        state = dict(state)
        key = f"layers.{self.model.flatten_before}.weight"
        if self.hwc_flatten and key in state:
            state[key] = self._reorder(state[key], to_hwc=True)
        self.model.load_state_dict(state)

    def unwrap(self) -> CNN:
        """The plain model, its weights in the usual order again. The wrapper is spent after this."""
        if self.hwc_flatten:
            self._permute_linear(to_hwc=False)
            self.hwc_flatten = False
        return self.model

    # --- inputs --------------------------------------------------------------------------------
    def batch_inputs(self, floats: torch.Tensor) -> torch.Tensor:
        """A batch of floats in [0, 1] -> normalised inputs in the memory layout the model trains in."""
        x = self.model.normalize(floats)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def prepare_inputs(self, images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
        """uint8 images -> the normalised inputs the first layer sees, once for a whole run, in the
        number format and memory layout it computes in: each batch is then one index, not five
        elementwise passes and two copies. None when it would take more than PREPARED_LIMIT bytes,
        or a quarter of the free memory."""
        # Autocast casts a first conv or linear layer's input to `dtype` anyway; anything else keeps
        # float32 so that its numbers do not change.
        first_casts = self.model.arch.layers[0].type in ("conv", "linear")
        out_dtype = dtype if first_casts else torch.float32
        n = images.shape[0]
        free = available_memory_bytes()
        limit = PREPARED_LIMIT if free is None else min(PREPARED_LIMIT, free // 4)
        if n * images[0].numel() * out_dtype.itemsize > limit:
            return None
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        out = torch.empty(images.shape, dtype=out_dtype, device=images.device, memory_format=memory_format)
        # Channels-last: transpose the uint8 pixels (the cheapest bytes to move), then compute in
        # (N, H, W, C) order with per-channel constants on the last axis; the same operations as
        # CNN.normalize, so the same numbers.
        nhwc = self.channels_last and images.dim() == 4
        target = out.permute(0, 2, 3, 1) if nhwc else out
        mean, std = self.model.mean, self.model.std
        if nhwc:
            mean, std = mean.view(-1), std.view(-1)
        with torch.no_grad():
            for start in range(0, n, 4096):  # bounded float32 temporaries
                chunk = images[start : start + 4096]
                if nhwc:
                    chunk = chunk.permute(0, 2, 3, 1).contiguous()
                target[start : start + 4096] = (chunk.float().div_(255) - mean) / std
        return out


def available_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
