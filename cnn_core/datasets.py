"""Where data sets come from: a name or a path in, a `Dataset` out.

    sample         CIFAR-10 subset bundled with the app (the default): works offline; decoded once
                   (0.8 s), then loaded from a cache of its pixels in the data folder (tens of ms)
    cifar10        full CIFAR-10, downloaded once into the data folder, then cached
    mnist          MNIST digits (28x28, one channel), likewise
    fashion-mnist  Fashion-MNIST clothing (28x28, one channel), likewise
    synthetic      generated striped patterns, for tests and quick checks
    <path>         the user's own images: a folder, .zip or .tar.gz in the class-folder layout,
                   imported once and cached by content

The data folder is $CNN_DATA_DIR, or ./data; `data_dir=` overrides it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import torchvision_sets
from .data import Dataset, make_synthetic
from .dataset_files import load_dataset_file, load_jpegs, save_dataset
from .errors import DataError
from .image_import import import_images, source_name

log = logging.getLogger(__name__)

DEFAULT = "sample"
SAMPLE_FILE = Path(__file__).parent / "sample_data" / "cifar10-sample.safetensors.gz"
IMPORT_VERSION = "1"  # bump when import_images would produce different tensors

# (phase, done, total): phase "download" counts bytes, "import" counts files (total unknown).
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class CatalogEntry:
    key: str
    title: str
    description: str
    needs_download: bool  # True if loading it now would download


DESCRIPTIONS = {
    "sample": ("CIFAR-10 sample", "10,000 training and 2,000 test CIFAR-10 images, bundled: works offline"),
    "cifar10": ("CIFAR-10 (full)", "50,000 training and 10,000 test images in 10 classes; a 170 MB download, once"),
    "mnist": ("MNIST digits", "70,000 handwritten digits, 28x28 grey; an 11 MB download, once"),
    "fashion-mnist": ("Fashion-MNIST", "70,000 clothing pictures in 10 classes, 28x28 grey; a 30 MB download, once"),
    "synthetic": ("Synthetic patterns", "3,000 generated striped images in 10 classes, for quick checks"),
}


def data_dir(override: str | os.PathLike | None = None) -> Path:
    return Path(override or os.environ.get("CNN_DATA_DIR") or "data")


def catalog(folder: str | os.PathLike | None = None) -> list[CatalogEntry]:
    root = data_dir(folder)
    return [
        CatalogEntry(key, title, text, key in torchvision_sets.NAMES and not torchvision_sets.is_ready(key, root))
        for key, (title, text) in DESCRIPTIONS.items()
    ]


def load_dataset(
    name: str = DEFAULT,
    *,
    folder: str | os.PathLike | None = None,
    allow_download: bool = True,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    image_size: int = 32,
) -> Dataset:
    """The data set called `name`, or the images at the path `name`."""
    root = data_dir(folder)
    if name == "sample":
        # Every training process and server loads it, so its decoded pixels are kept: a run
        # started from the app then reaches its first batch in a fraction of a second.
        # Its pictures are 32x32 whatever image_size asks: the key is the file's content alone.
        cache = root / "imports" / f"sample-{_content_key(SAMPLE_FILE, 32)}.safetensors"
        dataset = _cached(cache, lambda: load_jpegs(SAMPLE_FILE))
    elif name == "synthetic":
        dataset = make_synthetic()
    elif name in torchvision_sets.NAMES:
        dataset = torchvision_sets.load(
            name,
            root,
            allow_download=allow_download,
            should_stop=should_stop,
            progress=(lambda done, total: progress("download", done, total)) if progress else None,
        )
    elif Path(name).exists():
        dataset = import_cached(Path(name), root, image_size, progress)
    else:
        raise DataError(
            f"unknown data set {name!r}: choose one of {', '.join(DESCRIPTIONS)}, or give the path of an image "
            "folder, .zip or .tar.gz"
        )
    return dataclasses.replace(dataset, source=name)


def import_cached(path: Path, root: Path, image_size: int = 32, progress: Progress | None = None) -> Dataset:
    """Import the user's images once; later calls with unchanged content load the cached tensors."""
    cache = root / "imports" / f"{source_name(path).replace(' ', '-')}-{_content_key(path, image_size)}.safetensors"
    return _cached(
        cache,
        lambda: import_images(
            path, size=image_size, progress=(lambda files: progress("import", files, None)) if progress else None
        ),
    )


def _cached(cache: Path, build: Callable[[], Dataset]) -> Dataset:
    """The data set saved at `cache`, or `build()` saved there for next time. A damaged cache is
    rebuilt; one that cannot be written (a read-only folder, a full disk) only costs the time."""
    if cache.is_file():
        try:
            return load_dataset_file(cache)
        except DataError:
            cache.unlink(missing_ok=True)
    dataset = build()
    try:
        save_dataset(dataset, cache)
    except OSError as error:
        log.warning("could not keep %s for next time: %s", cache, error)
    return dataset


def _content_key(path: Path, image_size: int) -> str:
    """A hash of what the import would read: the archive's bytes, or a folder's names, sizes and times."""
    digest = hashlib.sha256(f"{IMPORT_VERSION}:{image_size}:".encode())
    if path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for filename in sorted(filenames):
                stat = os.stat(os.path.join(dirpath, filename), follow_symlinks=False)
                rel = os.path.relpath(os.path.join(dirpath, filename), path)
                digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    else:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
