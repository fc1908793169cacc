"""The run store: round trips, interrupted runs, atomic writes, refusals of bad weights."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import train_then_kill

from cnn_core import storage
from cnn_core.errors import RunStoreError
from cnn_core.presets import PRESETS
from cnn_core.run_files import read_history
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer, evaluate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def finished(tiny_data, tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    first = Trainer(
        PRESETS["tutorial"].architecture, TrainSettings(epochs=1), tiny_data, store=store, preset="tutorial"
    ).run()
    second = Trainer(
        PRESETS["tutorial"].architecture,
        TrainSettings(epochs=1, learning_rate=0.003),
        tiny_data,
        store=store,
        preset="tutorial",
    ).run()
    return store, first, second


def test_a_run_round_trips(finished, tiny_data):
    store, result, _ = finished
    run = store.get(Path(result.run_dir).name)
    config = run.config()
    assert config["settings"] == TrainSettings(epochs=1).to_dict()
    assert config["architecture"] == PRESETS["tutorial"].architecture.to_dict()
    # Pages reach a run's files by role, never by name.
    assert run.weights_path.is_file() and run.weights_stamp() == run.weights_path.stat().st_mtime
    assert run.dataset_source() == tiny_data.name and run.config_path.read_bytes().startswith(b"{")
    history = run.history()
    assert [row["kind"] for row in history] == ["batch"] * 10 + ["epoch"]
    assert history == [{**row} for row in result.history]
    # The saved weights reproduce the reported test accuracy exactly.
    model = run.load_model()
    test_idx = run.load_predictions()["test_indices"]
    dtype = getattr(torch, config["precision"])  # evaluate the way the run did (bfloat16 where available)
    _, acc, probs = evaluate(model, tiny_data.test_images[test_idx], tiny_data.test_labels[test_idx], dtype)
    assert acc == result.test_accuracy == run.metrics()["test"]["accuracy"]
    assert torch.allclose(probs.half().float(), run.load_predictions()["test_probabilities"].float(), atol=1e-3)


def test_list_is_newest_first_and_compare_names_the_difference(finished):
    store, first, second = finished
    infos = store.list()
    assert [info.id for info in infos[:2]] == [Path(second.run_dir).name, Path(first.run_dir).name]
    assert infos[0].status == "completed" and infos[0].test_accuracy == second.test_accuracy
    comparison = store.compare([info.id for info in infos[:2]])
    assert set(comparison["differences"]) == {"settings.learning_rate"}
    assert comparison["changes"] == {infos[1].id: ["learning rate 0.003 -> 0.001"]}  # from the first one picked
    assert len(comparison["histories"]) == 2


def test_delete_removes_only_that_run(tiny_data, tmp_path):
    store = RunStore(tmp_path)
    keep = Trainer(
        PRESETS["tutorial"].architecture,
        TrainSettings(epochs=1, train_samples=64, val_samples=16),
        tiny_data,
        store=store,
    ).run()
    gone = Trainer(
        PRESETS["tutorial"].architecture,
        TrainSettings(epochs=1, train_samples=64, val_samples=16),
        tiny_data,
        store=store,
    ).run()
    store.delete(Path(gone.run_dir).name)
    assert [info.id for info in store.list()] == [Path(keep.run_dir).name]
    with pytest.raises(RunStoreError, match="no run"):
        store.get(Path(gone.run_dir).name)
    with pytest.raises(RunStoreError, match="not a run name"):
        store.get("../etc")


def test_a_killed_training_lists_as_interrupted_with_its_history(tmp_path):
    runs_dir = tmp_path / "runs"
    train_then_kill(["--epochs", "200"], runs_dir, lambda run: len(run.history()) >= 12)  # past epoch 1
    (info,) = RunStore(runs_dir).list()
    assert info.status == "interrupted"
    history = RunStore(runs_dir).get(info.id).history()
    assert len(history) >= 12
    assert info.epochs_completed >= 1


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    storage.atomic_write_json(target, {"accuracy": 0.5})

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        storage.atomic_write_json(target, {"accuracy": 0.9})
    assert json.loads(target.read_text()) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_torn_history_line_is_skipped(tmp_path):
    path = tmp_path / "history.jsonl"
    row = {"kind": "batch", "epoch": 1, "epoch_progress": 0.5, "percent": 50, "seconds": 0.1}
    storage.append_jsonl(path, [{**row, "train_loss": 1.0}, {**row, "train_loss": float("nan")}])
    with open(path, "a") as f:
        f.write('{"kind": "batch", "train_lo')  # the writer was killed here
    assert read_history(path) == [{**row, "train_loss": 1.0}, {**row, "train_loss": None}]  # NaN is saved as null


def test_damaged_or_foreign_weights_are_refused_by_name(finished, tmp_path):
    store, result, _ = finished
    run = store.get(Path(result.run_dir).name)
    good = (run.path / "weights.safetensors").read_bytes()
    try:
        (run.path / "weights.safetensors").write_bytes(good[: len(good) // 2])
        with pytest.raises(RunStoreError, match="weights are damaged"):
            run.load_model()
        from safetensors.torch import save

        other = PRESETS["tutorial-2conv"].architecture
        from cnn_core.model import build_model

        (run.path / "weights.safetensors").write_bytes(save(build_model(other).state_dict()))
        with pytest.raises(RunStoreError, match="different network"):
            run.load_model()
        wrong_classes = build_model(PRESETS["tutorial"].architecture.with_num_classes(5), num_classes=5)
        (run.path / "weights.safetensors").write_bytes(save(wrong_classes.state_dict()))
        with pytest.raises(RunStoreError, match="different number of classes"):
            run.load_model()
    finally:
        (run.path / "weights.safetensors").write_bytes(good)
    assert run.load_model() is not None


def test_a_killed_but_uncollected_process_counts_as_gone():
    from cnn_core.runs import _alive, _process_started

    proc = subprocess.Popen(["sleep", "30"])
    started = _process_started(proc.pid)
    assert _alive(proc.pid, started)
    proc.kill()
    time.sleep(0.3)  # dead, but not yet waited for: a zombie
    try:
        assert not _alive(proc.pid, started)
    finally:
        proc.wait()
    assert not _alive(proc.pid, started)
