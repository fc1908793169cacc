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
