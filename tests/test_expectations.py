"""The recorded figures the Train page quotes: written atomically, read back the same, a damaged
or odd file never breaks the page, runs are compared in words, and the time-to-accuracy bench
tests after every epoch without counting that time as training."""

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core import bench, expectations
from cnn_core.expectations import Expected, data_key, duration
from cnn_core.presets import PRESETS
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer


def _entry(preset="quick", data="cifar10", seconds=99.0, accuracy=0.806, **settings):
    return Expected(
        preset=preset,
        data=data,
        train_seconds=seconds,
        test_accuracy=accuracy,
        epochs=4,
        images_per_second=2030.0,
        settings={**PRESETS[preset].settings.to_dict(), **settings},
        points=((1, 25.0, 0.55), (4, seconds, accuracy)),
        machine="",
        measured="",
    )


def test_recorded_figures_read_back_and_other_data_sets_are_kept(tmp_path):
    path = tmp_path / "figures.json"
    expectations.record([_entry(data="sample", seconds=20.0, accuracy=0.6)], "cpu A", "2026-12-01", path)
    expectations.record([_entry(), _entry("strong", seconds=500.0, accuracy=0.9)], "cpu B", "2026-12-02", path)
    got = expectations.load(path)
    assert set(got) == {"sample", "cifar10"} and set(got["cifar10"]) == {"quick", "strong"}
    quick = expectations.expected("quick", "cifar10", path)
    assert (quick.train_seconds, quick.test_accuracy, quick.points[-1]) == (99.0, 0.806, (4, 99.0, 0.806))
    assert quick.settings == PRESETS["quick"].settings.to_dict() and quick.machine == "cpu B"
    assert expectations.expected("quick", "sample", path).test_accuracy == 0.6
    assert expectations.expected("tutorial", "cifar10", path) is None
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_the_shipped_figures_cover_every_preset_on_cifar10_and_the_sample():
    """Every preset has figures, recorded with the settings it has now (as they ran on the data)."""
    from cnn_core.datasets import load_dataset

    figures, sample = expectations.load(), load_dataset("sample")
    for data in ("cifar10", "sample"):
        assert set(figures[data]) == set(bench.TIME_TO_ACCURACY_PRESETS), data
        for name, e in figures[data].items():
            settings = PRESETS[name].settings
            now = expectations.as_run(settings, sample) if data == "sample" else settings.to_dict()
            assert e.differences(now) == [], f"{name} on {data}: recorded with other settings; run the bench again"
            assert e.points and e.points[-1][0] == e.epochs


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=5),
            lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
            max_leaves=20,
        ).map(json.dumps),
    )
)
def test_a_damaged_or_strange_figures_file_reads_as_no_figures_never_an_error(text):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "figures.json"
        path.write_text(text)
        got = expectations.load(path)
        assert all(isinstance(e, Expected) for presets in got.values() for e in presets.values())


def test_impossible_numbers_are_left_out(tmp_path):
    path = tmp_path / "figures.json"
    expectations.record([_entry(), _entry("strong")], "", "", path)
    raw = json.loads(path.read_text())
    raw["data"]["cifar10"]["quick"]["test_accuracy"] = 1.5
    raw["data"]["cifar10"]["strong"]["train_seconds"] = -3
    path.write_text(json.dumps(raw))
    assert expectations.load(path) == {}


def test_a_run_is_compared_in_words_and_only_with_the_same_settings():
    e = _entry(seconds=100.0, accuracy=0.80)
    assert e.compare(110.0, 0.812) == (
        "This run: 81.2% in 1 min 50 s; the recorded run: 80.0% in 1 min 40 s (1.2 points higher, 10% slower)."
    )
    assert "the same accuracy, in about the same time" in e.compare(101.0, 0.8001)
    assert "what else the machine is doing" not in e.compare(110.0, 0.812)
    slow = e.compare(125.0, 0.80)  # the same run in a busy minute: why, not a fault
    assert "25% slower" in slow and "what else the machine is doing; the accuracy does not" in slow
    mine = PRESETS["quick"].settings.replace(epochs=6, logs_per_epoch=3).to_dict()
    assert e.differences(mine) == ["epochs"]  # how often it reports does not change what it learns
    assert e.differences(PRESETS["quick"].settings.to_dict()) == []


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (0.4, 42, 60, 119.6, 545, 600, 1250)] == [
        "0 s", "42 s", "1 min", "2 min", "9 min 5 s", "10 min", "21 min",
    ]  # fmt: skip


def test_the_full_cifar10_is_one_data_set_however_it_was_loaded():
    classes = expectations.CIFAR10_CLASSES
    assert data_key("cifar10", classes, 50_000, 10_000) == data_key("cifar10-jpeg", classes, 50_000, 10_000)
    assert data_key("cifar10-jpeg", classes, 50_000, 10_000) == "cifar10"
    assert data_key("sample", classes, 10_000, 2_000) == "sample"


def test_the_bench_tests_after_every_epoch_off_the_clock(tiny_data):
    """A slow test between epochs (here: half a second) is not training time."""
    settings = TrainSettings(epochs=3, batch_size=64, train_samples=500, val_samples=0, test_samples=100)
    seen = []

    def slow_test(epoch, seconds, net):
        seen.append((epoch, seconds))
        time.sleep(0.5)

    result = Trainer(PRESETS["tutorial"].architecture, settings, tiny_data, between_epochs=slow_test).run()
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert seen[0][1] < seen[1][1] < seen[2][1] <= result.train_seconds
    alone = Trainer(PRESETS["tutorial"].architecture, settings, tiny_data).run().train_seconds
    assert result.train_seconds < alone + 0.5  # 1.5 s of testing would show; the machine's noise does not


def test_time_to_accuracy_gives_a_point_per_epoch_for_each_preset(tiny_data, monkeypatch):
    small = PRESETS["tutorial"].settings.replace(epochs=2, train_samples=400, val_samples=100, test_samples=100)
    monkeypatch.setitem(
        PRESETS, "tutorial", PRESETS["tutorial"].__class__(**{**vars(PRESETS["tutorial"]), "settings": small})
    )
    lines = []
    (entry,) = bench.time_to_accuracy(tiny_data, ("tutorial",), report=lines.append)
    assert [p[0] for p in entry.points] == [1, 2] and entry.epochs == 2
    assert entry.points[-1][1] <= entry.train_seconds
    assert 0 <= entry.points[-1][2] <= 1 and entry.settings == small.to_dict()
    assert len(lines) == 3 and "epoch   2" in lines[1] and "test accuracy" in lines[2]
    assert "| tutorial | 2 |" in bench.time_to_accuracy_table([entry])
