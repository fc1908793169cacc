"""CIFAR-10, MNIST and Fashion-MNIST through torchvision's own data set code.

Each is fetched on request into the data folder (with progress, checksum and clean failure, see
downloads.py), or taken from an archive the user already placed there, then decoded by
torchvision once and cached as one tensor file, so every later start loads it in about a second.
torchvision reads CIFAR-10's batches with pickle; that is safe here because each file's MD5 must
match the published archive before torchvision opens it (torchvision checks the batch files too).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import Dataset
from .dataset_files import load_or_build
from .downloads import Progress, download, md5_of
from .errors import DataError


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    md5: str
    size: int | None  # bytes, for progress when the server does not say


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    mirrors: tuple[str, ...]  # base URLs, tried in order
    files: tuple[RemoteFile, ...]
    folder: str  # where the files go, relative to the data folder


def _sources() -> dict[str, Source]:
    from torchvision import datasets as tv

    def mnist_like(key: str, title: str, cls) -> Source:
        return Source(
            key,
            title,
            tuple(cls.mirrors),
            tuple(RemoteFile(name, md5, None) for name, md5 in cls.resources),
            f"{cls.__name__}/raw",
        )

    cifar_base, cifar_name = tv.CIFAR10.url.rsplit("/", 1)
    return {
        "cifar10": Source(
            "cifar10", "CIFAR-10", (cifar_base + "/",), (RemoteFile(cifar_name, tv.CIFAR10.tgz_md5, 170_498_071),), ""
        ),
        "mnist": mnist_like("mnist", "MNIST", tv.MNIST),
        "fashion-mnist": mnist_like("fashion-mnist", "Fashion-MNIST", tv.FashionMNIST),
    }


NAMES = ("cifar10", "mnist", "fashion-mnist")


def cache_path(key: str, data_dir: Path) -> Path:
    return data_dir / "cache" / f"{key}.safetensors"


@dataclass(frozen=True)
class Readiness:
    """Whether a built-in set loads without a download, and why not in words."""

    ready: bool
    state: str  # "ready", "download on first use", or what is wrong with the placed files


@functools.lru_cache(maxsize=32)
def _md5(path: str, size: int, mtime_ns: int) -> str:  # keyed by size and time: a replaced file is checked again
    return md5_of(Path(path))


def _placed_md5(path: Path) -> str:
    info = path.stat()
    return _md5(str(path), info.st_size, info.st_mtime_ns)


def readiness(key: str, data_dir: Path) -> Readiness:
    """Ready if cached, or if every file is placed in the data folder with the official checksum.
    A placed file with another checksum, or some files placed and others not, is named."""
    if cache_path(key, data_dir).is_file():
        return Readiness(True, "ready")
    source = _sources()[key]
    folder = data_dir / source.folder
    placed = [f for f in source.files if (folder / f.filename).is_file()]
    wrong = [f.filename for f in placed if _placed_md5(folder / f.filename) != f.md5]
    if wrong:
        return Readiness(
            False, f"{wrong[0]} in {folder} is not the official file (its checksum differs); delete it or replace it"
        )
    missing = [f.filename for f in source.files if f not in placed]
    if not missing:
        return Readiness(True, "ready")
    if placed:
        return Readiness(
            False, f"{len(placed)} of {len(source.files)} files placed in {folder}; missing {', '.join(missing)}"
        )
    return Readiness(False, "download on first use")


def is_ready(key: str, data_dir: Path) -> bool:
    """True if loading needs no download (cached, or every file placed with the right checksum)."""
    return readiness(key, data_dir).ready


def load(
    key: str,
    data_dir: Path,
    *,
    allow_download: bool = True,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Dataset:
    def build() -> Dataset:  # the official files, downloaded where allowed and checked, then decoded
        source = _sources()[key]
        folder = data_dir / source.folder
        missing = [f.filename for f in source.files if not (folder / f.filename).is_file()]
        fallback = f"use the bundled sample, or place {', '.join(missing)} in {folder}"
        for remote in source.files:
            target = folder / remote.filename
            if target.is_file():
                if md5_of(target) != remote.md5:
                    raise DataError(
                        f"{target} is not the official {source.title} file (its checksum differs); delete it, then "
                        "download again or place the right file there"
                    )
                continue
            if not allow_download:
                raise DataError(f"{source.title} is not downloaded yet; download it first, or {fallback}")
            download(
                [base + remote.filename for base in source.mirrors],
                target,
                remote.md5,
                what=source.title,
                fallback=fallback,
                progress=progress,
                expected_size=remote.size,
                should_stop=should_stop,
            )
        return _decode(key, source, data_dir)

    return load_or_build(cache_path(key, data_dir), build)


def _decode(key: str, source: Source, data_dir: Path) -> Dataset:
    from torchvision import datasets as tv
    from torchvision.datasets.utils import extract_archive

    work = data_dir / f".{key}-extract"
    shutil.rmtree(work, ignore_errors=True)
    try:
        if key == "cifar10":
            extract_archive(str(data_dir / source.files[0].filename), str(work))
            splits = [tv.CIFAR10(str(work), train=train, download=False) for train in (True, False)]
            classes = tuple(splits[0].classes)

            def tensors(split):  # (N, 32, 32, 3) numpy -> (N, 3, 32, 32)
                return torch.from_numpy(split.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(split.targets)
        else:
            cls = tv.MNIST if key == "mnist" else tv.FashionMNIST
            raw = work / cls.__name__ / "raw"
            raw.mkdir(parents=True)
            for remote in source.files:  # torchvision wants them decompressed
                extract_archive(str(data_dir / source.folder / remote.filename), str(raw))
            splits = [cls(str(work), train=train, download=False) for train in (True, False)]
            classes = tuple(splits[0].classes)

            def tensors(split):  # (N, 28, 28) -> (N, 1, 28, 28)
                return split.data.unsqueeze(1).contiguous(), split.targets.clone()
    except (RuntimeError, OSError, ValueError) as error:
        raise DataError(
            f"the {source.title} files in {data_dir} could not be read ({error}); delete them and download again"
        ) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (train_images, train_labels), (test_images, test_labels) = tensors(splits[0]), tensors(splits[1])
    return Dataset(
        key, classes, train_images.to(torch.uint8), train_labels.long(), test_images.to(torch.uint8), test_labels.long()
    )
