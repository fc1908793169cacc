"""Data sets: the bundled sample, imports of the user's images, downloads, caches and limits."""

import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli
from PIL import Image

from cnn_core import datasets, torchvision_sets
from cnn_core.datasets import SAMPLE_FILE, load_dataset
from cnn_core.downloads import DownloadError, download
from cnn_core.errors import DataError
from cnn_core.image_import import ImportLimits, decode_image, import_images
from cnn_core.previews import class_counts, image_grid, samples_per_class

ROOT = Path(__file__).resolve().parent.parent
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 210)}


def png(colour, size=(20, 12), mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(colour, size=(32, 32)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def class_files(per_class=6, prefix=""):
    """{path: bytes} for solid-colour images, one folder per class."""
    files = {}
    for name, colour in COLOURS.items():
        for i in range(per_class):
            files[f"{prefix}{name}/{i}.png" if i % 2 else f"{prefix}{name}/{i}.jpg"] = (
                png(colour) if i % 2 else jpeg(colour)
            )
    return files


def make_tar(path, files, extra=None):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return path


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


# --- the bundled sample ------------------------------------------------------------------------
def test_the_bundled_sample_is_small_balanced_real_cifar():
    assert SAMPLE_FILE.stat().st_size <= 5 * 2**20
    data = load_dataset("sample")
    assert data.classes == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    assert data.input_shape == (3, 32, 32) and data.train_images.dtype == torch.uint8
    assert torch.bincount(data.train_labels).tolist() == [1000] * 10
    assert torch.bincount(data.test_labels).tolist() == [200] * 10
    assert data.source == "sample"
    # Real photographs, not noise: neighbouring pixels agree far more than chance would.
    x = data.train_images[:500].float()
    assert (x[..., 1:] - x[..., :-1]).abs().mean() < 0.3 * (x - x.mean()).abs().mean()
    # The stored statistics are those of the decoded pixels.
    from cnn_core.data import channel_stats

    assert np.allclose(data.mean, channel_stats(data.train_images)[0], atol=1e-5)


def test_sample_is_the_default_and_the_tutorials_sizes_are_clamped_with_a_note():
    from cnn_core.data import plan_split
    from cnn_core.settings import TrainSettings

    assert datasets.DEFAULT == "sample"
    split = plan_split(load_dataset(), TrainSettings())
    assert (len(split.train), len(split.val), len(split.test)) == (8000, 2000, 2000)
    assert len(split.notes) == 2 and "10,000 training images" in split.notes[0]


# --- importing the user's images ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["tar", "zip", "folder"])
def test_an_archive_built_here_imports_with_a_held_out_split(kind, tmp_path):
    files = class_files(per_class=10, prefix="my pictures/")  # a shared top folder is dropped
    if kind == "tar":
        source = make_tar(tmp_path / "pics.tar.gz", files)
    elif kind == "zip":
        source = make_zip(tmp_path / "pics.zip", files)
    else:
        source = tmp_path / "pics"
        for name, data in files.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes(data)
    data = import_images(source, size=16)
    assert data.name == "pics"
    assert data.classes == ("blue", "green", "red")  # folder names, sorted
    assert data.input_shape == (3, 16, 16)
    assert torch.bincount(data.train_labels).tolist() == [8, 8, 8]
    assert torch.bincount(data.test_labels).tolist() == [2, 2, 2]
    for images, labels in ((data.train_images, data.train_labels), (data.test_images, data.test_labels)):
        for image, label in zip(images, labels, strict=True):
            expected = torch.tensor(COLOURS[data.classes[label]], dtype=torch.float32).view(3, 1, 1)
            assert (image.float() - expected).abs().max() <= 4  # JPEG rounding only
    assert any("held out" in note for note in data.notes)


def test_train_and_test_folders_are_kept(tmp_path):
    files = {**class_files(per_class=6, prefix="train/"), **class_files(per_class=3, prefix="test/")}
    data = import_images(make_tar(tmp_path / "split.tar.gz", files))
    assert (len(data.train_labels), len(data.test_labels)) == (18, 9)
    assert data.input_shape == (3, 32, 32)


def test_odd_images_are_converted_and_broken_ones_skipped_and_counted(tmp_path):
    files = class_files(per_class=5)
    odd = {
        "red/cmyk.jpg": _saved(Image.new("CMYK", (9, 9), (0, 200, 200, 30)), "JPEG"),
        "red/grey16.png": _saved(Image.fromarray(np.full((7, 5), 40000, dtype=np.uint16)), "PNG"),
        "red/palette.gif": _saved(Image.new("P", (4, 4), 3), "GIF"),
        "red/alpha.png": png((200, 0, 0, 128), mode="RGBA"),
        "red/tiny.png": png((200, 0, 0), size=(1, 1)),
        "green/grey.png": png(128, mode="L"),
        "green/not-really.png": b"this is not an image at all",
        "green/notes.txt": b"hello",
        "loose.jpg": jpeg((0, 0, 0)),
    }
    data = import_images(make_zip(tmp_path / "odd.zip", {**files, **odd}))
    assert len(data.train_labels) + len(data.test_labels) == 15 + 6
    assert data.train_images.shape[1:] == (3, 32, 32)
    notes = " ".join(data.notes)
    assert "1 file could not be read as a picture and was skipped: 'green/not-really.png'" in notes
    assert "1 file is not a picture (by its name) and was ignored: 'green/notes.txt'" in notes
    assert "1 file is not inside a class folder and was ignored: 'loose.jpg'" in notes
    assert data.skipped == {
        "not_image": {"count": 1, "files": ["green/notes.txt"]},
        "unreadable": {"count": 1, "files": ["green/not-really.png"]},
        "outside_classes": {"count": 1, "files": ["loose.jpg"]},
    }


def _saved(image, fmt):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_a_class_with_too_few_images_is_named(tmp_path):
    files = {**class_files(per_class=6), "owl/1.jpg": jpeg((1, 2, 3)), "owl/2.jpg": jpeg((1, 2, 3))}
    with pytest.raises(DataError, match="class 'owl' has only 2 images"):
        import_images(make_zip(tmp_path / "few.zip", files))


def test_a_single_class_is_explained(tmp_path):
    with pytest.raises(DataError, match="one folder per class"):
        import_images(make_zip(tmp_path / "one.zip", {f"cats/{i}.png": png((1, 1, 1)) for i in range(9)}))


@pytest.mark.parametrize(
    ("make_member", "words"),
    [
        (lambda: ("../evil.png", None), "leaves its folder"),
        (lambda: ("/etc/evil.png", None), "leaves its folder"),
        (lambda: ("red/link.png", "/etc/passwd"), "link"),
    ],
)
def test_archives_that_point_outside_are_refused(make_member, words, tmp_path):
    name, link = make_member()
    info = tarfile.TarInfo(name)
    if link:
        info.type, info.linkname = tarfile.SYMTYPE, link
    archive = make_tar(tmp_path / "bad.tar.gz", class_files(), extra=[info])
    before = set(tmp_path.rglob("*"))
    with pytest.raises(DataError, match=words):
        import_images(archive)
    assert set(tmp_path.rglob("*")) == before


def test_zip_with_parent_paths_is_refused(tmp_path):
    with pytest.raises(DataError, match="leaves its folder"):
        import_images(make_zip(tmp_path / "bad.zip", {**class_files(), "../../evil.png": png((1, 1, 1))}))


def test_each_limit_has_its_own_message(tmp_path):
    archive = make_zip(tmp_path / "pics.zip", class_files(per_class=6))
    with pytest.raises(DataError, match="more than 10 files"):
        import_images(archive, limits=ImportLimits(max_files=10))
    with pytest.raises(DataError, match="larger than"):
        import_images(archive, limits=ImportLimits(max_archive_bytes=1000))
    with pytest.raises(DataError, match="expands to more than"):
        import_images(archive, limits=ImportLimits(max_expanded_bytes=2000))


def test_a_zip_bomb_is_stopped_at_the_limit(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"cls{i}/zeros.png", b"\0" * (64 << 20))  # 64 MB each, a few KB packed
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DataError, match="zip bomb"):
        import_images(bomb, limits=ImportLimits(max_expanded_bytes=100 << 20))


def png_header_only(width, height):
    """A PNG whose header claims width x height pixels, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_a_huge_image_is_refused_from_its_header():
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(DataError, match="900,000,000 pixels, more than the 40,000,000 allowed"):
        decode_image(png_header_only(30_000, 30_000), 32)
    with pytest.raises(DataError, match="9,000 x 8,000 pixels, more than the 40,000,000 allowed"):
        decode_image(png_header_only(9_000, 8_000), 32)  # under Pillow's guard, over ours
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * 2**20  # the 2.7 GB of pixels were never allocated


def test_an_import_is_cached_by_content(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "pics.zip", class_files())
    first = load_dataset(str(archive), folder=tmp_path / "data")
    monkeypatch.setattr(datasets, "import_images", lambda *a, **k: pytest.fail("imported twice"))
    again = load_dataset(str(archive), folder=tmp_path / "data")
    assert torch.equal(first.train_images, again.train_images) and again.classes == first.classes
    assert again.source == first.source and again.source.startswith("imported:")
    assert again.origin == str(archive)
    by_key = load_dataset(first.source, folder=tmp_path / "data")  # how a run loads its data again
    assert torch.equal(by_key.test_images, first.test_images) and by_key.source == first.source


def test_the_sample_is_decoded_once_then_loaded_from_its_cache(tmp_path, monkeypatch):
    from cnn_core.dataset_files import load_jpegs

    first = load_dataset("sample", folder=tmp_path)
    monkeypatch.setattr(datasets, "load_jpegs", lambda *a: pytest.fail("decoded twice"))
    again = load_dataset("sample", folder=tmp_path)
    decoded = load_jpegs(datasets.SAMPLE_FILE)  # the oracle: the bundled JPEGs themselves
    for data in (first, again):
        assert torch.equal(data.train_images, decoded.train_images)
        assert torch.equal(data.test_labels, decoded.test_labels)
        assert (data.classes, data.mean, data.std, data.source) == (
            decoded.classes,
            decoded.mean,
            decoded.std,
            "sample",
        )
    (cache,) = (tmp_path / "imports").glob("sample-*.safetensors")
    cache.write_bytes(b"not a data set")  # damaged: decoded again, and the cache rewritten
    monkeypatch.setattr(datasets, "load_jpegs", load_jpegs)
    assert torch.equal(load_dataset("sample", folder=tmp_path).train_images, decoded.train_images)
    assert cache.stat().st_size > 30 * 2**20


def test_the_sample_loads_where_its_cache_cannot_be_written(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the data folder would be")
    data = load_dataset("sample", folder=blocked)
    assert data.train_images.shape == (10000, 3, 32, 32)


# --- downloads ---------------------------------------------------------------------------------
def test_download_reports_progress_and_checks_the_checksum(tmp_path):
    payload = os.urandom(3 * 2**20 + 17)
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "file.bin").write_bytes(payload)
    url = (tmp_path / "remote" / "file.bin").as_uri()
    seen = []
    target = tmp_path / "data" / "file.bin"
    download(
        [url],
        target,
        hashlib.md5(payload).hexdigest(),
        what="X",
        fallback="use the sample",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert target.read_bytes() == payload
    assert seen[0][0] == 0 and seen[-1] == (len(payload), len(payload))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    target.unlink()
    with pytest.raises(DownloadError, match="checksum"):
        download([url], target, "0" * 32, what="X", fallback="use the sample")
    assert list((tmp_path / "data").iterdir()) == []  # no partial file, no target


def test_no_network_gives_the_plain_message_and_leaves_nothing(tmp_path):
    target = tmp_path / "data" / "cifar-10-python.tar.gz"
    with pytest.raises(DownloadError) as info:
        download(
            ["http://127.0.0.1:9/cifar-10-python.tar.gz"],
            target,
            "0" * 32,
            what="CIFAR-10",
            fallback=f"use the bundled sample, or place cifar-10-python.tar.gz in {target.parent}",
            timeout=5,
        )
    assert str(info.value).startswith("could not download CIFAR-10: no network; use the bundled sample, or place")
    assert list(target.parent.iterdir()) == []


def _idx(array: np.ndarray) -> bytes:
    magic = {1: 0x00000801, 3: 0x00000803}[array.ndim]
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


@pytest.fixture
def fake_remote(tmp_path, monkeypatch):
    """Replace each torchvision source's address and checksums with local files made here."""
    remote = tmp_path / "remote"
    remote.mkdir()
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": gzip.compress(_idx(rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))),
        "train-labels-idx1-ubyte.gz": gzip.compress(_idx((np.arange(50) % 10).astype(np.uint8))),
        "t10k-images-idx3-ubyte.gz": gzip.compress(_idx(rng.integers(0, 256, (20, 28, 28), dtype=np.uint8))),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(_idx((np.arange(20) % 10).astype(np.uint8))),
    }
    # CIFAR-10 in torchvision's python format (our own generated pickles).
    from torchvision.datasets import CIFAR10

    batches = {}
    for name, count in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 6)]:
        batches[name] = pickle.dumps(
            {
                "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                "labels": [int(v) for v in rng.integers(0, 10, count)],
            }
        )
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    batches["batches.meta"] = pickle.dumps({"label_names": classes})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    files["cifar-10-python.tar.gz"] = buffer.getvalue()
    for name, data in files.items():
        (remote / name).write_bytes(data)
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    monkeypatch.setattr(
        CIFAR10,
        "train_list",
        [[f"data_batch_{i}", hashlib.md5(batches[f"data_batch_{i}"]).hexdigest()] for i in range(1, 6)],
    )
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", hashlib.md5(batches["test_batch"]).hexdigest()]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": hashlib.md5(batches["batches.meta"]).hexdigest()})
    real = torchvision_sets._sources()

    def local_sources():
        return {
            key: torchvision_sets.Source(
                source.key,
                source.title,
                (remote.as_uri() + "/",),
                tuple(torchvision_sets.RemoteFile(f.filename, md5[f.filename], None) for f in source.files),
                source.folder,
            )
            for key, source in real.items()
        }

    monkeypatch.setattr(torchvision_sets, "_sources", local_sources)
    return remote


@pytest.mark.parametrize(
    ("key", "shape", "sizes"),
    [("mnist", (1, 28, 28), (50, 20)), ("fashion-mnist", (1, 28, 28), (50, 20)), ("cifar10", (3, 32, 32), (20, 6))],
)
def test_torchvision_sets_download_decode_and_cache(key, shape, sizes, fake_remote, tmp_path):
    folder = tmp_path / "data"
    assert [e.needs_download for e in datasets.catalog(folder) if e.key == key] == [True]
    seen = []
    data = load_dataset(key, folder=folder, progress=lambda *p: seen.append(p))
    assert data.input_shape == shape and (len(data.train_labels), len(data.test_labels)) == sizes
    assert len(data.classes) == 10 and seen and seen[-1][0] == "download"
    assert torchvision_sets.cache_path(key, folder).is_file()
    # Later loads come from the cache: the downloaded files are no longer needed.
    for path in folder.rglob("*.gz"):
        path.unlink()
    again = load_dataset(key, folder=folder, allow_download=False)
    assert torch.equal(again.train_images, data.train_images)


def test_a_placed_archive_is_used_without_download(fake_remote, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cifar-10-python.tar.gz").write_bytes((fake_remote / "cifar-10-python.tar.gz").read_bytes())
    for path in fake_remote.iterdir():
        path.unlink()  # no "network" any more
    data = load_dataset("cifar10", folder=folder, allow_download=False)
    assert len(data.train_labels) == 20


def test_a_placed_archive_with_the_wrong_checksum_is_named(fake_remote, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "cifar-10-python.tar.gz").write_bytes(b"not the real thing")
    with pytest.raises(DataError, match="not the official CIFAR-10 file"):
        load_dataset("cifar10", folder=folder)


# --- previews and the command line ---------------------------------------------------------------
def test_previews(tiny_data):
    assert class_counts(tiny_data) == [(name, 60) for name in tiny_data.classes]
    groups = samples_per_class(tiny_data, per_class=4, split="test")
    assert list(groups) == list(tiny_data.classes)
    for c, images in enumerate(groups.values()):
        assert len(images) == 4
        matches = [(tiny_data.test_images == img).flatten(1).all(1).nonzero()[0, 0] for img in images]
        assert all(int(tiny_data.test_labels[i]) == c for i in matches)
    grid = image_grid(groups, gap=2)
    assert grid.shape == (3, 10 * 34 - 2, 4 * 34 - 2)


def test_train_on_an_archive_path_from_the_command_line(tmp_path):
    archive = make_tar(tmp_path / "colours.tar.gz", class_files(per_class=10))
    out = cli(
        "train",
        "--dataset",
        str(archive),
        "--epochs",
        "1",
        "--json",
        "--no-save",
        "--data-dir",
        str(tmp_path / "data"),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["dataset"]["name"] == "colours"
    assert result["dataset"]["classes"] == ["blue", "green", "red"]
    assert (result["dataset"]["train_images"], result["dataset"]["test_images"]) == (24, 6)
