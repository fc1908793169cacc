"""What each preset is expected to reach, and how long it takes: the recorded benchmark figures.

`python -m cnn_core bench --time-to-accuracy --record` trains every preset and writes what it
measured to FIGURES (a JSON file shipped with the package), per data set: training seconds, test
accuracy, the settings it ran with, and a test accuracy (with test-time flips) after every epoch.
The Train page shows these before a run ("about 1 min 50 s, 81% on this machine") and, after a run
with the same settings, how it compared. This module is the file's one reader and writer.

Figures are kept per data set *kind*: the full CIFAR-10 counts as one data set whether it came from
torchvision's download or the JPEG archive (the same 50,000 + 10,000 pictures in the same classes).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import Dataset, plan_split
from .settings import SETTINGS, TrainSettings
from .storage import atomic_write_json

FIGURES = Path(__file__).with_name("recorded_figures.json")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Settings that do not change what a run computes: a run differing only in these is still comparable.
NOT_COMPARED = frozenset({"logs_per_epoch", "device"})
BUSY = 1.2  # a run this many times the recorded time gets a word on why times move


def data_key(name: str, classes: tuple[str, ...], train_images: int, test_images: int) -> str:
    """The recorded figures' name for a data set: "cifar10" for the full CIFAR-10 however it was
    loaded, else the data set's own name ("sample", "mnist", an import's name)."""
    if tuple(classes) == CIFAR10_CLASSES and train_images == 50_000 and test_images == 10_000:
        return "cifar10"
    return name


def key_of(dataset) -> str:
    """`data_key` of a loaded data set."""
    return data_key(dataset.name, dataset.classes, len(dataset.train_labels), len(dataset.test_labels))


def as_run(settings: TrainSettings, dataset: Dataset) -> dict[str, Any]:
    """The settings as a run on `dataset` uses them: the image counts clamped to what it holds
    (the tutorial's 20,000 training images are 8,000 on the sample), so runs compare as they ran."""
    split = plan_split(dataset, settings)
    sizes = {"train_samples": len(split.train), "val_samples": len(split.val), "test_samples": len(split.test)}
    return {**settings.to_dict(), **sizes}


@dataclass(frozen=True)
class Expected:
    """One preset's recorded run on one data set."""

    preset: str
    data: str
    train_seconds: float
    test_accuracy: float  # as the preset's settings measure it (with flips where test_flip is on)
    epochs: int
    images_per_second: float
    settings: dict[str, Any]
    points: tuple[tuple[int, float, float], ...]  # (epoch, training seconds, test accuracy with flips)
    machine: str = ""  # kept once for the whole file (record's argument)
    measured: str = ""  # the date, YYYY-MM-DD

    @property
    def processor(self) -> str:
        """Where it was measured, without the software versions: "Intel(R) Xeon(R) Processor, 2 CPUs"."""
        return self.machine.split(", torch")[0]

    def differences(self, settings: dict[str, Any]) -> list[str]:
        """The settings in which a run differs from the recorded one (names, in the schema's order)."""
        return [k for k, v in self.settings.items() if k not in NOT_COMPARED and settings.get(k, v) != v]

    def expect(self, settings: dict[str, Any] | None = None) -> str:
        """What to expect, in words; with `settings` (as `as_run` gives them), which of them differ."""
        text = (
            f"about {duration(self.train_seconds)} of training and {100 * self.test_accuracy:.0f}% test accuracy "
            f"(measured on {self.processor})"
        )
        differ = self.differences(settings) if settings is not None else []
        return text + (f" with its own settings (yours differ in {setting_names(differ)})" if differ else "")

    def against(self, settings: dict[str, Any], train_seconds: float, test_accuracy: float) -> str:
        """After a run with `settings` (as `as_run` gives them): how it compared, or why it cannot be."""
        differ = self.differences(settings)
        if differ:
            return f"Not comparable with the recorded run of this starting point: {setting_names(differ)} differ."
        return self.compare(train_seconds, test_accuracy)

    def compare(self, train_seconds: float, test_accuracy: float) -> str:
        """How a finished run with the same settings did against the recorded one, in words."""
        points = 100 * (test_accuracy - self.test_accuracy)
        accuracy = (
            "the same accuracy"
            if abs(points) < 0.05
            else f"{abs(points):.1f} points {'higher' if points > 0 else 'lower'}"
        )
        ratio = train_seconds / self.train_seconds if self.train_seconds > 0 else 1.0
        speed = (
            "in about the same time"
            if abs(ratio - 1) < 0.05
            else f"{100 * abs(ratio - 1):.0f}% {'slower' if ratio > 1 else 'faster'}"
        )
        # A busy machine is the usual reason for a much slower run: say so, or it reads like a fault.
        busy = (
            " Training time moves with what else the machine is doing; the accuracy does not." if ratio >= BUSY else ""
        )
        return (
            f"This run: {100 * test_accuracy:.1f}% in {duration(train_seconds)}; the recorded run: "
            f"{100 * self.test_accuracy:.1f}% in {duration(self.train_seconds)} ({accuracy}, {speed}).{busy}"
        )


def setting_names(names: list[str]) -> str:
    """Settings as the Train page labels them: "epochs, training images"."""
    return ", ".join(SETTINGS[name].label.lower() if name in SETTINGS else name for name in names)


def duration(seconds: float) -> str:
    """20 s, 1 min 55 s, 12 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    return f"{round(seconds / 60)} min"


def load(path: Path | None = None) -> dict[str, dict[str, Expected]]:
    """data key -> preset -> Expected, from `path` (default FIGURES). A missing file is no figures;
    entries that do not read as figures are left out (the page then says nothing rather than
    something wrong)."""
    path = Path(path or FIGURES)
    try:
        stat = path.stat()
    except OSError:
        return {}
    # Read again only when the file changes: the Train page asks on every redraw.
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parse(path: str, mtime_ns: int, size: int) -> dict[str, dict[str, Expected]]:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, dict[str, Expected]] = {}
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        return out
    machine, measured = str(raw.get("machine", "")), str(raw.get("measured", ""))
    for data, presets in raw["data"].items():
        if not isinstance(presets, dict):
            continue
        for preset, entry in presets.items():
            expected = _entry(preset, data, entry, machine, measured)
            if expected is not None:
                out.setdefault(data, {})[preset] = expected
    return out


def _entry(preset: str, data: str, entry: Any, machine: str, measured: str) -> Expected | None:
    try:
        seconds, accuracy = float(entry["train_seconds"]), float(entry["test_accuracy"])
        points = tuple((int(e), float(s), float(a)) for e, s, a in entry.get("points", ()))
        settings = dict(entry["settings"])
        epochs, speed = int(entry["epochs"]), float(entry.get("images_per_second", 0.0))
    except (KeyError, TypeError, ValueError):
        return None
    numbers = (seconds, accuracy, speed, *(x for p in points for x in p[1:]))
    if not all(math.isfinite(x) and x >= 0 for x in numbers) or accuracy > 1:
        return None
    return Expected(preset, data, seconds, accuracy, epochs, speed, settings, points, machine, measured)


def expected(preset: str | None, data: str, path: Path | None = None) -> Expected | None:
    """The recorded figures of `preset` on data set `data`, if there are any."""
    return load(path).get(data, {}).get(preset) if preset else None


def record(entries: list[Expected], machine: str, measured: str, path: Path | None = None) -> None:
    """Write `entries` into the figures file, keeping other data sets' and presets' figures."""
    path = Path(path or FIGURES)
    try:
        raw = json.loads(path.read_text())
        data = raw["data"] if isinstance(raw, dict) and isinstance(raw.get("data"), dict) else {}
    except (OSError, ValueError):
        data = {}
    for e in entries:
        data.setdefault(e.data, {})[e.preset] = {
            "train_seconds": round(e.train_seconds, 1),
            "test_accuracy": round(e.test_accuracy, 4),
            "epochs": e.epochs,
            "images_per_second": round(e.images_per_second),
            "settings": e.settings,
            "points": [[epoch, round(seconds, 1), round(acc, 4)] for epoch, seconds, acc in e.points],
        }
    atomic_write_json(path, {"machine": machine, "measured": measured, "data": data})
