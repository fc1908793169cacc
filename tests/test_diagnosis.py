"""Curves diagnosed in plain words: each rule on made-up curves that show it (and on ones that
must not trip it), then on real short runs that show each case."""

import math

import pytest

from cnn_core.diagnosis import Change, diagnose
from cnn_core.presets import PRESETS
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer

GUESS = math.log(10)


def epochs(train, val=None, accuracy=None):
    """History rows of a run whose epochs had these training (and validation) losses."""
    val = val or [None] * len(train)
    accuracy = accuracy or [0.5] * len(train)
    return [
        {
            "kind": "epoch",
            "epoch": i + 1,
            "epoch_progress": float(i + 1),
            "complete": True,
            "train_loss": t,
            "val_loss": v,
            "val_accuracy": a,
            "train_accuracy": a,
        }
        for i, (t, v, a) in enumerate(zip(train, val, accuracy, strict=True))
    ]


def kinds(history, **settings):
    return [d.kind for d in diagnose(history, TrainSettings(**settings), 10)]


def test_overfitting_quotes_where_validation_turned_and_offers_augmentation_first():
    history = epochs([1.6, 1.2, 0.9, 0.7, 0.5, 0.35], val=[1.5, 1.2, 1.10, 1.15, 1.25, 1.32])
    (found,) = diagnose(history, TrainSettings(epochs=6), 10)
    assert found.kind == "overfitting"
    assert found.evidence == (
        "validation loss rose from 1.10 at epoch 3 to 1.32 at epoch 6 while training loss kept falling (0.90 -> 0.35)"
    )
    assert found.change == Change("augment", False, True) and found.change.words() == "augment off -> on"
    with_augment = diagnose(history, TrainSettings(epochs=6, augment=True), 10)[0].change
    assert with_augment == Change("weight_decay", 0.0, 5e-4)
    both = diagnose(history, TrainSettings(epochs=6, augment=True, weight_decay=1e-3), 10)[0].change
    assert both == Change("epochs", 6, 3)  # stop where validation was best


def test_a_validation_loss_that_wobbles_a_little_is_not_overfitting():
    assert "overfitting" not in kinds(epochs([1.6, 1.2, 0.9, 0.7], val=[1.5, 1.2, 1.10, 1.12]))
    assert "overfitting" not in kinds(epochs([1.6, 1.2, 1.3, 1.4], val=[1.5, 1.2, 1.3, 1.4]))  # both rose


def test_stuck_at_chance_says_so_and_moves_the_learning_rate_into_the_range_that_trains():
    history = epochs([2.31, 2.30, 2.30], accuracy=[0.10, 0.11, 0.10])
    (found,) = diagnose(history, TrainSettings(learning_rate=0.1), 10)
    assert found.kind == "chance" and "right 10% of the time" in found.evidence
    assert found.change == Change("learning_rate", 0.1, 0.00095)
    assert diagnose(history, TrainSettings(learning_rate=0.001), 10)[0].change == Change("learning_rate", 0.001, 0.0001)


def test_a_loss_that_climbs_back_up_means_steps_too_big():
    (found, *_) = diagnose(epochs([1.6, 1.9, 1.5, 1.8]), TrainSettings(learning_rate=0.002), 10)
    assert (
        found.kind == "too_high" and "went up 2 times, first from 1.60 at epoch 1 to 1.90 at epoch 2" in found.evidence
    )
    assert found.change == Change("learning_rate", 0.002, 0.0002)
    assert "too_high" not in kinds(epochs([1.6, 1.9, 1.5, 1.4]), learning_rate=0.002)  # once, in the usual range
    assert "too_high" in kinds(epochs([1.6, 1.9, 1.5, 1.4]), learning_rate=0.05)  # once, but far above it


def test_an_exploded_run_is_a_learning_rate_too_high_whatever_else_it_shows():
    history = [*epochs([1.6]), {"kind": "batch", "epoch": 2, "batch": 3, "exploded": True, "train_loss": 1e9}]
    (found,) = diagnose(history, TrainSettings(learning_rate=1.0), 10)
    assert (found.kind, found.change.after) == ("too_high", 0.1)
    assert found.evidence == "the loss exploded in epoch 2 at learning rate 1"


def test_slow_steady_fall_is_too_low_and_high_flat_loss_is_underfitting():
    slow = epochs([2.25, 2.15, 2.05], val=[2.24, 2.14, 2.04], accuracy=[0.15, 0.2, 0.25])
    (found,) = diagnose(slow, TrainSettings(learning_rate=1e-5), 10)
    assert found.kind == "too_low" and found.change == Change("learning_rate", 1e-5, 1e-4)
    assert "still falling slowly and steadily (2.14 -> 2.04 in the last epoch)" in found.evidence
    flat = epochs([1.9, 1.62, 1.615], val=[1.9, 1.64, 1.64], accuracy=[0.3, 0.4, 0.4])
    (found,) = diagnose(flat, TrainSettings(), 10)
    assert found.kind == "underfitting" and found.change == Change("conv_width", 1.0, 2.0)
    assert found.change.words() == "filters per convolution x1 -> x2"


def test_still_improving_at_the_last_epoch_asks_for_more_epochs_and_a_healthy_run_says_nothing():
    (found,) = diagnose(epochs([1.5, 1.2, 1.0], val=[1.4, 1.2, 1.05]), TrainSettings(epochs=3), 10)
    assert found.kind == "too_early" and found.change == Change("epochs", 3, 6)
    assert "1.20 -> 1.05 (12%) in epoch 3" in found.evidence
    assert kinds(epochs([1.5, 1.2, 1.0, 0.99], val=[1.4, 1.2, 1.05, 1.04])) == []
    assert kinds([]) == [] and kinds(epochs([1.5])) == []


# --- real short runs ---------------------------------------------------------------------------------
def run(data, **settings) -> list:
    trainer = Trainer(PRESETS["tutorial"].architecture, TrainSettings(**settings), data)
    result = trainer.run()
    return diagnose(result.history, trainer.plan.settings, data.num_classes)


@pytest.mark.parametrize(
    "settings, kind",
    [
        (dict(learning_rate=1e6, epochs=2), "too_high"),
        (dict(learning_rate=1e-7, epochs=2), "chance"),
        (dict(learning_rate=0.003, epochs=2, train_samples=600), "too_early"),
        (dict(learning_rate=0.003, epochs=12, train_samples=60, val_samples=200, batch_size=16), "overfitting"),
    ],
)
def test_real_short_runs_show_each_case(tiny_data, settings, kind):
    found = run(tiny_data, **settings)
    assert found and found[0].kind == kind, [(d.kind, d.evidence) for d in found]


def test_try_this_changes_exactly_one_thing():
    tutorial, settings = PRESETS["tutorial"].architecture, TrainSettings(learning_rate=0.01)
    architecture, changed = Change("learning_rate", 0.01, 0.001).apply(tutorial, settings)
    assert architecture is tutorial and changed == settings.replace(learning_rate=0.001)
    wider, same = Change("conv_width", 1.0, 2.0).apply(tutorial, settings)
    assert same == settings and wider != tutorial
    assert [getattr(a, "out_channels", None) for a in wider.layers] == [
        2 * a.out_channels if hasattr(a, "out_channels") else None for a in tutorial.layers
    ]
