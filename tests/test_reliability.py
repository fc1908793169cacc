"""Bad input gets a clear answer and nothing is lost: the cases of docs/reliability.md not
covered next to the feature they guard (those are named in that document)."""

import io
import os
import pickle
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli
from PIL import Image

from cnn_core.data import Dataset
from cnn_core.errors import DataError, RunStoreError
from cnn_core.image_import import decode_image
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import EXPLODED, Trainer

ROOT = Path(__file__).resolve().parent.parent


class _Exploit:
    """Unpickling this runs a shell command: exactly what a weights file must never be able to do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def two_runs(tiny_data, tmp_path):
    store = RunStore(tmp_path / "runs")
    settings = TrainSettings(epochs=1, train_samples=100, val_samples=20, test_samples=50)
    ids = [
        Path(Trainer(PRESETS["tutorial"].architecture, settings, tiny_data, store=store).run().run_dir).name
        for _ in range(2)
    ]
    return store, ids


def test_a_pickle_posing_as_weights_is_refused_and_never_run(two_runs, tmp_path):
    store, (bad, good) = two_runs
    marker = tmp_path / "the-code-ran"
    weights = store.get(bad).path / "weights.safetensors"
    for payload in (pickle.dumps(_Exploit(marker)), _torch_save_bytes(_Exploit(marker))):
        weights.write_bytes(payload)
        with pytest.raises(RunStoreError, match="not a weights file"):
            store.get(bad).load_model()
        assert not marker.exists()
    assert store.get(good).load_model() is not None


def _torch_save_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save({"weights": obj}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("damage", [b"", b"\x00" * 100, os.urandom(5000), "truncate"])
def test_damaged_weights_are_named_and_every_other_run_still_works(two_runs, damage):
    store, (bad, good) = two_runs
    weights = store.get(bad).path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:200] if damage == "truncate" else damage)
    with pytest.raises(RunStoreError, match="this run's weights are damaged"):
        store.get(bad).load_model()
    assert {info.id for info in store.list()} == {bad, good}
    assert store.get(good).load_model() is not None


def test_data_that_normalises_to_infinity_stops_as_diverged(tiny_data, tmp_path):
    broken = Dataset(
        "broken",
        tiny_data.classes,
        tiny_data.train_images,
        tiny_data.train_labels,
        tiny_data.test_images,
        tiny_data.test_labels,
        mean=(0.5, 0.5, 0.5),
        std=(0.0, 0.0, 0.0),
    )
    trainer = Trainer(PRESETS["tutorial"].architecture, TrainSettings(epochs=2), broken, store=RunStore(tmp_path))
    result = trainer.run()
    assert result.status == "diverged" and result.message == EXPLODED
    assert trainer.progress.get("batch", 1) <= 3
    assert RunStore(tmp_path).list()[0].status == "diverged"


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image", "fmt", "expected"),
    [
        (Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),  # CMYK red
        (Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16)), "PNG", None),  # 16-bit grey
        (Image.new("P", (10, 10), 0), "GIF", None),  # palette
        (Image.new("RGBA", (8, 8), (0, 0, 255, 0)), "PNG", (255, 255, 255)),  # fully transparent: white
        (Image.new("L", (12, 12), 200), "PNG", (200, 200, 200)),  # grey
        (Image.new("RGB", (1, 1), (10, 200, 30)), "PNG", (10, 200, 30)),  # one pixel
    ],
)
def test_odd_images_become_rgb_at_the_input_size(image, fmt, expected):
    pixels = decode_image(_encoded(image, fmt), 32)
    assert pixels.shape == (3, 32, 32) and pixels.dtype == torch.uint8
    if expected is not None:
        assert (pixels.float().mean(dim=(1, 2)) - torch.tensor(expected, dtype=torch.float32)).abs().max() < 12


def test_non_image_bytes_named_png_are_refused_with_a_message():
    with pytest.raises(DataError, match="not an image this app can read"):
        decode_image(b"<html>definitely not a picture</html>", 32)


def test_an_unknown_key_in_an_imported_architecture_exits_2_naming_it(tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text('{"layers": [{"type": "linear", "out_features": 10}], "colour": "blue"}')
    out = cli("train", "--arch", str(arch), "--dry-run", timeout=120)
    assert out.returncode == 2 and "colour" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_server_settings_are_safe_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["enableXsrfProtection"] is True
    assert 0 < config["server"]["maxUploadSize"] <= 1024
    assert config["client"]["showErrorDetails"] == "none"
    assert "--server.address 0.0.0.0" in (ROOT / "README.md").read_text()  # how to share, said once
