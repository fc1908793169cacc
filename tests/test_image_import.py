"""The user's own images, imported as a new user brings them: every file accounted for, nothing
mislabelled, the same data from a folder, a zip and a tar, and damaged archives refused in words.

Every archive here is made by the test: split-name variants, val/ folders, truncated and damaged
archives, 16-bit PNGs, EXIF-rotated JPEGs, Info-ZIP names, symlinked files, macOS clutter."""

import hashlib
import io
import json
import os
import random
import tarfile
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_datasets import COLOURS, class_files, jpeg, make_tar, make_zip, png

from cnn_core import datasets, torchvision_sets
from cnn_core.data import plan_split
from cnn_core.errors import DataError
from cnn_core.image_import import decode_image, import_images, split_of
from cnn_core.settings import TrainSettings


def make_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def per_class(data, split="train") -> dict[str, int]:
    labels = data.train_labels if split == "train" else data.test_labels
    return {data.classes[i]: int(n) for i, n in enumerate(torch.bincount(labels, minlength=data.num_classes))}


# --- split folders ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("train", "test"),
    [
        ("train", "test"),
        ("training_set", "test_set"),  # Kaggle's cats and dogs
        ("seg_train", "seg_test"),  # Intel image classification
        ("train_data", "test_data"),
        ("Training", "Testing"),
        ("trainingSet", "testSet"),
        ("train2017", "test2017"),
    ],
)
def test_split_folders_are_recognised_by_their_words(train, test, tmp_path):
    files = {**class_files(per_class=6, prefix=f"{train}/"), **class_files(per_class=3, prefix=f"{test}/")}
    data = import_images(make_zip(tmp_path / "split.zip", files))
    assert data.classes == ("blue", "green", "red")  # never "training_set" vs "test_set"
    assert per_class(data) == {"blue": 6, "green": 6, "red": 6}
    assert per_class(data, "test") == {"blue": 3, "green": 3, "red": 3}


@pytest.mark.parametrize("name", ["cats", "dogs", "contest", "trainers", "attention", "testudo", "val_dog"])
def test_class_names_are_not_mistaken_for_splits(name):
    assert split_of(name) is None


def test_kaggle_layout_with_doubled_folders_and_a_stray_folder(tmp_path):
    """dataset/training_set/training_set/cats/..., and dataset/single_prediction/ beside the splits."""
    files = {
        **class_files(per_class=6, prefix="dataset/training_set/training_set/"),
        **class_files(per_class=3, prefix="dataset/test_set/test_set/"),
        **{f"dataset/single_prediction/cat_or_dog_{i}.jpg": jpeg((9, 9, 9)) for i in range(4)},
    }
    data = import_images(make_tar(tmp_path / "cats-and-dogs.tar.gz", files))
    assert data.classes == ("blue", "green", "red")
    assert (len(data.train_labels), len(data.test_labels)) == (18, 9)
    assert data.skipped["outside_splits"]["count"] == 4
    assert "dataset/single_prediction/cat_or_dog_0.jpg" in data.skipped["outside_splits"]["files"]
    assert "folders beside the train/test folders were left out: 'single_prediction' (4 pictures)" in data.notes


@pytest.mark.parametrize("val", ["val", "valid", "validation"])
def test_a_val_folder_becomes_the_validation_split(val, tmp_path):
    files = {
        **class_files(per_class=8, prefix="train/"),
        **class_files(per_class=2, prefix=f"{val}/"),
        **class_files(per_class=3, prefix="test/"),
    }
    data = import_images(make_zip(tmp_path / "tvt.zip", files))
    facts = data.describe()
    assert (facts["train_images"], facts["val_images"], facts["test_images"]) == (24, 6, 9)
    assert any("validation folder" in note for note in data.notes)
    split = plan_split(data, TrainSettings(train_samples=1000, val_samples=1000, test_samples=1000))
    assert (len(split.train), len(split.val), len(split.test)) == (24, 6, 9)
    assert set(split.val.tolist()) == set(range(24, 30))  # exactly the val folder's pictures
    assert not set(split.train.tolist()) & set(split.val.tolist())
    # The validation pictures are the val folder's: 2 per class.
    assert torch.bincount(data.train_labels[split.val]).tolist() == [2, 2, 2]


def test_train_and_val_without_test_hold_out_a_test_set(tmp_path):
    files = {**class_files(per_class=10, prefix="train/"), **class_files(per_class=2, prefix="val/")}
    data = import_images(make_zip(tmp_path / "tv.zip", files))
    facts = data.describe()
    assert (facts["train_images"], facts["val_images"], facts["test_images"]) == (24, 6, 6)
    assert any("no test folder" in note for note in data.notes)


def test_nested_folders_merge_into_their_class_with_a_note(tmp_path):
    files = {
        **class_files(per_class=6),
        **{f"red/indoor/{i}.png": png(COLOURS["red"]) for i in range(4)},
    }
    data = import_images(make_folder(tmp_path / "pics", files))
    assert data.classes == ("blue", "green", "red")
    assert per_class(data)["red"] + per_class(data, "test")["red"] == 10
    assert any("'red/indoor/'" in note for note in data.notes)


# --- damaged archives ---------------------------------------------------------------------------------
def test_a_truncated_tar_gz_is_called_cut_short(tmp_path):
    whole = make_tar(tmp_path / "whole.tar.gz", class_files(per_class=40)).read_bytes()
    for keep in (len(whole) // 2, len(whole) - 100, 30):
        cut = tmp_path / f"cut{keep}.tar.gz"
        cut.write_bytes(whole[:keep])
        with pytest.raises(DataError, match="damaged or cut short"):
            import_images(cut)


def test_a_truncated_zip_is_called_cut_short(tmp_path):
    whole = make_zip(tmp_path / "whole.zip", class_files(per_class=10)).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="zip archive that is damaged or cut short"):
        import_images(cut)


def test_a_zip_member_with_a_bad_crc_is_skipped_named_and_the_rest_imports(tmp_path):
    files = class_files(per_class=6)
    path = make_zip(tmp_path / "crc.zip", files)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("red/1.png")
    # Flip a byte inside that member's data (stored uncompressed): its CRC no longer matches.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 20] ^= 0xFF
    path.write_bytes(bytes(raw))
    data = import_images(path)
    assert data.skipped["damaged"] == {"count": 1, "files": ["red/1.png"]}
    assert len(data.train_labels) + len(data.test_labels) == 17
    assert any("damaged inside the archive" in note and "red/1.png" in note for note in data.notes)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"7z\xbc\xaf\x27\x1c" + b"\0" * 100, "7z archive"),
        (b"Rar!\x1a\x07\x00" + b"\0" * 100, "rar archive"),
        (b"just some text, not an archive", "not a folder, .zip or .tar.gz"),
        (b"\x1f\x8b\x08\x00" + b"\0" * 20, "damaged or cut short"),
    ],
)
def test_other_files_are_named_plainly(content, words, tmp_path):
    path = tmp_path / "thing.zip"
    path.write_bytes(content)
    with pytest.raises(DataError, match=words):
        import_images(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_an_archive_is_a_data_error_never_a_crash(data, tmp_path_factory):
    """Cut, overwritten or flipped bytes anywhere: the import either works or says what is wrong."""
    folder = tmp_path_factory.mktemp("damage")
    kind = data.draw(st.sampled_from(["zip", "tar"]))
    files = class_files(per_class=5)
    whole = (make_zip if kind == "zip" else make_tar)(folder / f"a.{kind}", files).read_bytes()
    raw = bytearray(whole)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(1, len(raw)))]
    damaged = folder / f"damaged.{kind}"
    damaged.write_bytes(bytes(raw))
    try:
        result = import_images(damaged)
    except DataError:
        return
    assert result.num_classes >= 2


def test_damaged_archives_exit_2_from_the_command_line_without_a_traceback(tmp_path):
    whole = make_tar(tmp_path / "whole.tar.gz", class_files(per_class=40)).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    out = cli("train", "--dataset", str(cut), "--epochs", "1", "--json", "--no-save", "--data-dir", str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "cut short" in out.stderr


# --- names and order ----------------------------------------------------------------------------------
class InfoZipInfo(zipfile.ZipInfo):
    """A member named in UTF-8 without the flag that says so, as Info-ZIP's `zip -r` writes it."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("utf-8"), self.flag_bits & ~0x800


def test_info_zip_utf8_names_are_read_as_utf8(tmp_path):
    path = tmp_path / "infozip.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for cls, colour in (("café", (200, 10, 10)), ("naïve", (10, 200, 10)), ("日本", (10, 10, 200))):
            for i in range(5):
                archive.writestr(InfoZipInfo(f"{cls}/{i}.png"), png(colour))
    with zipfile.ZipFile(path) as archive:
        assert all(not info.flag_bits & 0x800 for info in archive.infolist())  # really without the flag
    assert import_images(path).classes == ("café", "naïve", "日本")


def test_a_name_typed_two_ways_is_one_class(tmp_path):
    composed, decomposed = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    files = {
        **{f"{composed}/{i}.png": png((200, 10, 10)) for i in range(3)},
        **{f"{decomposed}/{i}b.png": png((200, 10, 10)) for i in range(3)},
        **{f"tea/{i}.png": png((10, 10, 200)) for i in range(6)},
    }
    data = import_images(make_zip(tmp_path / "names.zip", files))
    assert data.classes == (composed, "tea")


def test_a_folder_a_zip_and_a_tar_of_the_same_images_are_the_same_data(tmp_path):
    files = {
        f"{cls}/{i:02d}.png": png(tuple((c + 7 * i) % 256 for c in colour))
        for cls, colour in COLOURS.items()
        for i in range(12)
    }
    names = list(files)
    random.Random(1).shuffle(names)  # archives list members in any order
    zip_path = make_zip(tmp_path / "a.zip", {n: files[n] for n in names})
    random.Random(2).shuffle(names)
    tar_path = make_tar(tmp_path / "a.tar.gz", {n: files[n] for n in names})
    folder = make_folder(tmp_path / "a", files)
    results = [import_images(source) for source in (folder, zip_path, tar_path)]
    for other in results[1:]:
        assert other.classes == results[0].classes
        for key in ("train_images", "train_labels", "test_images", "test_labels"):
            assert torch.equal(getattr(other, key), getattr(results[0], key)), key


# --- pictures read rightly -------------------------------------------------------------------------------
def test_16_bit_pngs_scale_by_their_bit_depth():
    for value, expected in ((65535, 255), (0, 0), (32896, 128), (257 * 40, 40)):
        buffer = io.BytesIO()
        Image.fromarray(np.full((8, 8), value, dtype=np.uint16)).save(buffer, format="PNG")
        image = decode_image(buffer.getvalue(), 8)
        assert image.unique().tolist() == [expected], value  # an all-white picture stays white


def exif_rotated_jpeg() -> bytes:
    """Stored 40 wide by 20 high, red on the left and blue on the right, with the EXIF tag that
    says "turn 90 degrees clockwise to show" (orientation 6): shown, it is red on top."""
    stored = Image.new("RGB", (40, 20), (220, 0, 0))
    stored.paste((0, 0, 220), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def test_exif_orientation_is_applied():
    image = decode_image(exif_rotated_jpeg(), 16).float()
    top, bottom = image[:, :4].mean((1, 2)), image[:, -4:].mean((1, 2))
    assert top[0] > 150 and top[2] < 60  # red on top, as a phone shows it
    assert bottom[2] > 150 and bottom[0] < 60


def test_jfif_files_are_pictures(tmp_path):
    files = {f"{cls}/{i}.jfif": jpeg(colour) for cls, colour in COLOURS.items() for i in range(5)}
    data = import_images(make_zip(tmp_path / "jfif.zip", files))
    assert len(data.train_labels) + len(data.test_labels) == 15 and not data.skipped


def test_links_to_image_files_are_followed_in_a_local_folder(tmp_path):
    """A download cache's layout: names that are links into a folder of blobs."""
    blobs = make_folder(tmp_path / "blobs", {f"{i}": data for i, data in enumerate(class_files(per_class=6).values())})
    root = tmp_path / "snapshot"
    for i, name in enumerate(class_files(per_class=6)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(blobs / str(i))
    (root / "red" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "green" / "elsewhere").symlink_to(blobs, target_is_directory=True)
    data = import_images(root)
    assert data.classes == ("blue", "green", "red")
    assert len(data.train_labels) + len(data.test_labels) == 18
    assert data.skipped["link"] == {"count": 2, "files": ["green/elsewhere", "red/gone.png"]}


def test_links_inside_an_uploaded_archive_stay_refused(tmp_path):
    info = tarfile.TarInfo("red/link.png")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(DataError, match="links are refused"):
        import_images(make_tar(tmp_path / "links.tar.gz", class_files(), extra=[info]))


# --- nothing silent ---------------------------------------------------------------------------------------
def test_macos_clutter_is_ignored_silently_and_everything_else_is_named(tmp_path):
    files = {
        **class_files(per_class=6),
        **{f"__MACOSX/{name.rsplit('/', 1)[0]}/._{name.rsplit('/', 1)[1]}": b"\0\5\26\7" for name in class_files(6)},
        ".DS_Store": b"\0\0\0\1Bud1",
        "red/.DS_Store": b"\0\0\0\1Bud1",
        "red/Thumbs.db": b"\xd0\xcf",
        "red/notes.txt": b"hello",
        "green/.hidden.png": png((1, 2, 3)),
        "blue/broken.jpg": b"\xff\xd8\xff not really",
        "empty/readme.md": b"nothing here",
    }
    data = import_images(make_zip(tmp_path / "mac.zip", files))
    assert data.classes == ("blue", "green", "red")
    assert data.skipped == {
        "not_image": {"count": 2, "files": ["empty/readme.md", "red/notes.txt"]},
        "hidden": {"count": 1, "files": ["green/.hidden.png"]},
        "unreadable": {"count": 1, "files": ["blue/broken.jpg"]},
        "empty_class": {"count": 1, "files": ["empty"]},
    }
    text = " ".join(data.notes)
    assert "MACOSX" not in text and "DS_Store" not in text and "Thumbs" not in text


def test_an_empty_class_folder_is_named(tmp_path):
    root = make_folder(tmp_path / "pics", class_files(per_class=6))
    (root / "owls").mkdir()
    data = import_images(root)
    assert data.skipped["empty_class"] == {"count": 1, "files": ["owls"]}
    assert any("'owls'" in note for note in data.notes)


def test_the_json_carries_the_import_notes_and_skipped_files(tmp_path):
    files = {
        **class_files(per_class=8, prefix="train/"),
        **class_files(per_class=2, prefix="val/"),
        **class_files(per_class=3, prefix="test/"),
        "train/red/notes.txt": b"x",
        "train/green/bad.png": b"not a png",
        "__MACOSX/train/._x": b"\0",
    }
    archive = make_zip(tmp_path / "mine.zip", files)
    out = cli("train", "--dataset", str(archive), "--epochs", "1", "--json", "--no-save", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    facts = result["dataset"]
    assert (facts["train_images"], facts["val_images"], facts["test_images"]) == (24, 6, 9)
    assert result["split"]["val"] == 6
    assert facts["skipped"] == {
        "not_image": {"count": 1, "files": ["train/red/notes.txt"]},
        "unreadable": {"count": 1, "files": ["train/green/bad.png"]},
    }
    assert any("validation folder" in note for note in facts["notes"])
    assert facts["source"].startswith("imported:") and facts["origin"] == str(archive)
    log = cli("train", "--dataset", str(archive), "--epochs", "1", "--no-save", "--data-dir", str(tmp_path))
    assert "Note: 1 file could not be read as a picture and was skipped: 'train/green/bad.png'" in log.stdout


def test_folder_zip_and_tar_train_to_the_same_losses(tmp_path):
    files = {
        f"{cls}/{i:02d}.png": png(tuple((c + 5 * i) % 256 for c in colour))
        for cls, colour in COLOURS.items()
        for i in range(10)
    }
    sources = [
        make_folder(tmp_path / "f", files),
        make_zip(tmp_path / "z.zip", files),
        make_tar(tmp_path / "t.tar.gz", files),
    ]
    losses = []
    for source in sources:
        out = cli(
            "train", "--dataset", str(source), "--epochs", "1", "--json", "--no-save", "--data-dir", str(tmp_path / "d")
        )
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        losses.append((result["val_loss"], result["test_loss"]))
    assert losses[0] == losses[1] == losses[2]


# --- kept imports -------------------------------------------------------------------------------------------
def test_two_archives_with_one_name_are_two_data_sets(tmp_path):
    first = datasets.import_upload(
        make_zip(tmp_path / "a.zip", class_files(per_class=6)).read_bytes(), "pets.zip", folder=tmp_path
    )
    more = {**class_files(per_class=9), **{f"grey/{i}.png": png((128, 128, 128)) for i in range(9)}}
    second = datasets.import_upload(make_zip(tmp_path / "b.zip", more).read_bytes(), "pets.zip", folder=tmp_path)
    assert first.source != second.source
    assert (first.num_classes, second.num_classes) == (3, 4)
    kept = {info.source: info for info in datasets.list_imports(tmp_path)}
    assert set(kept) == {first.source, second.source}
    assert kept[second.source].images == 36 and kept[second.source].origin == "pets.zip"
    # A run names exactly its data: loading by source gives each one back.
    assert datasets.load_dataset(first.source, folder=tmp_path).num_classes == 3
    assert datasets.load_dataset(second.source, folder=tmp_path).num_classes == 4
    assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())  # uploads not kept
    assert datasets.remove_import(first.source, tmp_path)
    with pytest.raises(DataError, match="no longer in the data folder"):
        datasets.load_dataset(first.source, folder=tmp_path)


def test_an_upload_that_is_not_an_archive_is_refused_by_name(tmp_path):
    with pytest.raises(DataError, match=r"not a \.zip"):
        datasets.import_upload(b"hello", "notes.txt", folder=tmp_path)


# --- built-in sets --------------------------------------------------------------------------------------
@pytest.fixture
def mnist_files(monkeypatch):
    files = tuple(
        torchvision_sets.RemoteFile(name, hashlib.md5(data).hexdigest(), None)
        for name, data in (("a.gz", b"aaa"), ("b.gz", b"bbb"), ("c.gz", b"ccc"), ("d.gz", b"ddd"))
    )
    source = torchvision_sets.Source("mnist", "MNIST", ("http://127.0.0.1:9/",), files, "MNIST/raw")
    monkeypatch.setattr(torchvision_sets, "_sources", lambda: {"mnist": source})
    return source


def test_a_placed_file_with_a_wrong_checksum_is_not_ready(mnist_files, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in (("a.gz", b"aaa"), ("b.gz", b"bbb"), ("c.gz", b"ccc"), ("d.gz", b"XXX")):
        (raw / name).write_bytes(data)
    state = torchvision_sets.readiness("mnist", tmp_path)
    assert not state.ready and "d.gz" in state.state and "checksum" in state.state
    (raw / "d.gz").write_bytes(b"ddd")
    os.utime(raw / "d.gz", ns=(1, 1))  # a replaced file is checked again
    assert torchvision_sets.readiness("mnist", tmp_path).ready


def test_three_of_four_placed_files_name_the_missing_one(mnist_files, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in (("a.gz", b"aaa"), ("b.gz", b"bbb"), ("d.gz", b"ddd")):
        (raw / name).write_bytes(data)
    state = torchvision_sets.readiness("mnist", tmp_path)
    assert not state.ready and state.state.endswith("missing c.gz")
    with pytest.raises(DataError) as error:
        torchvision_sets.load("mnist", tmp_path, allow_download=False)
    assert "place c.gz in" in str(error.value) and "a.gz" not in str(error.value)


def noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_odd_files_in_a_folder_are_named_by_what_they_are(tmp_path):
    files = {
        **class_files(per_class=6),
        "red/photo.HEIC": b"\0\0\0\x18ftypheic",
        "green/huge.png": noise_png(),
        "blue/zero.jpg": b"",
    }
    root = make_folder(tmp_path / "pics", files)
    from cnn_core.image_import import ImportLimits

    data = import_images(root, limits=ImportLimits(max_file_bytes=5000))
    assert data.skipped["other_format"] == {"count": 1, "files": ["red/photo.HEIC"]}
    assert data.skipped["unreadable"] == {"count": 1, "files": ["blue/zero.jpg"]}
    assert "green/huge.png" in data.skipped["too_large"]["files"]  # read no further than the limit
    (tmp_path / "empty.zip").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        import_images(tmp_path / "empty.zip")
