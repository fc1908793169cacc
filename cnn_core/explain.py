"""Where the network looked: attribution maps for one picture and one class, by Captum (the PyTorch
project's attribution library), and the linked convolution's worked sum.

Three ways of asking, each a heat map over the picture in [0, 1] (1: what mattered most):
- Grad-CAM on the last convolution: which regions of its feature maps pushed the class's score up
  (coarse, the size of that layer's maps, stretched over the picture);
- Integrated Gradients: each pixel's share of the score, summed along a path from a black picture
  to this one (fine, pixel by pixel);
- Occlusion: how much the score drops when a black patch hides each part of the picture (asks the
  network directly; no gradients).
Images come in as the data set holds them (uint8, channels first) or as floats in [0, 1]; the
model normalises them itself (model.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ArchitectureError, ConfigError
from .inspection import _as_batch, conv_layers
from .model import CNN

METHODS = {
    "gradcam": (
        "Grad-CAM",
        "Which regions of the last convolution's feature maps raised this class's score (coarse: the size of "
        "those maps, stretched over the picture).",
    ),
    "integrated_gradients": (
        "Integrated Gradients",
        "Each pixel's share of this class's score, added up on the way from a black picture to this one "
        "(pixel by pixel).",
    ),
    "occlusion": (
        "Occlusion",
        "How much this class's score drops when a black patch hides each part of the picture (the network is "
        "asked directly, without gradients).",
    ),
}
IG_STEPS = 32  # points on the path from black: Captum's error estimate stays small for these networks
OCCLUSION_WINDOW = 8  # pixels of a 32x32 picture, moved by half of it: 49 patches


@dataclass(frozen=True)
class Attribution:
    method: str
    target: int  # the class asked about
    heat: torch.Tensor  # (H, W), in [0, 1]: 1 is what mattered most for the class
    raw: torch.Tensor  # Captum's attribution before it was made a heat map

    @property
    def title(self) -> str:
        return METHODS[self.method][0]


def attribute(model: CNN, image: torch.Tensor, target: int, method: str = "gradcam") -> Attribution:
    """A heat map of what in `image` made `model` give class `target` its score."""
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion

    if method not in METHODS:
        raise ConfigError("method", f"must be one of {', '.join(METHODS)} (got {method!r})")
    if not 0 <= target < model.num_classes:
        raise ConfigError("target", f"must be a class from 0 to {model.num_classes - 1} (got {target})")
    was_training = model.training
    model.eval()
    x = _as_batch(image).to(next(model.parameters()).device)
    try:
        if method == "gradcam":
            convs = conv_layers(model)
            if not convs:
                raise ArchitectureError(0, "this network", "has no convolution for Grad-CAM: try Occlusion")
            raw = LayerGradCam(model, model.layers[convs[-1]]).attribute(x, target=target, relu_attributions=True)
            raw = LayerAttribution.interpolate(raw, tuple(x.shape[-2:]), "bilinear")[0, 0]
            heat = raw.clamp(min=0)
        elif method == "integrated_gradients":
            raw = IntegratedGradients(model).attribute(
                x, baselines=torch.zeros_like(x), target=target, n_steps=IG_STEPS, internal_batch_size=IG_STEPS
            )[0]
            heat = raw.abs().sum(0)
        else:
            c, h, w = x.shape[1:]
            window = max(1, min(OCCLUSION_WINDOW, h // 4, w // 4))  # a quarter of the picture's side at most
            stride = max(1, window // 2)
            raw = Occlusion(model).attribute(
                x,
                sliding_window_shapes=(c, window, window),
                strides=(c, stride, stride),
                baselines=0.0,  # black, as Integrated Gradients starts from
                target=target,
                perturbations_per_eval=64,
            )[0]
            heat = raw.mean(0).clamp(min=0)
    finally:
        model.train(was_training)
    top = heat.max()
    heat = heat / top if top > 0 else heat
    return Attribution(method, target, heat.detach().cpu(), raw.detach().cpu())


def overlay(image: torch.Tensor, heat: torch.Tensor, strength: float = 0.6) -> torch.Tensor:
    """The picture (uint8 C,H,W) with the heat map laid over it in red to yellow, as uint8 (3, H, W)."""
    pixels = _as_batch(image)[0]
    if pixels.shape[0] == 1:
        pixels = pixels.expand(3, -1, -1)
    gray = pixels.mean(0, keepdim=True).expand(3, -1, -1)
    colour = torch.stack([torch.ones_like(heat), heat, torch.zeros_like(heat)])  # red -> yellow as it rises
    mixed = (1 - strength * heat) * gray + strength * heat * colour
    return (mixed.clamp(0, 1) * 255).round().to(torch.uint8)


@dataclass(frozen=True)
class WorkedSum:
    """One number of a convolution's output, worked out as the layer computes it: the kernel of
    output channel `channel` laid over the previous layer's output at (`row`, `col`)."""

    layer: int  # 1-based layer number of the convolution
    channel: int
    row: int
    col: int
    patch: torch.Tensor  # (in_channels, k, k): what the kernel covers (zeros where it hangs over the edge)
    kernel: torch.Tensor  # (in_channels, k, k): the learned weights
    bias: float
    value: float  # the output the forward pass computed there
    relu: float | None  # after the ReLU that follows, when one does

    @property
    def products(self) -> torch.Tensor:
        return self.patch * self.kernel

    @property
    def total(self) -> float:
        """The sum of the multiply-adds, before the bias."""
        return float(self.products.double().sum())


def worked_convolution(model: CNN, image: torch.Tensor, position: int, channel: int, row: int, col: int) -> WorkedSum:
    """The output of convolution layer `position` (0-based) at (`channel`, `row`, `col`) for
    `image`, with the numbers that make it: taken from a real forward pass (a hook catches the
    layer's input and output), so the sum is checked against what the network computed."""
    if position not in conv_layers(model):
        raise ConfigError("layer", f"must be a convolution layer (got layer {position + 1})")
    conv = model.layers[position]
    caught = {}
    hook = conv.register_forward_hook(lambda _m, inputs, output: caught.update(x=inputs[0][0], y=output[0]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(_as_batch(image).to(next(model.buffers()).device))
    finally:
        hook.remove()
        model.train(was_training)
    x, y = caught["x"].float().cpu(), caught["y"].float().cpu()
    out_channels, height, width = y.shape
    for name, value, top in (("channel", channel, out_channels), ("row", row, height), ("col", col, width)):
        if not 0 <= value < top:
            raise ConfigError(name, f"must be from 0 to {top - 1} (got {value})")
    k, stride, pad = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    patch = padded[:, row * stride : row * stride + k, col * stride : col * stride + k]
    follows = model.arch.layers[position + 1] if position + 1 < len(model.arch.layers) else None
    value = float(y[channel, row, col])
    relu = max(0.0, value) if getattr(follows, "kind", None) == "relu" else None
    return WorkedSum(
        position + 1,
        channel,
        row,
        col,
        patch.clone(),
        conv.weight[channel].detach().float().cpu().clone(),
        float(conv.bias[channel].detach()) if conv.bias is not None else 0.0,
        value,
        relu,
    )
