"""The series a run's charts plot, from its history rows (live events or history.jsonl) and, while
it trains, the loss points sent since the last row."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .events import BATCH, EPOCH, LOSS, Event

CLIP_FACTOR = 3.0  # an exploded run's chart shows losses up to this many times its first one


@dataclass(frozen=True)
class Explosion:
    """Where a run's loss exploded: the point to mark on its chart."""

    x: float  # in epochs
    loss: float | None  # None: not a number
    epoch: int
    batch: int


@dataclass
class Curves:
    step_x: list[float] = field(default_factory=list)  # every batch (or every live point), in epochs
    step_loss: list[float | None] = field(default_factory=list)
    batch_x: list[float] = field(default_factory=list)  # in epochs: 1.5 = half way through epoch 2
    batch_loss: list[float] = field(default_factory=list)  # the mean over each report's interval
    epoch_x: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    train_accuracy: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    exploded: Explosion | None = None
    notes: list[str] = field(default_factory=list)  # what the run said about itself ("not learning...")

    def loss_limit(self) -> float | None:
        """Where a chart of an exploded run cuts its loss axis, so the losses before the explosion
        stay readable (the explosion is drawn at the top, marked); None when nothing exploded."""
        if self.exploded is None:
            return None
        finite = [v for v in self.step_loss if v is not None and math.isfinite(v)]
        return CLIP_FACTOR * finite[0] if finite else 1.0


def curves(history: Iterable[Event], live: Iterable[Event] = ()) -> Curves:
    """The curves of `history` (batch and epoch rows; other events are passed over), then the
    live loss points of `live` that come after its last batch row."""
    out = Curves()
    for row in history:
        if row["kind"] == BATCH:
            _add_batch(out, row)
        elif row["kind"] == EPOCH:
            out.epoch_x.append(row["epoch_progress"])
            out.val_loss.append(row.get("val_loss"))
            out.train_accuracy.append(row.get("train_accuracy"))
            out.val_accuracy.append(row.get("val_accuracy"))
            if row.get("note"):
                out.notes.append(row["note"])
    last = out.step_x[-1] if out.step_x else -1.0
    for point in live:
        if point["kind"] == LOSS and point["epoch_progress"] > last:
            out.step_x.append(point["epoch_progress"])
            out.step_loss.append(point["loss"])
    return out


def _add_batch(out: Curves, row: dict) -> None:
    if row["train_loss"] is not None and not row.get("exploded"):
        out.batch_x.append(row["epoch_progress"])
        out.batch_loss.append(row["train_loss"])
    losses = row.get("losses")
    batches, batch = row.get("batches"), row.get("batch")
    if losses and batches and batch:  # every batch of the interval, ending at `batch`
        first = batch - len(losses) + 1
        out.step_x.extend(row["epoch"] - 1 + (first + i) / batches for i in range(len(losses)))
        out.step_loss.extend(losses)
    elif row["train_loss"] is not None:  # a history from before every loss was kept
        out.step_x.append(row["epoch_progress"])
        out.step_loss.append(row["train_loss"])
    if row.get("exploded"):
        last = losses[-1] if losses else None
        out.exploded = Explosion(row["epoch_progress"], last, row["epoch"], batch or 0)


def smooth(values: Sequence[float | None], weight: float) -> list[float | None]:
    """An exponential moving average of `values` as TensorBoard's smoothing slider draws it: each
    point is `weight` times the average so far plus the rest times itself, divided by the weight
    the average has gathered (so the first points are not pulled towards zero). 0 leaves the
    curve as it is; 0.99 nearly flattens it. A missing or non-finite value is kept as it is and
    left out of the average (an exploded loss must still show)."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing must be from 0 to below 1 (got {weight})")
    out: list[float | None] = []
    average, gathered = 0.0, 0.0
    for value in values:
        if value is None or not math.isfinite(value):
            out.append(value)
            continue
        average = weight * average + (1 - weight) * value
        gathered = weight * gathered + (1 - weight)
        out.append(average / gathered)
    return out
