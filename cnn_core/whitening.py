"""A first convolution that starts out knowing the pictures: filters from their patch statistics.

Neighbouring pixels of a photo are strongly correlated, so most of what a randomly started first
layer sees at first is the same few directions (brightness, a colour cast) over and over. Fast
CIFAR-10 recipes (hlb-cifar10, airbench) instead set the first convolution's filters to the
principal directions of the training images' small patches, each scaled by one over its spread,
and keep them fixed: every direction then reaches the next layer at the same strength from the
first step ("whitening"). Each direction is used twice, with both signs, so that a ReLU or GELU
after it keeps both halves.

`whitening_filters` computes the filters; `whiten_first_conv` writes them into a model's first
convolution and freezes its weight. Its bias still learns, for the run's `whiten_bias_epochs`; the
trainer then freezes it too. The patches are taken from the images as the model sees them, after
its own normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .architecture import Architecture
from .errors import ConfigError

PATCH_IMAGES = 5_000  # images whose patches are counted: enough for a stable 12x12 or 27x27 covariance
EPSILON = 5e-4  # added to each direction's variance, so near-constant directions are not blown up


def whitening_filters(images: torch.Tensor, kernel_size: int, out_channels: int) -> torch.Tensor:
    """(out_channels, C, k, k) filters from normalised float images (N, C, H, W).

    Filter j is the (j // 2)-th direction of largest variance among the k x k patches, divided by
    that direction's standard deviation, with sign + for even j and - for odd j; past the patch's
    C*k*k directions they start again from the first.
    """
    c = images.shape[1]
    patches = F.unfold(images.float(), kernel_size)  # (N, C*k*k, positions)
    patches = patches.transpose(1, 2).reshape(-1, c * kernel_size * kernel_size).double()
    patches = patches - patches.mean(0)
    covariance = patches.T @ patches / len(patches)
    variances, directions = torch.linalg.eigh(covariance)  # ascending
    order = variances.flip(0), directions.flip(1)  # largest first
    scaled = (order[1] / (order[0].clamp_min(0) + EPSILON).sqrt()).T  # (d, C*k*k): one direction per row
    d = scaled.shape[0]
    index = torch.arange(out_channels)
    sign = 1.0 - 2.0 * (index % 2).double()
    filters = scaled[(index // 2) % d] * sign[:, None]
    return filters.reshape(out_channels, c, kernel_size, kernel_size).float()


def check_architecture(architecture: Architecture) -> None:
    """A ConfigError in words unless the network starts with a convolution, the layer whitened."""
    if architecture.layers[0].type != "conv":
        raise ConfigError(
            "whiten",
            "needs a convolution as the network's first layer; turn whitening off or make the first layer a conv",
        )


def first_conv(model: torch.nn.Module) -> torch.nn.Conv2d:
    """The model's first layer, which must be a convolution to be whitened."""
    check_architecture(model.arch)
    return model.layers[0]


@torch.no_grad()
def whiten_first_conv(model: torch.nn.Module, images: torch.Tensor) -> None:
    """Set the model's first convolution to whitening filters of `images` (uint8, N x C x H x W)
    and freeze its weight. Uses the first PATCH_IMAGES images, so the same data gives the same filters."""
    conv = first_conv(model)
    sample = images[:PATCH_IMAGES].float().div(255)
    filters = whitening_filters(model.normalize(sample), conv.kernel_size[0], conv.out_channels)
    conv.weight.copy_(filters.to(conv.weight.device, conv.weight.dtype))
    conv.bias.zero_()
    freeze_first_conv(model)


def freeze_first_conv(model: torch.nn.Module, bias: bool = False) -> None:
    """Keep the first convolution's filters as they are (a resumed run has them from its checkpoint),
    and with `bias` its bias too: then no step computes a gradient for the first layer, nor for
    the input of the layer after it, the largest map of the network."""
    conv = first_conv(model)
    conv.weight.requires_grad_(False)
    if bias:
        conv.bias.requires_grad_(False)
