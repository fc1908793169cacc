"""The settings schema is the one declaration of every setting: each one is reachable from the
command line and from the Train page, and round-trips through a saved run; the README's table
is the schema's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.cli import _settings, build_parser
from cnn_core.runs import RunStore
from cnn_core.settings import CHOICE, FLAG, FLOAT, INT, SCHEMA, SETTINGS, TrainSettings, markdown_table

ROOT = Path(__file__).resolve().parent.parent
# A value other than the default for every setting, that still trains in a second on the sample.
CHANGED = {
    "batch_size": 64,
    "epochs": 1,
    "learning_rate": 0.003,
    "optimizer": "sgd",
    "momentum": 0.8,
    "nesterov": True,
    "weight_decay": 0.0001,
    "seed": 7,
    "train_samples": 256,
    "val_samples": 128,
    "test_samples": 128,
    "augment": True,
    "augment_shift": 2,
    "schedule": "onecycle",
    "label_smoothing": 0.1,
    "device": "cpu",
    "logs_per_epoch": 4,
    "test_flip": True,
    "test_shifts": True,
    "whiten": True,
    "whiten_bias_epochs": 0,
    "precision": "float32",
}


def test_every_setting_has_a_changed_value_here():
    assert set(CHANGED) == set(SETTINGS), "add the new setting to CHANGED"
    defaults = TrainSettings()
    for name, value in CHANGED.items():
        assert getattr(defaults, name) != value, name
        assert SETTINGS[name].check(value) == value


@pytest.mark.parametrize("setting", SCHEMA, ids=lambda s: s.name)
def test_every_setting_is_reachable_from_the_command_line(setting):
    value = CHANGED[setting.name]
    argv = ["train", setting.cli_option] if setting.kind == FLAG else ["train", setting.cli_option, str(value)]
    args = build_parser().parse_args(argv)
    settings, typed = _settings(args)
    assert getattr(settings, setting.name) == value and setting.name in typed


@pytest.mark.parametrize("setting", [s for s in SCHEMA if s.kind in (INT, FLOAT, CHOICE)], ids=lambda s: s.name)
def test_a_bad_value_names_the_option_and_what_is_allowed(setting):
    from cnn_core.cli import InputError

    bad = "lots" if setting.kind != CHOICE else "warp"
    with pytest.raises(InputError, match=f"^{setting.cli_option} must be"):
        _settings(build_parser().parse_args(["train", setting.cli_option, bad]))


def test_every_setting_is_on_the_train_page_and_round_trips_through_a_saved_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/views/train.py").run()
    widgets = {w.key: w for kind in ("number_input", "select_slider", "selectbox", "toggle") for w in at.get(kind)}
    for setting in SCHEMA:
        widget = widgets.get(f"w_{setting.name}")
        assert widget is not None, f"{setting.name} has no widget on the Train page"
        assert widget.label == setting.label and widget.help == setting.help
    for name, value in CHANGED.items():
        at.session_state[f"w_{name}"] = value  # as if the user had set every widget
    at.run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, [e.message for e in at.exception]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        r.status not in ("running",) for r in RunStore(tmp_path / "runs").list()
    ):
        time.sleep(0.3)
    [run] = RunStore(tmp_path / "runs").runs()
    saved = TrainSettings.from_dict(run.config()["settings"])
    assert saved == TrainSettings(**CHANGED)


def test_the_readme_table_is_the_schema():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README's settings table is out of date: paste `python -m cnn_core settings`"
