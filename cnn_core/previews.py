"""What the app shows about a data set before any training: class counts and sample images."""

from __future__ import annotations

import torch

from .data import Dataset
from .inspection import tile


def class_counts(dataset: Dataset, split: str = "train") -> list[tuple[str, int]]:
    """(class name, number of images) for the training pool or the test set."""
    labels = dataset.train_labels if split == "train" else dataset.test_labels
    counts = torch.bincount(labels, minlength=dataset.num_classes).tolist()
    return list(zip(dataset.classes, counts, strict=True))


def samples_per_class(
    dataset: Dataset, per_class: int = 8, split: str = "train", seed: int = 0
) -> dict[str, torch.Tensor]:
    """Up to `per_class` images of every class, chosen at random but the same for the same seed.

    Returns class name -> uint8 (k, C, H, W)."""
    images = dataset.train_images if split == "train" else dataset.test_images
    labels = dataset.train_labels if split == "train" else dataset.test_labels
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    shuffled = labels[order]
    return {name: images[order[shuffled == c][:per_class]] for c, name in enumerate(dataset.classes)}


def image_grid(groups: dict[str, torch.Tensor], gap: int = 2) -> torch.Tensor:
    """Rows of images, one row per class, as one uint8 (C, H, W) picture with white gaps."""
    rows = list(groups.values())
    if not rows or all(len(r) == 0 for r in rows):
        return torch.zeros(3, 1, 1, dtype=torch.uint8)
    blank = torch.full_like(next(r for r in rows if len(r))[0], 255)  # fills a class with fewer pictures
    columns = max(len(r) for r in rows)
    padded = [image for row in rows for image in [*row, *[blank] * (columns - len(row))]]
    return tile(padded, columns, gap=gap)
