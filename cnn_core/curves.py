"""The series a run's charts plot, from its history rows (live events or history.jsonl)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import BATCH, EPOCH, HistoryRow


@dataclass
class Curves:
    batch_x: list[float] = field(default_factory=list)  # in epochs: 1.5 = half way through epoch 2
    batch_loss: list[float] = field(default_factory=list)
    epoch_x: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    train_accuracy: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)


def curves(history: list[HistoryRow]) -> Curves:
    out = Curves()
    for row in history:
        if row["kind"] == BATCH and row["train_loss"] is not None:
            out.batch_x.append(row["epoch_progress"])
            out.batch_loss.append(row["train_loss"])
        elif row["kind"] == EPOCH:
            out.epoch_x.append(row["epoch_progress"])
            out.val_loss.append(row.get("val_loss"))
            out.train_accuracy.append(row.get("train_accuracy"))
            out.val_accuracy.append(row.get("val_accuracy"))
    return out
