"""The tutorial's first lesson made computable: one kernel over one image, then ReLU, then pooling.

Kernels act on a grey image (the mean of the colour channels), as in the tutorial's pictures.
Every output size comes from the same formula the shape table uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import ConfigError
from .shapes import formula_text, output_size

KERNELS: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "edge detection": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "vertical edges (Sobel)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal edges (Sobel)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "blur": [[1 / 9] * 3] * 3,
}


@dataclass(frozen=True)
class ConvolutionSteps:
    grey: torch.Tensor  # (H, W) input in [0, 1]
    filtered: torch.Tensor  # after the kernel
    activated: torch.Tensor  # after ReLU
    pooled: torch.Tensor  # after 2x2 max pooling, stride 2
    formula: str  # the output-size formula with the numbers filled in
    pool_formula: str


def to_grey(image: torch.Tensor) -> torch.Tensor:
    """uint8 or float (C, H, W) -> float (H, W) in [0, 1]."""
    x = image.float() / 255 if image.dtype == torch.uint8 else image.float()
    return x.mean(dim=0)


def apply_kernel(
    image: torch.Tensor, kernel: list[list[float]] | torch.Tensor, stride: int = 1, padding: int = 0
) -> ConvolutionSteps:
    """Convolve, rectify and pool one image, keeping every step for display."""
    grey = to_grey(image)
    weight = torch.as_tensor(kernel, dtype=torch.float32)
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ConfigError("kernel", "must be a square grid of numbers")
    if not torch.isfinite(weight).all():
        raise ConfigError("kernel", "must hold finite numbers only")
    k = weight.shape[0]
    height, width = grey.shape
    if min(height, width) + 2 * padding < k:
        raise ConfigError("kernel", f"is {k}x{k}, larger than the {height}x{width} picture with its padding")
    filtered = F.conv2d(grey[None, None], weight[None, None], stride=stride, padding=padding)[0, 0]
    activated = filtered.clamp_min(0)
    side = min(activated.shape)
    pooled = F.max_pool2d(activated[None, None], 2, 2)[0, 0] if side >= 2 else activated
    assert filtered.shape == (output_size(height, k, stride, padding), output_size(width, k, stride, padding))
    return ConvolutionSteps(
        grey,
        filtered,
        activated,
        pooled,
        formula_text(height, k, stride, padding),
        formula_text(activated.shape[0], 2, 2, 0) if side >= 2 else "too small to pool",
    )
