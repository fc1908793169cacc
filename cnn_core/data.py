"""The one shape every data set takes downstream, seeded splits, and a generated data set.

A `Dataset` holds whole splits as uint8 tensors in memory (N, C, H, W), with int64 labels, class
names and per-channel normalisation statistics. Training slices batches from these tensors, so no
image is decoded twice and no DataLoader worker is needed (KellerJordan's airbench does the same).

`synthetic` is a data set the code generates: ten classes of striped colour patterns that a small
CNN can learn in seconds. Tests use it, and it is what runs where nothing else is available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .errors import ConfigError, DataError
from .settings import TrainSettings


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    classes: tuple[str, ...]
    train_images: torch.Tensor  # uint8 (N, C, H, W): the pool for training and validation
    train_labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor  # uint8 (M, C, H, W)
    test_labels: torch.Tensor  # int64 (M,)
    mean: tuple[float, ...] = ()  # per channel, of the training pool scaled to [0, 1]
    std: tuple[float, ...] = ()
    notes: tuple[str, ...] = field(default=())  # plain sentences about how the data was read
    source: str = ""  # what load_dataset takes to load exactly this data again ("sample", "imported:<key>")
    skipped: dict = field(default_factory=dict)  # imports: reason -> {"count", "files"} of files left out
    val_count: int = 0  # the last val_count images of the training pool are the data set's own validation split
    origin: str = ""  # imports: the folder or archive the images came from, as the user named it

    def __post_init__(self):
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise DataError(f"{split} images must be a uint8 tensor (N, C, H, W)")
            if labels.shape != (images.shape[0],):
                raise DataError(f"{split} labels must hold one label per image")
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError("training and test images must have the same size")
        if not 0 <= self.val_count < self.train_images.shape[0]:
            raise DataError("the validation split must leave training images in the training pool")
        if not self.mean:
            mean, std = channel_stats(self.train_images[: self.train_images.shape[0] - self.val_count])
            object.__setattr__(self, "mean", mean)
            object.__setattr__(self, "std", std)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict:
        """The summary that run configs and `train --json` carry: what the data set holds (a run's
        own split sizes are in its `split`). `val_images` counts the data set's own validation
        pictures (a val/ folder); without one, validation is drawn from the training images."""
        out = {
            "name": self.name,
            "classes": list(self.classes),
            "train_images": int(self.train_images.shape[0]) - self.val_count,
            "val_images": self.val_count,
            "test_images": int(self.test_images.shape[0]),
            "image_shape": list(self.input_shape),
            "source": self.source or self.name,
            "notes": list(self.notes),
            "skipped": self.skipped,
        }
        if self.origin:
            out["origin"] = self.origin
        return out


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and standard deviation per channel of uint8 images scaled to [0, 1], in chunks."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].to(torch.float64) / 255
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def make_synthetic(
    train_per_class: int = 300,
    test_per_class: int = 100,
    size: int = 32,
    channels: int = 3,
    num_classes: int = 10,
    seed: int = 0,
) -> Dataset:
    """Striped patterns, one orientation, frequency and colour per class, with noise on top.

    Learnable to high accuracy by the tutorial's network within an epoch, yet not by a single
    pixel: the class shows in the stripes' direction, which needs a convolution to see.
    """
    g = torch.Generator().manual_seed(seed)
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def split(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(num_classes).repeat_interleave(per_class)
        n = labels.numel()
        angle = labels.float() * math.pi / num_classes  # radians
        freq = 2.0 + (labels % 3).float()  # stripes per image
        phase = torch.rand(n, generator=g) * 2 * math.pi
        wave = torch.cos(
            2
            * math.pi
            * freq.view(n, 1, 1)
            / size
            * (xx * torch.cos(angle).view(n, 1, 1) + yy * torch.sin(angle).view(n, 1, 1))
            + phase.view(n, 1, 1)
        )
        hue = torch.stack([(labels * (k + 1) % num_classes).float() / num_classes for k in range(channels)], 1)
        colour = 0.3 + 0.5 * hue  # (n, C) in [0.3, 0.8]
        images = 0.5 + 0.35 * wave.unsqueeze(1) * colour.view(n, channels, 1, 1)
        images = images + 0.08 * torch.randn(n, channels, size, size, generator=g)
        images = images + 0.1 * (torch.rand(n, 1, 1, 1, generator=g) - 0.5)  # brightness
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        order = torch.randperm(n, generator=g)
        return pixels[order].contiguous(), labels[order].contiguous()

    train_images, train_labels = split(train_per_class)
    test_images, test_labels = split(test_per_class)
    return Dataset(
        name="synthetic",
        classes=tuple(f"pattern {i}" for i in range(num_classes)),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
    )


@dataclass(frozen=True, eq=False)
class Split:
    """Indices chosen for one run: train and val index the training pool, test the test pool."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    notes: tuple[str, ...] = ()


def plan_split(dataset: Dataset, settings: TrainSettings, strict: frozenset[str] | set[str] = frozenset()) -> Split:
    """Seeded, reproducible subsets of the sizes asked for.

    Sizes the data set cannot supply are clamped with a note, except for the fields named in
    `strict` (those a user typed explicitly), which are refused with a ConfigError instead.
    """
    if dataset.val_count:
        return _plan_own_validation(dataset, settings, strict)
    pool, test_pool = dataset.train_images.shape[0], dataset.test_images.shape[0]
    train_n, val_n, test_n = settings.train_samples, settings.val_samples, settings.test_samples
    notes = []
    name = dataset.name
    if train_n + val_n > pool:
        fixed_train, fixed_val = "train_samples" in strict, "val_samples" in strict
        held = f"the data set '{name}' holds {pool:,} training images"
        if fixed_train and fixed_val:
            raise ConfigError(
                "val_samples", f"plus train_samples must be at most {pool:,}: {held} to share between them"
            )
        if fixed_train:
            if train_n > pool - (1 if val_n else 0):
                raise ConfigError("train_samples", f"must be at most {pool - (1 if val_n else 0):,}: {held}")
            new_train, new_val = train_n, pool - train_n
        elif fixed_val:
            if val_n > pool - 1:
                raise ConfigError(
                    "val_samples", f"must be at most {pool - 1:,}: {held}, and training needs at least one"
                )
            new_train, new_val = pool - val_n, val_n
        else:  # neither typed by the user: keep the asked-for proportion
            new_train = max(1, min(pool - (1 if val_n else 0), round(pool * train_n / (train_n + val_n))))
            new_val = pool - new_train if val_n else 0
        notes.append(
            f"The data set '{name}' holds {pool:,} training images, fewer than the {train_n:,} + {val_n:,} "
            f"asked for; using {new_train:,} for training and {new_val:,} for validation."
        )
        train_n, val_n = new_train, new_val
    if test_n > test_pool:
        if "test_samples" in strict:
            raise ConfigError(
                "test_samples", f"must be at most {test_pool:,}: the data set '{name}' holds {test_pool:,} test images"
            )
        notes.append(f"The data set '{name}' holds {test_pool:,} test images; using all of them, not {test_n:,}.")
        test_n = test_pool
    # Shuffle before taking prefixes: archives are often grouped by class.
    order = torch.randperm(pool, generator=torch.Generator().manual_seed(settings.seed))
    test_order = torch.randperm(test_pool, generator=torch.Generator().manual_seed(settings.seed + 1))
    return Split(
        train=order[:train_n],
        val=order[train_n : train_n + val_n],
        test=test_order[:test_n],
        notes=tuple(notes),
    )


def _clamp(field: str, asked: int, held: int, what: str, name: str, strict, notes: list[str]) -> int:
    """`asked`, or all `held` with a note when the data set has fewer (an error if the user typed it)."""
    if asked <= held:
        return asked
    if field in strict:
        raise ConfigError(field, f"must be at most {held:,}: the data set '{name}' holds {held:,} {what}")
    notes.append(f"The data set '{name}' holds {held:,} {what}; using all of them, not {asked:,}.")
    return held


def _plan_own_validation(dataset: Dataset, settings: TrainSettings, strict) -> Split:
    """A data set with its own validation folder: validation comes from it, never from the
    training pictures, so the two never overlap."""
    own_val = dataset.val_count
    pool = dataset.train_images.shape[0] - own_val
    notes: list[str] = []
    name = dataset.name
    train_n = _clamp("train_samples", settings.train_samples, pool, "training images", name, strict, notes)
    val_n = _clamp("val_samples", settings.val_samples, own_val, "validation images", name, strict, notes)
    test_pool = dataset.test_images.shape[0]
    test_n = _clamp("test_samples", settings.test_samples, test_pool, "test images", name, strict, notes)
    order = torch.randperm(pool, generator=torch.Generator().manual_seed(settings.seed))
    val_order = pool + torch.randperm(own_val, generator=torch.Generator().manual_seed(settings.seed + 2))
    test_order = torch.randperm(test_pool, generator=torch.Generator().manual_seed(settings.seed + 1))
    return Split(train=order[:train_n], val=val_order[:val_n], test=test_order[:test_n], notes=tuple(notes))
