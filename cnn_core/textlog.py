"""The training log in the tutorial's shape, as lines of text.

The command line prints these lines and the app shows the same lines in an expander, so the log a
reader of the tutorial knows looks the same everywhere:

    ===== HYPERPARAMETERS =====
    batch_size= 32
    ...
    Epoch 1, 10%     train_loss: 2.05 took: 0.35s
    Validation loss = 1.62, accuracy = 42.30%
    Training finished, took 25.12s
"""

from __future__ import annotations

from typing import Any

from .events import BATCH, END, EPOCH, START, Event
from .settings import TrainSettings


def header_lines(settings: TrainSettings, info: dict[str, Any]) -> list[str]:
    """The hyperparameters block, then what data and network this run uses."""
    lines = ["===== HYPERPARAMETERS ====="]
    lines += [f"{name}= {value}" for name, value in settings.to_dict().items()]
    lines.append("=" * 30)
    if info:
        lines.append(
            f"Data: {info['dataset']}, {info['train_images']:,} training / {info['val_images']:,} validation / "
            f"{info['test_images']:,} test images"
        )
        lines.append(f"Network: {info['network']}, {info['parameters']:,} parameters, on {info['device']}")
    return lines


def event_lines(event: Event) -> list[str]:
    """Text for one trainer event (none for events the tutorial's log has no line for)."""
    kind = event["kind"]
    if kind == START:
        return [f"Note: {note}" for note in event.get("notes", [])]
    if kind == BATCH:
        loss = "not a number" if event["train_loss"] is None else f"{event['train_loss']:.2f}"
        lines = [f"Epoch {event['epoch']}, {event['percent']:d}% \t train_loss: {loss} took: {event['seconds']:.2f}s"]
        if event.get("exploded"):
            last = (event.get("losses") or [None])[-1]
            value = "not a number" if last is None else f"{last:.3g}"
            lines.append(f"The loss exploded at epoch {event['epoch']}, batch {event.get('batch', '?')} (loss {value})")
        return lines
    if kind == EPOCH:
        if event.get("val_loss") is None:
            text = "Validation skipped (no validation images)"
        else:
            text = f"Validation loss = {event['val_loss']:.2f}, accuracy = {100 * event['val_accuracy']:.2f}%"
        lines = [text + ("" if event.get("complete", True) else " (epoch cut short)")]
        return lines + ([f"Note: {event['note']}"] if event.get("note") else [])
    if kind == END:
        lines = []
        if event["status"] != "completed":
            lines.append(f"Run {event['status']}: {event['message']}")
        if "train_seconds" in event:
            lines.append(
                f"Training finished, took {event['train_seconds']:.2f}s "
                f"({event.get('images_per_second', 0):,.0f} images/s)"
            )
        if event.get("test_accuracy") is not None:
            lines.append(f"Test accuracy = {100 * event['test_accuracy']:.2f}% (test loss {event['test_loss']:.2f})")
        return lines
    return []
