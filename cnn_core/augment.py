"""Augmentation applied to whole batches of uint8 images at once (no per-image Python loop).

Random crop with zero padding and random horizontal flip, the standard CIFAR-10 pair. Working on
uint8 before the float conversion moves a quarter of the bytes a float pipeline would.
"""

from __future__ import annotations

import torch


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Shift each image by up to `padding` pixels (filling with zeros) and mirror half of them.

    images: (N, C, H, W), any dtype. The generator must live on the images' device.
    """
    n, c, h, w = images.shape
    device = images.device
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    images = torch.where(flip.view(n, 1, 1, 1), images.flip(3), images)
    if padding == 0:
        return images
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    rows = (dy.view(n, 1) + torch.arange(h, device=device)).view(n, 1, h, 1)  # (N, 1, H, 1)
    cols = (dx.view(n, 1) + torch.arange(w, device=device)).view(n, 1, 1, w)  # (N, 1, 1, W)
    batch = torch.arange(n, device=device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]
