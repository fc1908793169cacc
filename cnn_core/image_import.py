"""Importing the user's own images: a folder, .zip or .tar(.gz/.bz2/.xz) in the class-folder layout.

    <class>/<image>                       one folder per class; a test split is held out
    <class>/<sub-folder>/<image>          sub-folders count for their top class folder (a note says so)
    train/<class>/<image>, test/..., val/...   the archive's own splits are kept

This follows torchvision's `ImageFolder`: class folders at the top, images found recursively below
them, class names sorted. Split folders are recognised by their words, not one spelling:
`train`, `training_set`, `seg_train`, `train_data`, `train2017` are training; `test`, `testing`,
`test_set` are test; `val`, `valid`, `validation`, `dev` are validation. A folder beside the splits
(`single_prediction/`) is left out and named. A folder that wraps everything (`archive/`, or
`training_set/training_set/`) is looked through.

Everything is read straight from the archive into memory: nothing is extracted, so no member can be
written outside a folder. An archive holding a link, an absolute path or a '../' path is refused
whole, because it was not made innocently. In a folder on disk, links to image files are followed
(download caches are laid out that way); links to folders are not. Every image becomes RGB at
size x size pixels (EXIF orientation applied, 16-bit scaled by its bit depth, centre-cropped to a
square, then resized). The import is sorted by path, so a folder, a zip and a tar of the same
images give the same data set.

Nothing is lost silently: every file that is not imported is counted under a reason and named
(`Skipped`), and the data set's notes say it in plain words. Operating-system clutter
(`__MACOSX/`, `.DS_Store`, `Thumbs.db`, `._*` resource forks) is ignored without a word.

Limits, each with its own message: the archive's size, the number of files, the bytes it expands
to (zip bombs), each image's pixel count (read from the header, before any pixel is decoded;
Pillow's own decompression-bomb guard stays on as well), and a least number of images per class.
"""

from __future__ import annotations

import functools
import io
import lzma
import os
import re
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import Dataset
from .errors import DataError

IMAGE_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff",
    ".ppm", ".pgm", ".pbm", ".pnm", ".avif",
}  # fmt: skip
PIL_FORMATS = ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM", "AVIF"]
# Pictures, but in formats Pillow cannot read here: named as such, not as "not a picture".
OTHER_PICTURES = {".heic", ".heif", ".svg", ".psd", ".jxl", ".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2"}

# Split folders are recognised by their words: a folder name made of one split word and filler.
SPLIT_WORDS = {
    "train": "train", "training": "train", "trn": "train",
    "test": "test", "testing": "test", "tst": "test",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
}  # fmt: skip
SPLIT_FILLER = {"set", "sets", "data", "dataset", "images", "image", "imgs", "img", "split", "seg", "files", "pics"}
JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini", ".directory", "icon\r"}
JUNK_FOLDERS = {"__macosx", ".git", ".svn", ".ipynb_checkpoints", "@eadir", ".trashes", ".spotlight-v100"}
SHOWN_PER_REASON = 10  # file names kept per reason, for the notes and the JSON

# reason -> (one file, several files): the words the notes use.
REASONS = {
    "not_image": ("is not a picture (by its name) and was ignored",
                  "are not pictures (by their names) and were ignored"),
    "hidden": ("is hidden (its name starts with a dot) and was ignored",
               "are hidden (names starting with a dot) and were ignored"),
    "unreadable": ("could not be read as a picture and was skipped",
                   "could not be read as pictures and were skipped"),
    "other_format": ("is a picture format this app cannot read (HEIC, SVG, camera RAW, ...): convert it to JPEG",
                     "are in picture formats this app cannot read (HEIC, SVG, camera RAW, ...): convert them to JPEG"),
    "too_large": ("was too large and was skipped", "were too large and were skipped"),
    "damaged": ("is damaged inside the archive and was skipped", "are damaged inside the archive and were skipped"),
    "encrypted": ("is password-protected and was skipped", "are password-protected and were skipped"),
    "link": ("is a link to a folder or to nothing and was not followed",
             "are links to folders or to nothing and were not followed"),
    "outside_classes": ("is not inside a class folder and was ignored",
                        "are not inside a class folder and were ignored"),
    "outside_splits": ("is in a folder beside the train/test folders and was left out",
                       "are in folders beside the train/test folders and were left out"),
    "empty_class": ("folder holds no readable pictures and is not a class",
                    "folders hold no readable pictures and are not classes"),
}  # fmt: skip


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
    """One file (or folder) inside the source, by its path relative to the source's root.
    `read()` works only until the iterator moves on (a compressed tar is a stream). `skip` is set
    when the source already knows the file cannot be read (a broken link, a damaged member)."""

    path: PurePosixPath
    size: int
    read: Callable[[], bytes]
    is_dir: bool = False
    skip: str | None = None


@dataclass
class Skipped:
    """Files not imported, by reason: a count and the first few names of each."""

    counts: dict[str, int] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, name: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        shown = self.names.setdefault(reason, [])
        if len(shown) < SHOWN_PER_REASON:
            shown.append(name)

    def to_dict(self) -> dict[str, dict]:
        return {
            reason: {"count": self.counts[reason], "files": sorted(self.names[reason])}
            for reason in REASONS
            if reason in self.counts
        }

    def notes(self, said: frozenset[str] = frozenset()) -> list[str]:
        """A sentence per reason, naming the first files; reasons in `said` have a note already."""
        out = []
        for reason, (one, several) in REASONS.items():
            count = self.counts.get(reason, 0)
            if not count or reason in said:
                continue
            names = sorted(self.names[reason])
            shown = ", ".join(f"'{n}'" for n in names[:3]) + (", ..." if count > 3 else "")
            noun = "folder" if reason == "empty_class" else "file"
            text = f"1 {noun} {one}" if count == 1 else f"{count:,} {noun}s {several}"
            out.append(f"{text}: {shown}")
        return out


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


def _clean_name(name: str) -> str:
    """One spelling per name: 'café' typed with a combining accent (macOS) or without is one name."""
    return unicodedata.normalize("NFC", name)


def _safe_member_path(name: str) -> PurePosixPath:
    """A member's path, refusing absolute paths and '..' (checked before anything is read)."""
    normalised = _clean_name(name.replace("\\", "/"))
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise DataError(f"the archive contains a path that leaves its folder ({name!r}); it is refused")
    return PurePosixPath(*[part for part in path.parts if part not in ("", ".")])


def _is_junk(path: PurePosixPath) -> bool:
    """Clutter an operating system or tool leaves in folders: ignored without a word."""
    name = path.name.lower()
    return name in JUNK_NAMES or name.startswith("._") or any(part.lower() in JUNK_FOLDERS for part in path.parts[:-1])


def _limited_read(read: Callable[[int], bytes], name: str, limit: int) -> bytes:
    data = read(limit + 1)
    if len(data) > limit:
        raise _TooLarge(name)
    return data


class _TooLarge(Exception):
    """A file larger than the per-file limit (raised while reading it)."""


class _DamagedMember(Exception):
    """One member of a zip cannot be read (bad CRC, cut short, encrypted); the rest can."""

    def __init__(self, reason: str):
        self.reason = reason


class ImageTooLarge(DataError):
    """An image whose header claims more pixels than allowed."""


class ArchiveDamaged(DataError):
    """The archive itself is broken (cut short, bad compressed data): nothing after it can be read."""


# --- reading the source --------------------------------------------------------------------------
_MAGIC = [  # (first bytes, what the file is)
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
]


def _kind_of(source: Path) -> str:
    with open(source, "rb") as f:
        head = f.read(512)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "unknown"


def iter_entries(source: Path, limits: ImportLimits) -> Iterator[Entry]:
    """Every file and folder of a folder, zip or tar archive, with checks on paths and links."""
    if source.is_dir():
        yield from _folder_entries(source, limits)
        return
    size = source.stat().st_size
    if size == 0:
        raise DataError(f"{source.name} is empty (0 bytes); download or pack it again")
    if size > limits.max_archive_bytes:
        raise DataError(
            f"the archive is {size / 2**20:,.0f} MB, larger than the {limits.max_archive_bytes / 2**20:,.0f} MB "
            "an import takes"
        )
    kind = _kind_of(source)
    if kind in ("7z", "rar"):
        raise DataError(f"{source.name} is a {kind} archive, which this app cannot open; pack it as a .zip or .tar.gz")
    if kind == "zip" or zipfile.is_zipfile(source):
        if not zipfile.is_zipfile(source):
            raise DataError(
                f"{source.name} is a zip archive that is damaged or cut short (its index at the end is missing); "
                "download or pack it again"
            )
        yield from _zip_entries(source, limits)
    elif kind in ("gzip", "bzip2", "xz", "tar") or tarfile.is_tarfile(source):
        yield from _tar_entries(source, limits, kind)
    elif source.suffix.lower() in IMAGE_EXTENSIONS:
        raise DataError(
            f"{source.name} is a single picture; give a folder, .zip or .tar.gz with one folder of pictures per class"
        )
    else:
        raise DataError(f"{source.name} is not a folder, .zip or .tar.gz archive")


def _folder_entries(root: Path, limits: ImportLimits) -> Iterator[Entry]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for dirname in list(dirnames):
            if (here / dirname).is_symlink():  # a linked folder may hold the whole disk: not followed
                dirnames.remove(dirname)
                filenames.append(dirname)
        dirnames.sort()
        if here != root:
            yield Entry(PurePosixPath(_clean_name(here.relative_to(root).as_posix())), 0, bytes, is_dir=True)
        for filename in sorted(filenames):
            full = here / filename
            rel = PurePosixPath(_clean_name(full.relative_to(root).as_posix()))
            # A link to an image file is followed (download caches are made of them); a link to a
            # folder, a broken link and anything that is not a regular file are named and skipped.
            try:
                info = full.stat()
            except OSError:
                yield Entry(rel, 0, bytes, skip="link")
                continue
            if not stat.S_ISREG(info.st_mode):
                yield Entry(rel, 0, bytes, skip="link" if full.is_symlink() else "unreadable")
                continue
            yield Entry(rel, info.st_size, functools.partial(_read_file, full, limits.max_file_bytes))


def _read_file(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return _limited_read(f.read, str(path), limit)
    except OSError:  # no permission, or gone since the folder was listed
        raise _DamagedMember("unreadable") from None


def _zip_name(info: zipfile.ZipInfo) -> str:
    """Info-ZIP (`zip -r`) stores UTF-8 names without the flag that says so, and Python then reads
    them as the old DOS code page: 'café' becomes 'caf├⌐'. Such names are read as UTF-8 when valid."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _zip_entries(source: Path, limits: ImportLimits) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise DataError(f"{source.name} is a damaged zip archive ({error}); download or pack it again") from None
    with archive:
        infos = archive.infolist()
        for info in infos:  # refuse the whole archive before reading anything from it
            _safe_member_path(_zip_name(info))
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError(f"the archive contains a link ({info.filename!r}); links are refused")
        for info in infos:
            path = _safe_member_path(_zip_name(info))
            if info.is_dir():
                yield Entry(path, 0, bytes, is_dir=True)
                continue

            def read(info=info) -> bytes:
                try:
                    with archive.open(info) as f:  # reads at most the limit, whatever the header claims
                        return _limited_read(f.read, info.filename, limits.max_file_bytes)
                except RuntimeError as error:  # zipfile says "File ... is encrypted, password required"
                    raise _DamagedMember("encrypted" if "encrypt" in str(error) else "damaged") from None
                except NotImplementedError:  # a compression method zipfile does not know
                    raise _DamagedMember("damaged") from None
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, lzma.LZMAError):
                    raise _DamagedMember("damaged") from None  # a bad CRC, or cut short

            yield Entry(path, info.file_size, read)


_TAR_BROKEN = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def _tar_cut_short(source: Path, kind: str, files: int) -> ArchiveDamaged:
    packed = {"gzip": ".tar.gz", "bzip2": ".tar.bz2", "xz": ".tar.xz"}.get(kind, ".tar")
    where = f"after {files:,} files" if files else "at its start"
    return ArchiveDamaged(
        f"{source.name} is a {packed} archive that is damaged or cut short (it breaks off {where}); "
        "download or pack it again"
    )


def _tar_entries(source: Path, limits: ImportLimits, kind: str) -> Iterator[Entry]:
    files = 0
    try:
        archive = tarfile.open(source)
    except _TAR_BROKEN:
        if kind in ("gzip", "bzip2", "xz"):
            raise _tar_cut_short(source, kind, 0) from None
        raise DataError(f"{source.name} is not a folder, .zip or .tar.gz archive") from None
    with archive:
        members = iter(archive)  # streamed: a compressed tar is read once, front to back
        while True:
            try:
                member = next(members)
            except StopIteration:
                break
            except _TAR_BROKEN:
                raise _tar_cut_short(source, kind, files) from None
            path = _safe_member_path(member.name)
            if member.issym() or member.islnk():
                raise DataError(
                    f"the archive contains a link ({member.name!r} -> {member.linkname!r}); links are refused"
                )
            if member.isdir():
                yield Entry(path, 0, bytes, is_dir=True)
                continue
            if not member.isfile():
                raise DataError(f"the archive contains a special file ({member.name!r}); it is refused")
            files += 1

            def read(member=member, files=files) -> bytes:
                try:
                    f = archive.extractfile(member)
                    return _limited_read(f.read, member.name, limits.max_file_bytes)
                except _TAR_BROKEN:  # in a stream nothing after a broken member can be read
                    raise _tar_cut_short(source, kind, files - 1) from None

            yield Entry(path, member.size, read)


# --- decoding one picture --------------------------------------------------------------------------
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
            image = ImageOps.exif_transpose(image)  # phone photos: stored sideways, turned by a tag
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
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError):
        raise DataError("the file is not an image this app can read (JPEG, PNG, BMP, GIF, WebP or TIFF)") from None
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency goes on white; more than 8 bits scale by their depth.

    16-bit (`I;16*`, and `I`, which Pillow uses for 16-bit PNGs and TIFFs) divide by 257, so white
    stays white and a dark picture stays dark; float pictures are taken as 0..1 when they fit it,
    else as 0..255."""
    if image.mode.startswith("I;16") or image.mode == "I":
        array = np.asarray(image, dtype=np.float64)
        scaled = np.clip(array, 0, 65535) / 257
        return Image.fromarray(scaled.round().astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        array = np.nan_to_num(np.asarray(image, dtype=np.float64))
        scaled = array * 255 if array.min() >= 0 and array.max() <= 1 else array
        return Image.fromarray(np.clip(scaled, 0, 255).round().astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# --- the import -----------------------------------------------------------------------------------
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
    back), and the layout is worked out from the sorted paths afterwards."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"there is no file or folder at {source}")
    if not 8 <= size <= 256:
        raise DataError(f"the image size must be from 8 to 256 pixels (got {size})")
    max_images = limits.max_dataset_bytes // (3 * size * size)
    budget = _Budget(limits)
    skipped = Skipped()
    decoded: list[tuple[PurePosixPath, torch.Tensor]] = []
    places: list[PurePosixPath] = []  # every file and folder that is not clutter: finds empty class folders
    for entry in iter_entries(source, limits):
        if _is_junk(entry.path if not entry.is_dir else entry.path / "-"):
            continue
        places.append(entry.path / "-" if entry.is_dir else entry.path)
        if entry.is_dir:
            continue
        budget.add_file(entry.size)
        if progress and budget.files % 1000 == 0:
            progress(budget.files)
        shown = entry.path.as_posix()
        if entry.skip:
            skipped.add(entry.skip, shown)
            continue
        if any(part.startswith(".") for part in entry.path.parts):
            skipped.add("hidden", shown)
            continue
        if entry.path.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.add("other_format" if entry.path.suffix.lower() in OTHER_PICTURES else "not_image", shown)
            continue
        try:
            image = decode_image(entry.read(), size, limits.max_image_pixels)
        except (_TooLarge, ImageTooLarge):
            skipped.add("too_large", shown)
            continue
        except _DamagedMember as damaged:
            skipped.add(damaged.reason, shown)
            continue
        except ArchiveDamaged:
            raise
        except DataError:
            skipped.add("unreadable", shown)
            continue
        decoded.append((entry.path, image))
        if len(decoded) > max_images:
            raise DataError(
                f"the archive holds more than {max_images:,} images, more than fit in memory at "
                f"{size}x{size} pixels; use a smaller image size or fewer images"
            )
    if progress:
        progress(budget.files)
    # Archives list their members in any order: sort, so a folder, a zip and a tar are one data set.
    decoded.sort(key=lambda item: item[0].parts)
    return _assemble(name or source_name(source), decoded, places, skipped, limits, test_fraction, seed)


def source_name(source: Path) -> str:
    """A short name for imported images: the archive's or folder's name without its extension."""
    stem = source.name
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return "".join(c if c.isalnum() or c in "-_ " else "-" for c in stem)[:60] or "images"


def split_of(folder: str) -> str | None:
    """'train', 'test' or 'val' for a folder named like a split (`training_set`, `seg_test`,
    `Validation`, `train2017`), else None."""
    words = re.findall(r"[a-z]+|[0-9]+", folder.lower())
    found = set()
    for word in words:
        if word in SPLIT_WORDS:
            found.add(SPLIT_WORDS[word])
        elif word.isdigit() or word in SPLIT_FILLER:
            continue
        else:  # joined words: 'trainingset', 'testimages'
            stem = next((word[: -len(f)] for f in SPLIT_FILLER if word.endswith(f) and word[: -len(f)]), None)
            if stem not in SPLIT_WORDS:
                return None
            found.add(SPLIT_WORDS[stem])
    return found.pop() if len(found) == 1 else None


@dataclass
class _Layout:
    """Where each path lands: how many wrapper folders to look through, and whether the top
    folders are splits."""

    top_wrappers: int
    has_splits: bool
    split_wrappers: dict[str, int]

    def locate(self, path: PurePosixPath) -> tuple[str | None, tuple[str, ...], str | None]:
        """(split, the rest of the path below the split, the split-level folder if it is not a split)."""
        parts = path.parts[self.top_wrappers :]
        if not self.has_splits:
            return "train", parts, None
        if len(parts) < 2:
            return None, parts, None
        split = split_of(parts[0])
        if split is None:
            return None, parts[1:], parts[0]
        return split, parts[1 + self.split_wrappers.get(split, 0) :], None


def _common_wrappers(paths: list[tuple[str, ...]], accept: Callable[[str], bool]) -> int:
    """How many leading folders every path shares (and `accept` allows) with something below them."""
    depth = 0
    while paths and all(len(p) > depth + 1 for p in paths):
        tops = {p[depth] for p in paths}
        if len(tops) != 1 or not accept(next(iter(tops))) or all(len(p) == depth + 2 for p in paths):
            # A single folder with only files inside it is a class, not a wrapper.
            break
        depth += 1
    return depth


def _layout(image_paths: list[PurePosixPath], all_paths: list[PurePosixPath]) -> _Layout:
    files = [p.parts for p in all_paths if p.name != "-"]
    top = _common_wrappers(files or [p.parts for p in image_paths], lambda name: split_of(name) is None)
    tops = {p.parts[top] for p in image_paths if len(p.parts) > top + 1}
    splits = {split_of(name) for name in tops}
    has_splits = "train" in splits or (bool(tops) and None not in splits)
    wrappers: dict[str, int] = {}
    if has_splits:
        by_split: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for p in image_paths:
            parts = p.parts[top:]
            if len(parts) > 1 and split_of(parts[0]):
                by_split[split_of(parts[0])].append(parts[1:])
        for split, rest in by_split.items():  # training_set/training_set/cats: look through the inner one
            wrappers[split] = _common_wrappers(rest, lambda name: split_of(name) is not None)
    return _Layout(top, has_splits, wrappers)


def _assemble(
    name: str,
    decoded: list[tuple[PurePosixPath, torch.Tensor]],
    places: list[PurePosixPath],
    skipped: Skipped,
    limits: ImportLimits,
    test_fraction: float,
    seed: int,
) -> Dataset:
    layout = _layout([path for path, _ in decoded], places)
    found: dict[str, dict[str, list[torch.Tensor]]] = {
        "train": defaultdict(list),
        "val": defaultdict(list),
        "test": defaultdict(list),
    }
    nested: dict[str, set[str]] = defaultdict(set)
    strays: dict[str, int] = defaultdict(int)
    for path, image in decoded:
        split, rest, stray = layout.locate(path)
        if stray is not None:
            skipped.add("outside_splits", path.as_posix())
            strays[stray] += 1
            continue
        if split is None or len(rest) < 2:  # an image not inside a class folder
            skipped.add("outside_classes", path.as_posix())
            continue
        if len(rest) > 2:
            nested[rest[0]].add(rest[1])
        found[split][rest[0]].append(image)
    classes = sorted(set(found["train"]) | set(found["val"]) | set(found["test"]))
    # Class folders with nothing importable in them are named, so a user knows why a class is missing.
    folders = set()
    for place in places:
        split, rest, stray = layout.locate(place)
        if split is not None and len(rest) >= 2 and rest[0] != "-" and not rest[0].startswith("."):
            folders.add(rest[0])
    for folder in sorted(folders - set(classes)):
        skipped.add("empty_class", folder)

    notes: list[str] = []
    if len(classes) < 2:
        what = f"only one class folder ({classes[0]!r})" if classes else "no images inside class folders"
        unreadable = skipped.counts.get("unreadable", 0) + skipped.counts.get("damaged", 0)
        raise DataError(
            f"found {what}; put the images in one folder per class, e.g. cats/1.jpg and dogs/1.jpg"
            + (f" ({unreadable:,} files could not be read as images)" if unreadable else "")
        )
    if len(classes) > limits.max_classes:
        raise DataError(f"found {len(classes):,} class folders, more than the {limits.max_classes:,} allowed")
    for cls in classes:
        count = sum(len(found[split].get(cls, [])) for split in found)
        if count < limits.min_images_per_class:
            raise DataError(
                f"class {cls!r} has only {count} image{'s' if count != 1 else ''}; each class needs at least "
                f"{limits.min_images_per_class}: add images or remove that folder"
            )
    if layout.has_splits and not any(found["train"].values()):
        raise DataError("found test or validation folders but no training folder (train/, training_set/, ...)")

    g = torch.Generator().manual_seed(seed)
    splits: dict[str, list[tuple[torch.Tensor, int]]] = {"train": [], "val": [], "test": []}
    hold_out = not any(found["test"].values())
    for label, cls in enumerate(classes):
        for split in ("val", "test"):
            splits[split] += [(image, label) for image in found[split].get(cls, [])]
        images = found["train"].get(cls, [])
        if layout.has_splits and not images:
            notes.append(f"class {cls!r} has no training images")
        if hold_out and images:  # hold out a seeded share of every class as the test set
            order = torch.randperm(len(images), generator=g).tolist()
            held = max(1, round(len(images) * test_fraction)) if len(images) > 1 else 0
            splits["test"] += [(images[i], label) for i in order[:held]]
            splits["train"] += [(images[i], label) for i in order[held:]]
        else:
            splits["train"] += [(image, label) for image in images]
    if hold_out:
        where = "the archive has no test folder" if layout.has_splits else "the archive has no train/test folders"
        notes.append(f"{where}: {test_fraction:.0%} of each class is held out for testing")
    if splits["val"]:
        notes.append(
            f"the validation folder's {len(splits['val']):,} pictures are the validation set "
            "(not taken from the training pictures)"
        )
    if strays:
        listed = ", ".join(f"'{name}' ({count:,} pictures)" for name, count in sorted(strays.items()))
        notes.append(f"folders beside the train/test folders were left out: {listed}")
    if nested:
        examples = ", ".join(f"'{cls}/{sorted(subs)[0]}/'" for cls, subs in sorted(nested.items())[:3])
        notes.append(f"pictures in sub-folders count for their top class folder (for example {examples})")
    if not splits["test"]:
        raise DataError("the test folder holds no images of the training classes")
    notes += skipped.notes(said=frozenset({"outside_splits"}) if strays else frozenset())

    def stack(items):
        if not items:
            return torch.zeros((0, *decoded[0][1].shape), dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
        return torch.stack([image for image, _ in items]), torch.tensor([label for _, label in items])

    # The validation pictures go last in the training pool; `val_count` says how many there are.
    train_images, train_labels = stack(splits["train"] + splits["val"])
    test_images, test_labels = stack(splits["test"])
    return Dataset(
        name,
        tuple(classes),
        train_images,
        train_labels,
        test_images,
        test_labels,
        notes=tuple(notes),
        skipped=skipped.to_dict(),
        val_count=len(splits["val"]),
    )
