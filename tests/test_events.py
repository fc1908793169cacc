"""The events a run reports are what events.py declares: the writer and every reader share it."""

import typing
from pathlib import Path

import pytest
import torch

from cnn_core import events
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer, strip_indices

DECLARED = {
    events.START: events.StartEvent,
    events.LOSS: events.LossPoint,
    events.BATCH: events.BatchEvent,
    events.EPOCH: events.EpochEvent,
    events.SNAPSHOT: events.SnapshotEvent,
    events.END: events.EndEvent,
}


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    from cnn_core.data import make_synthetic

    data = make_synthetic(train_per_class=30, test_per_class=10, seed=2)
    seen = []
    trainer = Trainer(
        PRESETS["tutorial"].architecture,
        TrainSettings(epochs=2, logs_per_epoch=3),
        data,
        store=RunStore(tmp_path_factory.mktemp("runs")),
        on_event=seen.append,
    )
    result = trainer.run()
    return seen, result


def test_every_event_the_trainer_sends_is_as_declared(reported):
    seen, _ = reported
    kinds = [e["kind"] for e in seen]
    assert kinds[0] == "start" and kinds[-1] == "end" and {"loss", "batch", "epoch"} <= set(kinds)
    for event in seen:
        declared = DECLARED[event["kind"]]
        hints = typing.get_type_hints(declared)
        assert set(event) <= set(hints), f"{event['kind']}: undeclared {set(event) - set(hints)}"
        assert declared.__required_keys__ <= set(event), event["kind"]
        if event["kind"] in events.HISTORY_KINDS:
            assert events.row_problem(event) is None


def test_the_saved_history_reads_back_as_the_events_sent(reported):
    seen, result = reported
    run_dir = Path(result.run_dir)
    saved = RunStore(run_dir.parent).get(run_dir.name).history()
    assert saved == [e for e in seen if e["kind"] in events.HISTORY_KINDS]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"kind": "batch", "epoch": 1, "epoch_progress": 0.5, "percent": 50, "seconds": 0.1}, "no train_loss"),
        ({"kind": "epoch", "epoch": "two", "epoch_progress": 2.0}, "epoch is 'two', not a whole number"),
        ({"kind": "epoch", "epoch": 1, "epoch_progress": 1.0, "complete": "yes"}, "complete is 'yes'"),
        ({"kind": "epoch", "epoch": 1, "epoch_progress": float("inf")}, "epoch_progress is inf"),
        ({"kind": "epoch", "epoch": True, "epoch_progress": 1.0}, "epoch is True"),
        ({"kind": "lesson"}, "its kind is 'lesson'"),
        ([1, 2], "not an object"),
    ],
)
def test_a_row_that_breaks_the_declaration_is_named(row, problem):
    assert problem in events.row_problem(row)


def test_a_loss_that_was_not_a_number_reads_back_as_null():
    row = {"kind": "batch", "epoch": 1, "epoch_progress": 0.5, "percent": 50, "seconds": 0.1, "train_loss": None}
    assert events.row_problem(row) is None
    assert events.row_problem({**row, "epoch": None}) is not None  # the epoch may not be


def test_the_strip_shows_what_the_trained_network_says(tiny_data, tmp_path):
    """The last snapshot's guesses are the saved network's own answers for those pictures (a real
    forward pass as the oracle), one picture of each class first, and the first filters are its weights."""
    seen = []
    result = Trainer(
        PRESETS["tutorial"].architecture,
        TrainSettings(epochs=2, precision="float32"),
        tiny_data,
        store=RunStore(tmp_path),
        on_event=seen.append,
    ).run()
    snapshots = [e for e in seen if e["kind"] == events.SNAPSHOT]
    assert snapshots[0]["step"] == 0 and len(snapshots) >= 2 * 10  # the untrained network, then every report
    last = snapshots[-1]
    model = RunStore(tmp_path).get(Path(result.run_dir).name).load_model().eval()
    strip = last["strip"]
    assert len(strip) == 10 and sorted(g["label"] for g in strip) == list(range(10))
    with torch.no_grad():
        probabilities = model(tiny_data.test_images[[g["index"] for g in strip]].float() / 255).softmax(1)
    assert [g["guess"] for g in strip] == probabilities.argmax(1).tolist()
    assert [g["confidence"] for g in strip] == pytest.approx(probabilities.max(1).values.tolist(), abs=1e-5)
    assert torch.allclose(torch.tensor(last["filters"]), model.layers[0].weight, atol=1e-6)


def test_strip_indices_take_one_of_each_class_before_a_second():
    labels = torch.tensor([0, 0, 1, 2, 2, 1, 0])
    assert strip_indices(labels, 5, 3).tolist() == [0, 2, 3, 1, 5]
