"""What a run's curves mean, in plain words, with the evidence quoted from the run and one change
to try.

`diagnose(history, settings, classes)` reads a run's history rows (live events or history.jsonl)
and names what it sees: the network stuck at chance, a learning rate too high (the loss exploded
or swings up), overfitting (validation loss rising while training loss falls), a learning rate
too low (a slow steady fall), underfitting (both losses high and flat), or stopped too early
(still improving at the last epoch). Each `Diagnosis` quotes its numbers and carries exactly one
`Change`, a setting (or a network knob) with its new value, which the pages offer as "Try this".

The trainer also asks `not_learning` after every epoch, so a run stuck at chance says so while it
runs instead of "completing" at 10%.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .architecture import Architecture
from .events import BATCH, EPOCH, Event
from .settings import SETTINGS, TrainSettings

CHANCE_MARGIN = 1.2  # accuracy up to this many times chance counts as chance
# Learning rates that train the presets on CIFAR-sized data, by optimizer (the tutorial: Adam 0.001).
GOOD_LEARNING_RATES = {"adam": (3e-4, 3e-3), "adamw": (3e-4, 3e-3), "sgd": (3e-3, 0.1)}
RISE = 0.05  # validation loss this much above its best counts as rising
STILL_FALLING = 0.02  # a last epoch that lowered the loss by this share: still improving
FLAT = 0.01  # a last epoch that lowered the training loss by less than this share: flat
HIGH_LOSS = 0.6  # a training loss above this share of a guess's (ln classes) counts as high
SWINGS = 2  # epochs whose training loss went up: the steps are too big


@dataclass(frozen=True)
class Change:
    """One setting to change, for "Try this": a TrainSettings field or a sweeps network knob."""

    name: str
    before: Any
    after: Any

    def apply(self, architecture: Architecture, settings: TrainSettings) -> tuple[Architecture, TrainSettings]:
        """The network and settings with this one change made."""
        if self.name == "conv_width":
            from .sweeps import with_knobs

            return with_knobs(architecture, conv_width=self.after / self.before), settings
        return architecture, settings.replace(**{self.name: self.after})

    def words(self) -> str:
        """ "learning rate 0.01 -> 0.001", "augment off -> on", "conv width x1 -> x2"."""
        if self.name == "conv_width":
            return f"filters per convolution x{self.before:g} -> x{self.after:g}"
        setting = SETTINGS[self.name]
        return f"{setting.label.lower()} {setting.show(self.before)} -> {setting.show(self.after)}"


@dataclass(frozen=True)
class Diagnosis:
    kind: str  # chance, too_high, overfitting, too_low, underfitting, too_early
    title: str  # "Overfitting"
    evidence: str  # quoted from the run
    advice: str  # what the change does, in words
    change: Change


@dataclass(frozen=True)
class _Epoch:
    epoch: int
    train_loss: float
    val_loss: float | None
    accuracy: float  # validation accuracy, else training accuracy


def _epochs(history: Iterable[Event]) -> tuple[list[_Epoch], bool, int | None]:
    """The completed epochs, whether the loss exploded, and the epoch it exploded in."""
    rows, exploded, where = [], False, None
    for row in history:
        if row["kind"] == EPOCH and row.get("complete", True) and _finite(row.get("train_loss")):
            accuracy = row.get("val_accuracy") if row.get("val_accuracy") is not None else row.get("train_accuracy")
            val = row.get("val_loss") if _finite(row.get("val_loss")) else None
            rows.append(_Epoch(row["epoch"], row["train_loss"], val, accuracy or 0.0))
        elif row["kind"] == BATCH and row.get("exploded"):
            exploded, where = True, row["epoch"]
    return rows, exploded, where


def diagnose(history: Iterable[Event], settings: TrainSettings, classes: int) -> list[Diagnosis]:
    """What the run's curves show, most important first (at most one per kind); [] for a healthy run
    or one too short to judge."""
    epochs, exploded, where = _epochs(history)
    lr, optimizer = settings.learning_rate, settings.optimizer
    low, high = GOOD_LEARNING_RATES.get(optimizer, GOOD_LEARNING_RATES["adam"])
    found: list[Diagnosis] = []
    tenth = Change("learning_rate", lr, _round(lr / 10))
    if exploded:
        found.append(Diagnosis(
            "too_high", "Learning rate too high",
            f"the loss exploded in epoch {where} at learning rate {lr:g}",
            "smaller steps keep the loss under control: a tenth of the learning rate", tenth))  # fmt: skip
        return found
    if not epochs:
        return found
    last, guess = epochs[-1], math.log(classes) if classes > 1 else 1.0
    if (note := not_learning(last.accuracy, last.train_loss, classes, settings)) is not None:
        if low <= lr <= high:  # a rate that usually trains: smaller steps may still get it moving
            advice, change = "smaller steps: a tenth of the learning rate (or check the layers on Architecture)", tenth
        else:  # the middle of the range that trains, on a log scale
            advice = f"a learning rate in the range that trains with {SETTINGS['optimizer'].show(optimizer)}"
            change = Change("learning_rate", lr, _round(math.sqrt(low * high)))
        found.append(
            Diagnosis("chance", "Stuck at chance", note[len("the network is not learning: ") :], advice, change)
        )
        return found
    rises = [(a, b) for a, b in itertools.pairwise(epochs) if b.train_loss > a.train_loss * (1 + RISE)]
    if len(rises) >= SWINGS or (rises and lr > high):
        a, b = rises[0]
        found.append(Diagnosis(
            "too_high", "Learning rate too high",
            f"the training loss went up {len(rises)} time{'s' if len(rises) > 1 else ''}, first from "
            f"{a.train_loss:.2f} at epoch {a.epoch} to {b.train_loss:.2f} at epoch {b.epoch}",
            "smaller steps: a tenth of the learning rate", tenth))  # fmt: skip
    vals = [e for e in epochs if e.val_loss is not None]
    if len(vals) >= 3:
        best = min(vals, key=lambda e: e.val_loss)
        end = vals[-1]
        if best is not end and end.val_loss > best.val_loss * (1 + RISE) and end.train_loss < best.train_loss:
            found.append(Diagnosis(
                "overfitting", "Overfitting",
                f"validation loss rose from {best.val_loss:.2f} at epoch {best.epoch} to {end.val_loss:.2f} at "
                f"epoch {end.epoch} while training loss kept falling ({best.train_loss:.2f} -> {end.train_loss:.2f})",
                *_against_overfitting(settings, best.epoch)))  # fmt: skip
    if len(epochs) >= 2 and not any(d.kind == "overfitting" for d in found):
        before = epochs[-2]
        fell = (before.train_loss - last.train_loss) / max(before.train_loss, 1e-12)
        watched = (vals[-2].val_loss, vals[-1].val_loss, "validation") if len(vals) >= 2 else (
            before.train_loss, last.train_loss, "training")  # fmt: skip
        still = (watched[0] - watched[1]) / max(watched[0], 1e-12)
        high_loss = last.train_loss > HIGH_LOSS * guess
        if high_loss and still > STILL_FALLING and lr < low:
            found.append(Diagnosis(
                "too_low", "Learning rate too low",
                f"the {watched[2]} loss is still falling slowly and steadily ({watched[0]:.2f} -> {watched[1]:.2f} in "
                f"the last epoch) and is still {last.train_loss / guess:.0%} of a guess's after {last.epoch} epochs "
                f"at learning rate {lr:g}",
                "bigger steps: ten times the learning rate", Change("learning_rate", lr, _round(lr * 10))))  # fmt: skip
        elif high_loss and fell < FLAT:
            found.append(Diagnosis(
                "underfitting", "Underfitting",
                f"the training loss is high and flat: {before.train_loss:.2f} -> {last.train_loss:.2f} in the last "
                f"epoch, {last.train_loss / guess:.0%} of a guess's ({guess:.2f})",
                "a network with more filters can learn more: twice the filters in every convolution",
                Change("conv_width", 1.0, 2.0)))  # fmt: skip
        elif still > STILL_FALLING:
            more = min(int(SETTINGS["epochs"].high), settings.epochs * 2)
            found.append(Diagnosis(
                "too_early", "Stopped too early",
                f"the {watched[2]} loss was still improving at the last epoch: {watched[0]:.2f} -> {watched[1]:.2f} "
                f"({still:.0%}) in epoch {last.epoch}",
                "more epochs: twice as many", Change("epochs", settings.epochs, more)))  # fmt: skip
    return found


def _against_overfitting(settings: TrainSettings, best_epoch: int) -> tuple[str, Change]:
    """One change against overfitting: augmentation first, then weight decay, then fewer epochs."""
    if not settings.augment:
        return "more variety in the training pictures: augmentation on", Change("augment", False, True)
    if settings.weight_decay == 0:
        return "pull the weights towards zero: weight decay 0.0005", Change("weight_decay", 0.0, 5e-4)
    return (
        f"stop where validation was best: {best_epoch} epochs",
        Change("epochs", settings.epochs, max(1, best_epoch)),
    )


def not_learning(accuracy: float | None, train_loss: float | None, classes: int, settings: TrainSettings) -> str | None:
    """A note when a whole epoch left the network at chance: its accuracy no better than guessing
    and its training loss still about that of a uniform guess (ln of the class count). None
    otherwise, or when there is nothing to judge."""
    if accuracy is None or train_loss is None or classes < 2:
        return None
    chance = 1 / classes
    if accuracy > CHANCE_MARGIN * chance or train_loss < 0.95 * math.log(classes):
        return None
    low, high = GOOD_LEARNING_RATES.get(settings.optimizer, GOOD_LEARNING_RATES["adam"])
    evidence = (
        f"the network is not learning: after an epoch it is right {100 * accuracy:.0f}% of the time, "
        f"what guessing gets with {classes} classes, and its loss is still {train_loss:.2f}"
    )
    if low <= settings.learning_rate <= high:
        return f"{evidence}; check the network on the Architecture page (a layer may be blocking the signal)"
    return f"{evidence}; try a learning rate between {low:g} and {high:g}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _round(value: float) -> float:
    return float(f"{value:.2g}")
