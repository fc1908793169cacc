"""Runs as a lab notebook: names made from what a run is, names and tags people give, kept safely."""

import json
import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnn_core.architecture import Architecture, Conv
from cnn_core.curves import smooth
from cnn_core.errors import ConfigError, RunStoreError
from cnn_core.notebook import MAX_TAGS, NAME_CHARS, SEPARATOR, Notes, made_name
from cnn_core.presets import PRESETS
from cnn_core.runs import DAMAGED, RunStore
from cnn_core.settings import CHOICE, FLAG, FLOAT, INT, SCHEMA, TrainSettings
from cnn_core.training import Trainer

TUTORIAL = PRESETS["tutorial"]


def test_the_tutorial_is_named_as_people_say_it_however_it_was_reached():
    assert made_name(TUTORIAL.architecture, TrainSettings(), "tutorial") == "tutorial CNN · lr 0.001 · 5 epochs"
    # Rebuilt layer by layer (as the Architecture page does), under another name or none: the same network.
    rebuilt = Architecture.from_dict({**TUTORIAL.architecture.to_dict(), "name": "custom"})
    assert made_name(rebuilt, TrainSettings(epochs=3, learning_rate=0.01), None) == "tutorial CNN · lr 0.01 · 3 epochs"
    assert made_name(rebuilt, TrainSettings(), "seed").startswith("tutorial CNN" + SEPARATOR)  # the preset's old name


def test_a_changed_network_is_custom_and_counts_its_layers():
    wider = Architecture((Conv(32, 3, 1, 1), *TUTORIAL.architecture.layers[1:]))
    assert made_name(wider, TrainSettings(), "tutorial").startswith("custom CNN (1 conv, 2 linear)" + SEPARATOR)


def _another(setting):
    """A valid value of `setting` other than its default."""
    if setting.kind == FLAG:
        return not setting.default
    if setting.kind == CHOICE:
        return next(c for c in setting.choices if c != setting.default)
    if setting.kind == INT:
        return setting.default + 1 if setting.default + 1 <= setting.high else setting.default - 1
    return setting.default * 3 if setting.default else 0.25


@pytest.mark.parametrize("setting", [s for s in SCHEMA if s.short], ids=lambda s: s.name)
def test_every_named_setting_that_differs_from_the_preset_is_in_the_name_once(setting):
    value = _another(setting)
    name = made_name(TUTORIAL.architecture, TrainSettings().replace(**{setting.name: value}), "tutorial")
    parts = name.split(SEPARATOR)
    assert parts.count(setting.named(value)) == 1, name
    assert parts[0] == "tutorial CNN" and parts[-1].endswith(" epochs")
    if setting.kind in (INT, FLOAT) and setting.name not in ("learning_rate", "epochs"):
        assert setting.named(setting.default) not in parts  # a setting at the preset's value is not named


def test_a_presets_own_settings_are_not_repeated_in_its_name():
    strong = PRESETS["strong"]
    epochs = strong.settings.epochs
    assert made_name(strong.architecture, strong.settings, "strong") == f"strong CNN · lr 0.2 · {epochs} epochs"


def test_notes_are_trimmed_and_tags_kept_once():
    notes = Notes.from_dict({"name": "  first\n try ", "tags": ["demo", "Demo", " ", "lr sweep"]})
    assert notes == Notes("first try", ("demo", "lr sweep"))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x" * (NAME_CHARS + 1)}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"name": 42}, "name"),
        ({"tags": "demo"}, "tags"),
        ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "tags"),
        ({"tags": [["nested"]]}, "tags"),
        ({"title": "x"}, "notes.title"),
        ([], "notes"),
    ],
)
def test_bad_notes_are_refused_naming_the_field(data, field):
    with pytest.raises(ConfigError) as error:
        Notes.from_dict(data)
    assert error.value.field == field


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(["name", "tags", "x"]), inner),
    max_leaves=12,
)


@given(JSON)
def test_any_json_is_either_notes_or_one_config_error(data):
    try:
        notes = Notes.from_dict(data)
    except ConfigError:
        return
    assert len(notes.name) <= NAME_CHARS and len(notes.tags) <= MAX_TAGS
    assert Notes.from_dict(json.loads(json.dumps(notes.to_dict()))) == notes  # what is saved reads back the same


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = Trainer(
        TUTORIAL.architecture, TrainSettings(epochs=1, learning_rate=0.003), tiny_data, store=store, preset="tutorial"
    ).run()
    return store, store.get(result.run_dir.split("/")[-1])


def test_a_run_lists_with_its_made_name_then_the_one_given_then_the_made_one_again(run):
    store, r = run
    assert store.list()[0].name == "tutorial CNN · lr 0.003 · 1 epoch" and store.list()[0].tags == ()
    r.set_notes(Notes("baseline for the talk", ("demo",)))
    info = store.list()[0]
    assert (info.name, info.tags) == ("baseline for the talk", ("demo",))
    assert json.loads((r.path / "notes.json").read_text()) == {"name": "baseline for the talk", "tags": ["demo"]}
    assert not list(r.path.glob(".*.tmp"))
    r.set_notes(Notes("", ("demo",)))
    assert store.list()[0].name.startswith("tutorial CNN")


def test_damaged_notes_leave_the_run_listed_under_its_made_name(run):
    store, r = run
    for damage in (b"{not json", b'{"name": 5}', b"[]"):
        (r.path / "notes.json").write_bytes(damage)
        info = store.list()[0]
        assert info.status != DAMAGED and info.name.startswith("tutorial CNN"), damage
    (r.path / "notes.json").unlink()


def test_notes_are_not_written_while_another_writer_holds_the_run(run):
    store, r = run
    writer = store.get(r.id).take_lock()  # as a training process would
    try:
        with pytest.raises(RunStoreError, match=r.id):
            store.get(r.id).set_notes(Notes("renamed mid-run"))
    finally:
        writer.release()
    assert store.list()[0].name != "renamed mid-run"


@given(
    st.lists(st.floats(-1e6, 1e6) | st.none() | st.just(float("inf")), max_size=60),
    st.floats(0, 0.99),
)
def test_smoothing_is_pandas_exponential_average_and_keeps_the_gaps(values, weight):
    smoothed = smooth(values, weight)
    kept = [v for v in values if v is not None and math.isfinite(v)]
    oracle = pd.Series(kept, dtype=float).ewm(alpha=1 - weight, adjust=True).mean().tolist()
    got = [s for s, v in zip(smoothed, values, strict=True) if v is not None and math.isfinite(v)]
    assert got == pytest.approx(oracle, rel=1e-9, abs=1e-6)
    assert [v for v in values if v is None or not math.isfinite(v)] == [
        s for s, v in zip(smoothed, values, strict=True) if v is None or not math.isfinite(v)
    ]
    if weight == 0:
        assert smoothed == values


def test_smoothing_outside_its_range_is_refused():
    for weight in (-0.1, 1, 2):
        with pytest.raises(ValueError, match="smoothing"):
            smooth([1.0], weight)
