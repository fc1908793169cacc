"""What a training run reports, declared once for the writer (training.py) and every reader.

Events are plain JSON objects, because they travel as JSON lines from a training process, are kept
in a run's history.jsonl, and are drawn by pages. Their keys are declared here as TypedDicts:

    start     once: split sizes, parameter count, device, notes about clamped sizes
    loss      as it happens: one batch's loss (every batch at a demo pace, about a hundred an
              epoch when running free); for live charts, not kept in the history
    batch     every 1/logs_per_epoch of an epoch: every batch's loss since the last report and
              their mean, speed, ETA; and at once when the loss explodes (`exploded`)
    epoch     after each epoch: train loss and accuracy, validation loss and accuracy, and a
              plain note when the network is not learning
    snapshot  before the first batch, at every report and after every epoch (about twice a second
              at a demo pace): the network's guesses for a fixed strip of test pictures and its
              first layer's filters, so a page can show them change as it learns
    end       once: final status and message, validation and test results

`Progress` is the snapshot a page polls between events. Batch and epoch events are the history
rows; `row_problem` is how run_files checks them when it reads them back: keys marked Required are
the ones readers index, and every key present must hold the declared kind of value (None only
where the declaration allows it: JSON has no NaN, so a loss that was not a number is saved as null).
"""

import math
import types
import typing
from typing import Any, Literal, NotRequired, Required, TypedDict

START, LOSS, BATCH, EPOCH, SNAPSHOT, END = "start", "loss", "batch", "epoch", "snapshot", "end"
HISTORY_KINDS = (BATCH, EPOCH)


class StartEvent(TypedDict):
    kind: Literal["start"]
    run_dir: str | None
    epochs: int
    batches_per_epoch: int
    train_images: int
    val_images: int
    test_images: int
    parameters: int
    device: str
    notes: list[str]
    settings: dict


class LossPoint(TypedDict):
    kind: Literal["loss"]
    step: int
    epoch_progress: float
    loss: float | None  # None: not a number


class BatchEvent(TypedDict, total=False):
    kind: Required[Literal["batch"]]
    epoch: Required[int]
    epoch_progress: Required[float]  # in epochs: 1.5 = half way through epoch 2
    train_loss: Required[float | None]  # mean over the batches since the last report; None: not a number
    percent: Required[int]  # of the epoch
    seconds: Required[float]  # since the last report
    batch: int
    batches: int
    step: int
    elapsed: float
    eta: float
    images_per_second: float
    learning_rate: float
    losses: list  # every batch's loss since the last report, in order (None where not a number)
    exploded: bool  # the last of `losses` exploded: the run ends here


class EpochEvent(TypedDict, total=False):
    kind: Required[Literal["epoch"]]
    epoch: Required[int]
    epoch_progress: Required[float]
    complete: bool  # False for an epoch cut short by Stop
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    elapsed: float
    eta: float | None
    images_per_second: float  # of the training steps alone, over the run so far
    epoch_images_per_second: float  # this epoch's training loop, first batch to last, everything included
    note: str  # in plain words, when something is wrong ("the network is not learning: ...")


class Guess(TypedDict):
    index: int  # the picture's index among the data set's test images
    label: int  # its true class
    guess: int  # the class the network gives it now
    confidence: float  # the network's probability for that class


class SnapshotEvent(TypedDict):
    kind: Literal["snapshot"]
    step: int
    epoch_progress: float
    strip: list[Guess]
    filters: list | None  # the first convolution's weights (out, in, k, k) as nested lists; None without one


class EndEvent(TypedDict):
    kind: Literal["end"]
    status: str
    message: str
    # Absent when the run failed before it could be evaluated:
    epochs_completed: NotRequired[int]
    train_seconds: NotRequired[float]
    images_per_second: NotRequired[float]
    val_accuracy: NotRequired[float | None]
    test_loss: NotRequired[float | None]
    test_accuracy: NotRequired[float | None]


class Progress(TypedDict, total=False):
    status: str  # ready, running, or how it ended
    message: str
    epoch: int
    epochs: int
    batch: int
    batches: int
    fraction: float  # of the whole run
    elapsed: float
    eta: float
    images_per_second: float


Event = StartEvent | LossPoint | BatchEvent | EpochEvent | SnapshotEvent | EndEvent
HistoryRow = BatchEvent | EpochEvent
ROWS: dict[str, type] = {BATCH: BatchEvent, EPOCH: EpochEvent}


def _kinds(annotation: Any) -> tuple[type, ...]:
    """The Python types a JSON value may have for an annotation; NoneType where it may be null."""
    origin = typing.get_origin(annotation)
    if origin in (Required, NotRequired):
        return _kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(t for arg in typing.get_args(annotation) for t in _kinds(arg))
    if origin is Literal:
        return (str,)
    return (typing.get_origin(annotation) or annotation,)


_ROW_KINDS = {
    kind: {key: _kinds(hint) for key, hint in typing.get_type_hints(cls, include_extras=True).items()}
    for kind, cls in ROWS.items()
}
_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "text", list: "a list"}


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    if value is None:
        return type(None) in allowed
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int):
        return int in allowed or float in allowed
    if isinstance(value, float):
        return float in allowed and math.isfinite(value)
    return isinstance(value, tuple(t for t in allowed if t is not type(None)))


def row_problem(row: Any) -> str | None:
    """What is wrong with a history row, in words; None when it is a batch or epoch event as declared.
    Keys not declared here (written by another version) are left alone."""
    if not isinstance(row, dict):
        return "it is not an object"
    kind = row.get("kind")
    if kind not in ROWS:
        return f"its kind is {kind!r}, not one of {', '.join(ROWS)}"
    for key, allowed in _ROW_KINDS[kind].items():
        if key in row and not _fits(row[key], allowed):
            return f"{key} is {row[key]!r}, not {_NAMES.get(allowed[0], allowed[0].__name__)}"
    for key in sorted(ROWS[kind].__required_keys__):
        if key not in row:
            return f"it has no {key}"
    return None
