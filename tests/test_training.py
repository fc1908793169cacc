"""The trainer: it learns, it repeats itself, it stops when told, and it notices divergence."""

import threading
import time
from pathlib import Path

import pytest
import torch

from cnn_core import training
from cnn_core.errors import ArchitectureError, ConfigError
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.textlog import event_lines
from cnn_core.training import EXPLODED, Trainer

SEED = PRESETS["tutorial"].architecture


def losses(history):
    return [row["train_loss"] for row in history if row["kind"] == "batch"]


def test_overfits_a_small_batch_to_near_zero_loss(tiny_data):
    settings = TrainSettings(train_samples=16, val_samples=0, batch_size=16, epochs=150, test_samples=10)
    result = Trainer(SEED, settings, tiny_data).run()
    assert result.status == "completed"
    epoch_losses = [row["train_loss"] for row in result.history if row["kind"] == "epoch"]
    assert epoch_losses[0] > 1.5  # it started from chance, about ln(10)
    assert epoch_losses[-1] < 0.02


def test_one_epoch_learns_and_reports_in_the_tutorials_shape(tiny_data):
    events = []
    settings = TrainSettings(epochs=1, learning_rate=0.003)
    result = Trainer(SEED, settings, tiny_data, on_event=events.append).run()
    kinds = [e["kind"] for e in events if e["kind"] not in ("loss", "snapshot")]
    assert kinds == ["start"] + ["batch"] * 10 + ["epoch", "end"]
    assert [e["percent"] for e in events if e["kind"] == "batch"][-1] == 100
    # Every batch's loss is kept in the history, and each was also sent live as it happened.
    batches = 15  # 480 training images at batch 32
    kept = [v for e in events if e["kind"] == "batch" for v in e["losses"]]
    live = [e["loss"] for e in events if e["kind"] == "loss"]
    assert len(kept) == batches and kept == live
    assert result.status == "completed" and result.epochs_completed == 1
    assert result.split == {"train": 480, "val": 120, "test": 200, "notes": events[0]["notes"]}
    assert result.test_accuracy > 0.3  # chance is 0.1
    assert result.val_accuracy == next(e for e in reversed(events) if e["kind"] == "epoch")["val_accuracy"]
    assert result.images_per_second > 0 and result.train_seconds > 0
    assert sum(result.test_metrics["confusion_matrix"][i][i] for i in range(10)) == round(200 * result.test_accuracy)


def test_same_seed_same_losses_other_seed_other_losses(tiny_data):
    settings = TrainSettings(epochs=2, augment=True, train_samples=300, val_samples=100)
    first = losses(Trainer(SEED, settings, tiny_data).run().history)
    second = losses(Trainer(SEED, settings, tiny_data).run().history)
    third = losses(Trainer(SEED, settings.replace(seed=43), tiny_data).run().history)
    assert first == second
    assert first != third


@pytest.mark.parametrize(
    "changes",
    [
        {"optimizer": "sgd", "learning_rate": 0.05, "schedule": "onecycle", "label_smoothing": 0.1},
        {"optimizer": "adamw", "weight_decay": 0.05, "augment": True},
    ],
)
def test_other_optimizers_schedules_and_augmentation_train(tiny_data, changes):
    settings = TrainSettings(epochs=2, **changes)
    result = Trainer(PRESETS["tutorial-2conv"].architecture, settings, tiny_data).run()
    assert result.status == "completed"
    batch_losses = losses(result.history)
    assert batch_losses[-1] < batch_losses[0]
    rates = [row["learning_rate"] for row in result.history if row["kind"] == "batch"]
    if changes.get("schedule") == "onecycle":
        assert max(rates) > rates[0] and rates[-1] < max(rates) / 100  # warm up, then anneal
    else:
        assert len(set(rates)) == 1


def test_stop_from_the_event_callback_ends_within_a_batch(tiny_data, tmp_path):
    trainer = None

    def on_event(event):
        if event["kind"] == "batch" and event["batch"] >= 3:
            trainer.stop()

    settings = TrainSettings(epochs=3, batch_size=8)
    trainer = Trainer(SEED, settings, tiny_data, on_event=on_event, store=RunStore(tmp_path))
    result = trainer.run()
    assert result.status == "stopped"
    stopped_at = next(row for row in result.history if row["kind"] == "batch")["step"]
    assert trainer.progress["batch"] == stopped_at  # not one batch more
    assert result.epochs_completed == 0
    run = RunStore(tmp_path).get(result.run_dir.split("/")[-1])
    assert run.status()["status"] == "stopped"
    assert run.has_weights() and run.metrics()["test"]["accuracy"] == result.test_accuracy


def test_stop_from_another_thread(tiny_data):
    trainer = Trainer(SEED, TrainSettings(epochs=200, batch_size=4), tiny_data)
    results = []
    thread = threading.Thread(target=lambda: results.append(trainer.run()))
    thread.start()
    deadline = time.monotonic() + 30
    while trainer.progress.get("status") != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    trainer.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert results[0].status == "stopped"
    assert results[0].test_accuracy is not None


@pytest.mark.parametrize("learning_rate", [1.0, 10.0])
def test_an_explosion_keeps_every_loss_and_marks_where(tiny_data, tmp_path, learning_rate):
    """The demo's explosion draws something: every loss up to the one that exploded is in the
    history (live too), the last batch row says it exploded, and the log names the batch."""
    seen = []
    result = Trainer(
        SEED,
        TrainSettings(learning_rate=learning_rate, epochs=3),
        tiny_data,
        store=RunStore(tmp_path),
        on_event=seen.append,
    ).run()
    assert result.status == "diverged"
    rows = [row for row in result.history if row["kind"] == "batch"]
    assert rows[-1]["exploded"] is True and rows[-1]["losses"]
    assert [v for row in rows for v in row["losses"]] == [e["loss"] for e in seen if e["kind"] == "loss"]
    assert any("The loss exploded at epoch" in line for e in seen for line in event_lines(e))
    saved = RunStore(tmp_path).get(Path(result.run_dir).name).history()
    assert saved == result.history


def test_a_network_stuck_at_chance_says_so_after_an_epoch(tiny_data):
    seen = []
    Trainer(SEED, TrainSettings(learning_rate=1e-7, epochs=1), tiny_data, on_event=seen.append).run()
    epoch = next(e for e in seen if e["kind"] == "epoch")
    assert "not learning" in epoch["note"] and "learning rate between 0.0003 and 0.003" in epoch["note"]
    learned = []
    Trainer(SEED, TrainSettings(learning_rate=0.003, epochs=1), tiny_data, on_event=learned.append).run()
    assert "note" not in next(e for e in learned if e["kind"] == "epoch")


def test_a_huge_learning_rate_is_caught_and_the_last_good_weights_kept(tiny_data, tmp_path):
    settings = TrainSettings(learning_rate=1e6, epochs=3)
    trainer = Trainer(SEED, settings, tiny_data, store=RunStore(tmp_path))
    result = trainer.run()
    assert result.status == "diverged" and result.message == EXPLODED
    assert trainer.progress.get("batch", 0) <= 3  # within a few steps
    model = RunStore(tmp_path).get(result.run_dir.split("/")[-1]).load_model()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # Nothing sane was logged before the explosion, so the kept weights are the starting ones.
    from cnn_core.model import build_model

    start = build_model(SEED, tiny_data.input_shape, 10, tiny_data.mean, tiny_data.std, seed=settings.seed)
    kept, initial = model.state_dict().values(), start.state_dict().values()
    assert all(torch.equal(a, b) for a, b in zip(kept, initial, strict=True))


def test_an_impossible_network_is_refused_before_training(tiny_data):
    from cnn_core.architecture import Architecture, Linear, Pool

    arch = Architecture((Pool(),) * 6 + (Linear(10),))
    with pytest.raises(ArchitectureError, match="layer 6"):
        Trainer(arch, TrainSettings(), tiny_data)


def test_a_batch_that_would_not_fit_in_memory_is_refused(tiny_data, monkeypatch):
    monkeypatch.setattr(training, "available_memory_bytes", lambda: 2**30)
    with pytest.raises(ConfigError) as info:
        Trainer(PRESETS["strong"].architecture, TrainSettings(batch_size=4096), tiny_data)
    assert info.value.field == "batch_size" and "GB" in str(info.value)


@pytest.mark.parametrize("nesterov, momentum, factor", [(False, 0.9, 1.0), (True, 0.9, 1.9), (True, 0.0, 1.0)])
def test_nesterov_momentum_takes_the_look_ahead_step(nesterov, momentum, factor):
    """The first step from a gradient g, worked by hand: plain momentum moves the weight by lr * g;
    Nesterov's looks ahead along the momentum it just built, lr * (g + momentum * g); without
    momentum there is nothing to look along, and it is plain SGD (not an error)."""
    layer = torch.nn.Linear(3, 1, bias=False)
    before = layer.weight.detach().clone()
    settings = TrainSettings(optimizer="sgd", learning_rate=0.1, momentum=momentum, nesterov=nesterov)
    optimizer = training.make_optimizer(layer, settings)
    layer(torch.ones(1, 3)).sum().backward()  # the gradient is 1 for every weight
    optimizer.step()
    assert torch.allclose(before - layer.weight.detach(), torch.full_like(before, 0.1 * factor))
