"""Training settings: the tutorial's defaults, JSON round trip, refusals that name the field."""

import math

import pytest

from cnn_core.errors import ConfigError
from cnn_core.settings import HELP, TrainSettings


def test_defaults_are_the_tutorials():
    s = TrainSettings()
    assert (s.batch_size, s.epochs, s.learning_rate, s.optimizer, s.seed) == (32, 5, 0.001, "adam", 42)
    assert (s.train_samples, s.val_samples, s.test_samples) == (20_000, 5_000, 5_000)


def test_round_trip_and_normalisation():
    s = TrainSettings(optimizer="AdamW", schedule="OneCycle", batch_size=64.0, augment=True)
    assert s.optimizer == "adamw" and s.schedule == "onecycle" and s.batch_size == 64
    assert TrainSettings.from_json(s.to_json()) == s


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("batch_size", 0, "whole number from 1"),
        ("batch_size", 2.5, "whole number"),
        ("epochs", 0, "whole number from 1"),
        ("learning_rate", -0.1, "greater than 0"),
        ("learning_rate", 0, "greater than 0"),
        ("learning_rate", math.nan, "greater than 0"),
        ("learning_rate", math.inf, "greater than 0"),
        ("learning_rate", "fast", "greater than 0"),
        ("optimizer", "rmsprop", "adam, sgd, adamw"),
        ("momentum", 1.0, "less than 1"),
        ("val_samples", -1, "from 0"),
        ("augment", "yes", "true or false"),
        ("device", "tpu", "auto, cpu, cuda, mps"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(field, value, words):
    with pytest.raises(ConfigError) as info:
        TrainSettings(**{field: value})
    assert info.value.field == field
    assert words in str(info.value)


def test_unknown_keys_in_imported_settings_are_refused_by_name():
    with pytest.raises(ConfigError, match="learnig_rate"):
        TrainSettings.from_dict({"learnig_rate": 0.1})
    with pytest.raises(ConfigError, match="batch"):
        TrainSettings().replace(batch=3)


def test_every_field_has_a_plain_explanation():
    assert set(HELP) == set(TrainSettings.field_names())
    assert all(text.endswith(")") or text.endswith(".") for text in HELP.values())
