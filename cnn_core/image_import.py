"""Importing the user's own images: a folder, .zip or .tar(.gz) in the class-folder layout.

    <class>/<image>                     one folder per class; a test split is held out
    train/<class>/<image>, test/...     the archive's own split is kept

Everything is read straight from the archive into memory: nothing is extracted, so no member
can be written outside a folder. Even so, an archive holding a link, an absolute path or a
'../' path is refused whole, because it was not made innocently. Every image becomes RGB at
size x size pixels (centre-cropped to a square, then resized). Limits, each with its own message:
the archive's size, the number of files, the bytes it expands to (zip bombs), each image's pixel
count (read from the header, before any pixel is decoded; Pillow's own decompression-bomb guard
stays on as well), and a least number of images per class. Files that are not images by their
extension are never opened; images that cannot be decoded are skipped and counted.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import Dataset
from .errors import DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
PIL_FORMATS = ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"]
TRAIN_NAMES = {"train", "training"}
TEST_NAMES = {"test", "testing", "val", "valid", "validation"}


@dataclass(frozen=True)
class ImportLimits:
    max_archive_bytes: int = 1 << 30  # 1 GiB on disk
    max_expanded_bytes: int = 4 << 30  # 4 GiB once decompressed: stops zip bombs
    max_files: int = 200_000
    max_file_bytes: int = 50 << 20  # a single image file
    max_image_pixels: int = 40_000_000  # per image, from its header; e.g. 8000 x 5000
    min_images_per_class: int = 5
    max_classes: int = 1000
    max_dataset_bytes: int = 3 << 30  # the decoded images held in memory


@dataclass(frozen=True)
class Entry:
    """One file inside the source, by its path relative to the source's root. `read()` works only
    until the iterator moves on (a compressed tar is a stream)."""

    path: PurePosixPath
    size: int
    read: Callable[[], bytes]


class _Budget:
    """Counts files and expanded bytes as they are read, and stops at the limits."""

    def __init__(self, limits: ImportLimits):
        self.limits, self.files, self.bytes = limits, 0, 0

    def add_file(self, size: int) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise DataError(
                f"the archive holds more than {self.limits.max_files:,} files, the most an import takes; "
                "split it into smaller archives"
            )
        self.bytes += size
        if self.bytes > self.limits.max_expanded_bytes:
            raise DataError(
                f"the archive expands to more than {self.limits.max_expanded_bytes / 2**30:.0f} GB, the most an "
                "import takes (it may be a zip bomb); use a smaller archive"
            )


def _safe_member_path(name: str) -> PurePosixPath:
    """A member's path, refusing absolute paths and '..' (checked before anything is read)."""
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise DataError(f"the archive contains a path that leaves its folder ({name!r}); it is refused")
    return PurePosixPath(*[part for part in path.parts if part not in ("", ".")])


def _limited_read(read: Callable[[int], bytes], name: str, limit: int) -> bytes:
    data = read(limit + 1)
    if len(data) > limit:
        raise _TooLarge(name)
    return data


class _TooLarge(Exception):
    """A file larger than the per-file limit (raised while reading it)."""


class ImageTooLarge(DataError):
    """An image whose header claims more pixels than allowed."""


def iter_entries(source: Path, limits: ImportLimits) -> Iterator[Entry]:
    """Every regular file of a folder, zip or tar archive, with checks on paths and links."""
    if source.is_dir():
        yield from _folder_entries(source)
        return
    size = source.stat().st_size
    if size > limits.max_archive_bytes:
        raise DataError(
            f"the archive is {size / 2**20:,.0f} MB, larger than the {limits.max_archive_bytes / 2**20:,.0f} MB "
            "an import takes"
        )
    if zipfile.is_zipfile(source):
        yield from _zip_entries(source, limits)
    elif tarfile.is_tarfile(source):
        yield from _tar_entries(source, limits)
    else:
        raise DataError(f"{source.name} is not a folder, .zip or .tar.gz archive")


def _folder_entries(root: Path) -> Iterator[Entry]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            full = Path(dirpath, filename)
            if full.is_symlink() or not full.is_file():
                continue  # a link may point anywhere on the disk: not followed
            rel = PurePosixPath(full.relative_to(root).as_posix())
            yield Entry(rel, full.stat().st_size, full.read_bytes)


def _zip_entries(source: Path, limits: ImportLimits) -> Iterator[Entry]:
    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        for info in infos:  # refuse the whole archive before reading anything from it
            _safe_member_path(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError(f"the archive contains a link ({info.filename!r}); links are refused")
        for info in infos:
            if info.is_dir():
                continue

            def read(info=info) -> bytes:
                with archive.open(info) as f:  # reads at most the limit, whatever the header claims
                    return _limited_read(f.read, info.filename, limits.max_file_bytes)

            yield Entry(_safe_member_path(info.filename), info.file_size, read)


def _tar_entries(source: Path, limits: ImportLimits) -> Iterator[Entry]:
    with tarfile.open(source) as archive:
        for member in archive:  # streamed: a gzip tar is read once, front to back
            path = _safe_member_path(member.name)
            if member.issym() or member.islnk():
                raise DataError(
                    f"the archive contains a link ({member.name!r} -> {member.linkname!r}); links are refused"
                )
            if member.isdir():
                continue
            if not member.isfile():
                raise DataError(f"the archive contains a special file ({member.name!r}); it is refused")

            def read(member=member) -> bytes:
                f = archive.extractfile(member)
                return _limited_read(f.read, member.name, limits.max_file_bytes)

            yield Entry(path, member.size, read)


def decode_image(
    data: bytes, size: int, max_pixels: int = ImportLimits.max_image_pixels, channels: int = 3
) -> torch.Tensor:
    """Bytes of one image -> uint8 (channels, size, size), colour or grey. Raises DataError with a
    plain reason.

    The pixel count is checked from the header, before any pixel is decoded."""
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"the image is {width:,} x {height:,} pixels, more than the {max_pixels:,} allowed; "
                    "use a smaller picture"
                )
            image.draft("RGB", (size, size))  # JPEG: let the decoder scale down on the way in
            image = _to_rgb(image)
            if image.size != (size, size):
                image = ImageOps.fit(image, (size, size), Image.Resampling.BILINEAR)
            array = np.asarray(image.convert("L") if channels == 1 else image, dtype=np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError as error:
        # Pillow's own guard fired while reading the header, before our check could.
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        size_text = f"{int(claimed.group(1)):,} pixels" if claimed else "so many pixels"
        raise ImageTooLarge(
            f"the image claims {size_text}, more than the {max_pixels:,} allowed (opening it could exhaust "
            "memory); use a smaller picture"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DataError("the file is not an image this app can read (JPEG, PNG, BMP, GIF, WebP or TIFF)") from None
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency goes on white, 16-bit and float scale to 8 bits."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.round().astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def import_images(
    source: str | os.PathLike,
    size: int = 32,
    name: str | None = None,
    limits: ImportLimits = ImportLimits(),
    test_fraction: float = 0.2,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Dataset:
    """Read every image of `source` into a Dataset. `progress(files_seen)` is called as it goes.

    One pass: each image is decoded as soon as it is read (a .tar.gz can only be read front to
    back), and the layout is worked out from the paths afterwards."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"there is no file or folder at {source}")
    if not 8 <= size <= 256:
        raise DataError(f"the image size must be from 8 to 256 pixels (got {size})")
    max_images = limits.max_dataset_bytes // (3 * size * size)
    budget = _Budget(limits)
    decoded: list[tuple[PurePosixPath, torch.Tensor]] = []
    counts = {"unreadable": 0, "too_large": 0, "not_images": 0, "outside_classes": 0}
    for entry in iter_entries(source, limits):
        budget.add_file(entry.size)
        if progress and budget.files % 1000 == 0:
            progress(budget.files)
        filename = entry.path.name
        if PurePosixPath(filename).suffix.lower() not in IMAGE_EXTENSIONS or filename.startswith("."):
            counts["not_images"] += 1
            continue
        try:
            image = decode_image(entry.read(), size, limits.max_image_pixels)
        except _TooLarge:
            counts["too_large"] += 1
            continue
        except ImageTooLarge:
            counts["too_large"] += 1
            continue
        except DataError:
            counts["unreadable"] += 1
            continue
        decoded.append((entry.path, image))
        if len(decoded) > max_images:
            raise DataError(
                f"the archive holds more than {max_images:,} images, more than fit in memory at "
                f"{size}x{size} pixels; use a smaller image size or fewer images"
            )
    if progress:
        progress(budget.files)
    return _assemble(name or source_name(source), decoded, counts, limits, test_fraction, seed)


def source_name(source: Path) -> str:
    """A short name for imported images: the archive's or folder's name without its extension."""
    stem = source.name
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return "".join(c if c.isalnum() or c in "-_ " else "-" for c in stem)[:60] or "images"


def _strip_common_top(paths: list[PurePosixPath]) -> list[PurePosixPath]:
    """archive/cifar/train/cat/1.jpg -> train/cat/1.jpg: drop folders that every image shares."""
    while paths and all(len(p.parts) >= 3 for p in paths):
        tops = {p.parts[0] for p in paths}
        if len(tops) != 1 or next(iter(tops)).lower() in TRAIN_NAMES | TEST_NAMES:
            break
        paths = [PurePosixPath(*p.parts[1:]) for p in paths]
    return paths


def _assemble(
    name: str,
    decoded: list[tuple[PurePosixPath, torch.Tensor]],
    counts: dict[str, int],
    limits: ImportLimits,
    test_fraction: float,
    seed: int,
) -> Dataset:
    paths = _strip_common_top([path for path, _ in decoded])
    has_split = any(len(p.parts) >= 3 and p.parts[0].lower() in TRAIN_NAMES for p in paths)
    train: dict[str, list[torch.Tensor]] = defaultdict(list)
    test: dict[str, list[torch.Tensor]] = defaultdict(list)
    for path, (_, image) in zip(paths, decoded, strict=True):
        parts = path.parts
        target = train
        if has_split:
            top = parts[0].lower()
            if top not in TRAIN_NAMES | TEST_NAMES:
                counts["outside_classes"] += 1
                continue
            target = train if top in TRAIN_NAMES else test
            parts = parts[1:]
        if len(parts) < 2:  # an image not inside a class folder
            counts["outside_classes"] += 1
            continue
        target[parts[0]].append(image)
    classes = sorted(set(train) | set(test))
    notes = []
    if len(classes) < 2:
        what = f"only one class folder ({classes[0]!r})" if classes else "no images inside class folders"
        raise DataError(
            f"found {what}; put the images in one folder per class, e.g. cats/1.jpg and dogs/1.jpg"
            + (f" ({counts['unreadable']:,} files could not be read as images)" if counts["unreadable"] else "")
        )
    if len(classes) > limits.max_classes:
        raise DataError(f"found {len(classes):,} class folders, more than the {limits.max_classes:,} allowed")
    for cls in classes:
        count = len(train.get(cls, [])) + len(test.get(cls, []))
        if count < limits.min_images_per_class:
            raise DataError(
                f"class {cls!r} has only {count} image{'s' if count != 1 else ''}; each class needs at least "
                f"{limits.min_images_per_class}: add images or remove that folder"
            )
    g = torch.Generator().manual_seed(seed)
    splits: dict[str, list[tuple[torch.Tensor, int]]] = {"train": [], "test": []}
    for label, cls in enumerate(classes):
        if has_split:
            splits["train"] += [(image, label) for image in train.get(cls, [])]
            splits["test"] += [(image, label) for image in test.get(cls, [])]
            if not train.get(cls):
                notes.append(f"class {cls!r} has no training images")
        else:  # hold out a seeded share of every class as the test set
            images = train[cls]
            order = torch.randperm(len(images), generator=g).tolist()
            held = max(1, round(len(images) * test_fraction))
            splits["test"] += [(images[i], label) for i in order[:held]]
            splits["train"] += [(images[i], label) for i in order[held:]]
    if not has_split:
        notes.append(
            f"the archive has no train/test folders: {test_fraction:.0%} of each class is held out for testing"
        )
    if not splits["test"]:
        raise DataError("the test folder holds no images of the training classes")
    reasons = {  # (one file, several files)
        "unreadable": ("could not be read as an image and was skipped", "could not be read as images and were skipped"),
        "too_large": ("was too large and was skipped", "were too large and were skipped"),
        "not_images": (
            "is not an image (by its extension) and was ignored",
            "are not images (by their extension) and were ignored",
        ),
        "outside_classes": (
            "is not inside a class folder and was ignored",
            "are not inside a class folder and were ignored",
        ),
    }
    for key, (one, several) in reasons.items():
        count = counts[key]
        if count:
            notes.append(f"{count:,} file {one}" if count == 1 else f"{count:,} files {several}")

    def stack(items):
        return torch.stack([image for image, _ in items]), torch.tensor([label for _, label in items])

    train_images, train_labels = stack(splits["train"])
    test_images, test_labels = stack(splits["test"])
    return Dataset(name, tuple(classes), train_images, train_labels, test_images, test_labels, notes=tuple(notes))
