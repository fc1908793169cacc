"""A whole data set as one file, so a data set decoded once loads again in about a second.

Two formats, both safetensors (plain arrays and a JSON header; loading runs no code):

- the cache format: decoded uint8 images, labels, class names and statistics. Full CIFAR-10,
  MNIST and imported image archives are stored this way after their first decode.
- the JPEG format, gzip-compressed: the images' original JPEG bytes end to end, with offsets.
  The bundled CIFAR-10 sample ships this way (12,000 images in under 4 MB), decoded with Pillow.

`load_or_build` is the one way a data set is kept: loaded from its file when there is a good one,
else built (decoded, imported) and saved there for next time.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from .data import Dataset
from .errors import DataError
from .storage import atomic_write_bytes, read_tensors

log = logging.getLogger(__name__)

CACHE_FORMAT = "cnn_core dataset v1"
JPEG_FORMAT = "cnn_core jpeg dataset v1"


def save_dataset(dataset: Dataset, path: str | os.PathLike, extra: dict[str, str] | None = None) -> None:
    """Write `dataset` as one safetensors file; `extra` adds header fields (an import's date)."""
    tensors = {
        "train_images": dataset.train_images.contiguous(),
        "train_labels": dataset.train_labels.contiguous(),
        "test_images": dataset.test_images.contiguous(),
        "test_labels": dataset.test_labels.contiguous(),
    }
    metadata = {
        "format": CACHE_FORMAT,
        "name": dataset.name,
        "classes": json.dumps(list(dataset.classes)),
        "mean": json.dumps(list(dataset.mean)),
        "std": json.dumps(list(dataset.std)),
        "notes": json.dumps(list(dataset.notes)),
        "skipped": json.dumps(dataset.skipped),
        "val_count": str(dataset.val_count),
        "origin": dataset.origin,
        "source": dataset.source,
        **(extra or {}),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save_safetensors(tensors, metadata=metadata))


def load_or_build(
    kept: Path | None,
    build: Callable[[], Dataset],
    save_to: Path | None = None,
    extra: Callable[[Dataset], dict[str, str]] | None = None,
) -> Dataset:
    """The data set in file `kept`, or `build()` saved to `save_to` (default: `kept`) with header
    fields `extra(dataset)` for next time. A damaged file is deleted and rebuilt; one that cannot
    be written (a read-only folder, a full disk) only costs the time next time."""
    if kept is not None and kept.is_file():
        try:
            return load_dataset_file(kept)
        except DataError:
            kept.unlink(missing_ok=True)
    dataset = build()
    target = save_to or kept
    if target is not None:
        try:
            save_dataset(dataset, target, extra(dataset) if extra else None)
        except OSError as error:
            log.warning("could not keep %s for next time: %s", target, error)
    return dataset


def _read(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        tensors, metadata = read_tensors(path)
    except (SafetensorError, OSError, ValueError, RuntimeError):
        raise DataError(f"{what} at {path} is damaged; delete it and it will be rebuilt") from None
    return tensors, metadata


def read_header(path: str | os.PathLike) -> dict[str, str]:
    """The header fields of a data set file, without reading its tensors (for listing imports)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError):
        raise DataError(f"the data set file at {path} is damaged; delete it and it will be rebuilt") from None
    if metadata.get("format") != CACHE_FORMAT:
        raise DataError(f"{path} is not a data set file of this app")
    return metadata


def load_dataset_file(path: str | os.PathLike) -> Dataset:
    """A data set saved by save_dataset. Raises DataError if the file is damaged."""
    path = Path(path)
    tensors, metadata = _read(path, "the data set file")
    if metadata.get("format") != CACHE_FORMAT:
        raise DataError(f"{path} is not a data set file of this app")
    try:
        return Dataset(
            name=metadata["name"],
            classes=tuple(json.loads(metadata["classes"])),
            train_images=tensors["train_images"],
            train_labels=tensors["train_labels"].long(),
            test_images=tensors["test_images"],
            test_labels=tensors["test_labels"].long(),
            mean=tuple(json.loads(metadata["mean"])),
            std=tuple(json.loads(metadata["std"])),
            notes=tuple(json.loads(metadata.get("notes", "[]"))),
            skipped=dict(json.loads(metadata.get("skipped", "{}"))),
            val_count=int(metadata.get("val_count", "0")),
            origin=metadata.get("origin", ""),
            source=metadata.get("source", ""),
        )
    except (KeyError, ValueError, TypeError):
        raise DataError(f"the data set file at {path} is damaged; delete it and it will be rebuilt") from None


def pack_jpegs(
    name: str,
    classes: list[str],
    train: list[tuple[bytes, int]],
    test: list[tuple[bytes, int]],
    source: str,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> bytes:
    """The gzip-compressed JPEG format from (jpeg bytes, label) pairs. gzip squeezes out the
    quantisation and Huffman tables that every small JPEG repeats (about 915 -> 300 bytes each).
    mean and std: the training images' channel statistics, stored so loading need not compute them."""
    tensors = {}
    for split, items in (("train", train), ("test", test)):
        sizes = torch.tensor([len(blob) for blob, _ in items], dtype=torch.int64)
        tensors[f"{split}_offsets"] = torch.cat([torch.zeros(1, dtype=torch.int64), sizes.cumsum(0)])
        tensors[f"{split}_jpeg"] = torch.frombuffer(bytearray(b"".join(blob for blob, _ in items)), dtype=torch.uint8)
        tensors[f"{split}_labels"] = torch.tensor([label for _, label in items], dtype=torch.uint8)
    metadata = {
        "format": JPEG_FORMAT,
        "name": name,
        "classes": json.dumps(classes),
        "source": source,
        "mean": json.dumps(list(mean)),
        "std": json.dumps(list(std)),
    }
    return gzip.compress(save_safetensors(tensors, metadata=metadata), compresslevel=9, mtime=0)


def load_jpegs(path: str | os.PathLike) -> Dataset:
    """A data set in the JPEG format (the bundled sample). Decoding 12,000 small JPEGs with Pillow
    takes less time than importing torchvision's decoder would (docs/benchmarks.md)."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes())
        tensors, metadata = read_tensors(raw)
    except (OSError, EOFError, gzip.BadGzipFile, SafetensorError, ValueError, RuntimeError) as error:
        raise DataError(f"the bundled data at {path} is damaged or missing ({error})") from None
    if metadata.get("format") != JPEG_FORMAT:
        raise DataError(f"{path} is not a bundled data set of this app")
    splits = {}
    for split in ("train", "test"):
        blob = tensors[f"{split}_jpeg"].numpy().tobytes()
        offsets = tensors[f"{split}_offsets"].tolist()
        images = np.empty((len(offsets) - 1, 32, 32, 3), dtype=np.uint8)
        for i in range(len(offsets) - 1):
            with Image.open(io.BytesIO(blob[offsets[i] : offsets[i + 1]]), formats=["JPEG"]) as image:
                images[i] = np.asarray(image.convert("RGB"))
        splits[split] = (torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), tensors[f"{split}_labels"].long())
    return Dataset(
        name=metadata["name"],
        classes=tuple(json.loads(metadata["classes"])),
        train_images=splits["train"][0],
        train_labels=splits["train"][1],
        test_images=splits["test"][0],
        test_labels=splits["test"][1],
        mean=tuple(json.loads(metadata["mean"])),
        std=tuple(json.loads(metadata["std"])),
    )
