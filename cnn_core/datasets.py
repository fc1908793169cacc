"""Where data sets come from: a name or a path in, a `Dataset` out.

    sample         CIFAR-10 subset bundled with the app (the default): works offline; decoded once
                   once, then loaded from a cache of its pixels in the data folder (docs/benchmarks.md)
    cifar10        full CIFAR-10, downloaded once into the data folder, then cached
    mnist          MNIST digits (28x28, one channel), likewise
    fashion-mnist  Fashion-MNIST clothing (28x28, one channel), likewise
    synthetic      generated striped patterns, for tests and quick checks
    <path>         the user's own images: a folder, .zip or .tar.gz in the class-folder layout,
                   imported once and kept by content in the data folder's imports/
    imported:<key> an import kept there: `key` is a hash of what was imported, so two archives
                   with one file name are two data sets, and a run names exactly the data it used

The data folder is $CNN_DATA_DIR, or ./data; `data_dir=` overrides it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import torchvision_sets
from .data import Dataset, make_synthetic
from .dataset_files import load_dataset_file, load_jpegs, load_or_build, read_header
from .errors import DataError
from .image_import import import_images, source_name
from .storage import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT = "sample"
SAMPLE_FILE = Path(__file__).parent / "sample_data" / "cifar10-sample.safetensors.gz"
IMPORT_VERSION = "2"  # bump when import_images would produce different tensors
IMPORTED = "imported:"  # the source of an imported data set: "imported:<key>"
UPLOAD_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

# (phase, done, total): phase "download" counts bytes, "import" counts files (total unknown).
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class CatalogEntry:
    key: str
    title: str
    description: str
    needs_download: bool  # True if loading it now would download
    state: str = "ready"  # in words: "ready", "download on first use", or what is wrong with placed files


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
        CatalogEntry(
            key,
            title,
            text,
            key in torchvision_sets.NAMES and not torchvision_sets.is_ready(key, root),
            torchvision_sets.readiness(key, root).state if key in torchvision_sets.NAMES else "ready",
        )
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
        dataset = load_or_build(cache, lambda: load_jpegs(SAMPLE_FILE))
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
    elif name.startswith(IMPORTED):
        return load_import(name.removeprefix(IMPORTED), root)
    elif Path(name).exists():
        return import_dataset(Path(name), folder=root, image_size=image_size, progress=progress)
    else:
        raise DataError(
            f"unknown data set {name!r}: choose one of {', '.join(DESCRIPTIONS)}, or give the path of an image "
            "folder, .zip or .tar.gz"
        )
    return dataclasses.replace(dataset, source=name)


# --- the user's imports ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportedSet:
    """One import kept in the data folder, read from its file's header alone."""

    key: str
    name: str
    origin: str  # the archive or folder the user gave, by name
    imported_at: str  # ISO time, UTC
    train_images: int
    val_images: int
    test_images: int
    classes: int
    bytes: int
    path: Path

    @property
    def source(self) -> str:
        return IMPORTED + self.key

    @property
    def images(self) -> int:
        return self.train_images + self.val_images + self.test_images


def _imports(root: Path) -> Path:
    return root / "imports"


def _import_file(key: str, root: Path) -> Path | None:
    if not re.fullmatch(r"[0-9a-f]{16}", key):
        return None
    return next(iter(sorted(_imports(root).glob(f"*-{key}.safetensors"))), None)


def list_imports(folder: str | os.PathLike | None = None) -> list[ImportedSet]:
    """The user's imports kept in the data folder, newest first (damaged files are left out)."""
    out = []
    for path in sorted(_imports(data_dir(folder)).glob("*.safetensors")):
        try:
            header = read_header(path)
            if header.get("kind") != "import":
                continue
            counts = {k: int(header[k]) for k in ("train_images", "val_images", "test_images")}
            out.append(
                ImportedSet(
                    key=header["key"],
                    name=header["name"],
                    origin=header.get("origin", ""),
                    imported_at=header.get("imported_at", ""),
                    bytes=path.stat().st_size,
                    path=path,
                    classes=int(header["class_count"]),
                    **counts,
                )
            )
        except (DataError, KeyError, ValueError, OSError):
            continue
    return sorted(out, key=lambda info: info.imported_at, reverse=True)


def find_import(source: str, folder: str | os.PathLike | None = None) -> ImportedSet | None:
    key = source.removeprefix(IMPORTED)
    return next((info for info in list_imports(folder) if info.key == key), None)


def remove_import(source: str, folder: str | os.PathLike | None = None) -> bool:
    """Delete a kept import; runs trained on it keep their weights and metrics, not its pictures."""
    path = _import_file(source.removeprefix(IMPORTED), data_dir(folder))
    if path is None:
        return False
    path.unlink(missing_ok=True)
    return True


def load_import(key: str, root: Path) -> Dataset:
    path = _import_file(key, root)
    if path is None:
        raise DataError(
            f"the imported images {IMPORTED}{key} are no longer in the data folder ({_imports(root)}); "
            "import the folder or archive again"
        )
    return load_dataset_file(path)


def import_dataset(
    path: Path,
    *,
    folder: str | os.PathLike | None = None,
    origin: str | None = None,
    image_size: int = 32,
    progress: Progress | None = None,
) -> Dataset:
    """Import the user's images once and keep them in the data folder; later calls with unchanged
    content load the kept tensors. The data set's source is "imported:<key>", its content's hash."""
    root = data_dir(folder)
    key = _content_key(path, image_size)
    origin = origin or str(path)

    def build() -> Dataset:
        dataset = import_images(
            path,
            size=image_size,
            name=source_name(Path(origin)),
            progress=(lambda files: progress("import", files, None)) if progress else None,
        )
        return dataclasses.replace(dataset, source=IMPORTED + key, origin=origin)

    def header(dataset: Dataset) -> dict[str, str]:
        facts = dataset.describe()
        return {
            "kind": "import",
            "key": key,
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "class_count": str(dataset.num_classes),
            **{k: str(facts[k]) for k in ("train_images", "val_images", "test_images")},
        }

    save_to = _imports(root) / f"{source_name(Path(origin)).replace(' ', '-')}-{key}.safetensors"
    return load_or_build(_import_file(key, root), build, save_to, header)


def import_upload(
    data: bytes, filename: str, *, folder: str | os.PathLike | None = None, progress: Progress | None = None
) -> Dataset:
    """An archive uploaded in the browser: written to a folder of its own in the data folder (so
    two uploads with one name never share a file), imported, then removed (the import is kept,
    named by its content's hash)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", Path(filename).name)[:80] or "upload.zip"
    if not safe.lower().endswith(UPLOAD_SUFFIXES):
        raise DataError(f"{Path(filename).name} is not a .zip, .tar.gz or .tar archive; upload one of those")
    (data_dir(folder) / "uploads").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=data_dir(folder) / "uploads"))
    target = work / safe
    atomic_write_bytes(target, data)
    try:
        return import_dataset(target, folder=folder, origin=Path(filename).name, progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def is_ready(name: str, folder: str | os.PathLike | None = None) -> bool:
    """True if `name` loads without a download or an import."""
    root = data_dir(folder)
    if name in torchvision_sets.NAMES:
        return torchvision_sets.readiness(name, root).ready
    if name.startswith(IMPORTED):
        return _import_file(name.removeprefix(IMPORTED), root) is not None
    return name in DESCRIPTIONS or Path(name).exists()


def _content_key(path: Path, image_size: int) -> str:
    """A hash of what the import would read: the archive's bytes, or a folder's names, sizes and times."""
    digest = hashlib.sha256(f"{IMPORT_VERSION}:{image_size}:".encode())
    if path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for filename in sorted(filenames):
                try:  # a link counts by what it points to
                    stat = os.stat(os.path.join(dirpath, filename))
                except OSError:
                    stat = os.stat(os.path.join(dirpath, filename), follow_symlinks=False)
                rel = os.path.relpath(os.path.join(dirpath, filename), path)
                digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    else:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
