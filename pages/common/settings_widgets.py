"""The Train page's settings widgets, made from the settings schema (cnn_core.settings.SCHEMA).

One loop draws every setting: a whole number is a number box (a slider over its usual values
where the schema lists them), a number with usual values a slider, a choice a drop-down, a flag
a switch. Each widget's key is `w_<field>`, its label, help and bounds come from the schema, so a
setting added there appears here with no other edit.
"""

from __future__ import annotations

import streamlit as st

from cnn_core.settings import CHOICE, FLAG, FLOAT, INT, Setting

from .state import widget_key

STEPS = {"train_samples": 1000, "val_samples": 500, "test_samples": 500, "weight_decay": 1e-4}
WIDE = {"learning_rate"}  # the setting that matters most gets a whole row: its slider reads best wide


def with_value(options: list, value) -> list:
    """A slider's options, with a value typed elsewhere (the command line, a preset) kept in them."""
    return options if value in options else sorted([*options, value])


def setting_widget(container, setting: Setting, high: float | None = None) -> None:
    """Draw `setting`'s widget in `container`; `high` narrows its upper bound (what the data holds)."""
    key, label, text = widget_key(setting.name), setting.label, setting.help
    if setting.kind == FLAG:
        container.toggle(label, key=key, help=text)
    elif setting.kind == CHOICE:
        names = setting.names or {}
        container.selectbox(label, setting.choices, key=key, help=text, format_func=lambda v: names.get(v, v))
    elif setting.steps:
        container.select_slider(
            label,
            with_value(list(setting.steps), st.session_state[key]),
            key=key,
            help=text,
            format_func=lambda v: f"{v:g}",
        )
    elif setting.kind == INT:
        top = int(setting.high if high is None else min(high, setting.high))
        container.number_input(label, int(setting.low), top, key=key, step=STEPS.get(setting.name, 1), help=text)
    elif setting.kind == FLOAT:
        top = setting.high if setting.high_inclusive else setting.high - 1e-3
        container.number_input(
            label, setting.low, top, key=key, step=STEPS.get(setting.name, 0.01), format="%g", help=text
        )


def settings_widgets(settings: tuple[Setting, ...], highs: dict[str, float] | None = None) -> None:
    """Every setting of `settings`: the WIDE ones and the choices on a row each, the numbers in two
    columns, flags on their own lines below."""
    highs = highs or {}
    # Choices get a row each too: in a half column their words are cut ("Adar" for Adam).
    for setting in settings:
        if setting.name in WIDE or setting.kind == CHOICE:
            setting_widget(st, setting, highs.get(setting.name))
    a, b = st.columns(2)
    boxes = [s for s in settings if s.kind not in (FLAG, CHOICE) and s.name not in WIDE]
    for i, setting in enumerate(boxes):
        setting_widget(a if i % 2 == 0 else b, setting, highs.get(setting.name))
    for setting in settings:
        if setting.kind == FLAG:
            setting_widget(st, setting)
