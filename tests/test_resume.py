"""A run cut off mid-way resumes from its last epoch checkpoint and ends where it would have."""

import json
from pathlib import Path

import pytest
from conftest import cli, train_then_kill

from cnn_core.errors import RunStoreError
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer

ROOT = Path(__file__).resolve().parent.parent


def batch_losses(history):
    return [(row["epoch"], row["batch"], row["train_loss"]) for row in history if row["kind"] == "batch"]


@pytest.mark.parametrize(("preset", "augment"), [("tutorial", True), ("tutorial", False), ("tutorial-2conv", True)])
def test_stopped_then_resumed_equals_uninterrupted(tiny_data, tmp_path, preset, augment):
    settings = TrainSettings(epochs=3, augment=augment, schedule="onecycle", optimizer="sgd", learning_rate=0.05)
    arch = PRESETS[preset].architecture
    whole = Trainer(arch, settings, tiny_data, store=RunStore(tmp_path / "a")).run()

    trainer = None

    def stop_in_epoch_two(event):
        if event["kind"] == "batch" and event["epoch"] == 2 and event["batch"] >= 5:
            trainer.stop()

    store = RunStore(tmp_path / "b")
    trainer = Trainer(arch, settings, tiny_data, store=store, on_event=stop_in_epoch_two)
    cut = trainer.run()
    assert cut.status == "stopped" and cut.epochs_completed == 1
    run = store.get(Path(cut.run_dir).name)
    resumed = Trainer.resume(run, tiny_data).run()
    assert resumed.status == "completed" and resumed.epochs_completed == 3
    history = run.history()
    assert batch_losses(history) == pytest.approx(batch_losses(whole.history))  # same steps, no row twice
    assert [row["epoch"] for row in history if row["kind"] == "epoch"] == [1, 2, 3]
    assert resumed.test_accuracy == pytest.approx(whole.test_accuracy)
    assert store.list()[0].status == "completed"


def test_a_killed_command_line_run_resumes_from_the_command_line(tmp_path):
    runs_dir = tmp_path / "runs"
    train_then_kill(
        ["--epochs", "4", "--dataset", "synthetic", "--batch-size", "8"],
        runs_dir,
        lambda run: run.has_checkpoint() and len(run.history()) > 14,
    )  # into epoch 2
    (info,) = RunStore(runs_dir).list()
    assert info.status == "interrupted"
    out = cli("train", "--resume", info.id, "--runs-dir", str(runs_dir), "--json", timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "completed" and result["epochs_completed"] == 4
    history = RunStore(runs_dir).get(info.id).history()
    keys = [(row["kind"], row["epoch"], row.get("batch")) for row in history]
    assert len(keys) == len(set(keys))  # no duplicated rows
    assert [row["epoch"] for row in history if row["kind"] == "epoch"] == [1, 2, 3, 4]


def test_a_run_without_a_checkpoint_or_on_other_data_is_refused(tiny_data, tmp_path):
    trainer = None

    def stop_at_once(event):
        trainer.stop()

    store = RunStore(tmp_path)
    trainer = Trainer(
        PRESETS["tutorial"].architecture, TrainSettings(epochs=2), tiny_data, store=store, on_event=stop_at_once
    )
    result = trainer.run()
    run = store.get(Path(result.run_dir).name)
    with pytest.raises(RunStoreError, match="no checkpoint"):
        Trainer.resume(run, tiny_data)
    from cnn_core.data import make_synthetic

    with pytest.raises(RunStoreError, match="load that data set"):
        Trainer.resume(run, make_synthetic(train_per_class=10, test_per_class=5))
