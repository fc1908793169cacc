"""What a run's numbers mean, in plain words, with the evidence and what to try.

The trainer asks `not_learning` after every epoch, so a run stuck at chance says so while it
runs instead of "completing" at 10%.
"""

from __future__ import annotations

import math

from .settings import TrainSettings

CHANCE_MARGIN = 1.2  # accuracy up to this many times chance counts as chance
# Learning rates that train the presets on CIFAR-sized data, by optimizer (the tutorial: Adam 0.001).
GOOD_LEARNING_RATES = {"adam": (3e-4, 3e-3), "adamw": (3e-4, 3e-3), "sgd": (3e-3, 0.1)}


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
