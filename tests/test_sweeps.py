"""Sweeps: what may be varied and how it is read, real trials as runs, pruning, what mattered, and
several processes sharing one study (SQLite here; PostgreSQL where a server is given)."""

import dataclasses
import json
import math
import os
import subprocess
import sys

import optuna
import pytest
import torch
from conftest import ROOT, cli_here
from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core import sweeps
from cnn_core.architecture import Architecture, Conv, Dropout, Linear
from cnn_core.errors import ConfigError
from cnn_core.model import build_model
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import SCHEMA
from cnn_core.sweeps import Base, Sweep, SweepPlan, Vary, what_mattered

QUICK = dict(epochs=2, train_samples=300, val_samples=100, test_samples=100, batch_size=32)
QUICK_OPTIONS = [word for k, v in QUICK.items() if k != "epochs" for word in (f"--{k.replace('_', '-')}", str(v))]


def base(**changes) -> Base:
    tutorial = PRESETS["tutorial"]
    return Base(tutorial.architecture, tutorial.settings.replace(**{**QUICK, **changes}), "synthetic", "tutorial")


# --- what a sweep may vary, read from words ------------------------------------------------------
def test_every_sweepable_setting_of_the_schema_and_the_two_network_knobs_can_be_varied():
    assert {s.name for s in SCHEMA if s.sweep} | {"dropout", "conv_width"} == set(sweeps.SWEEPABLE)
    for name in ("learning_rate", "batch_size", "epochs", "optimizer", "weight_decay", "augment", "label_smoothing"):
        assert name in sweeps.SWEEPABLE


def test_ranges_and_lists_are_read_as_people_write_them():
    lr = Vary.parse("learning_rate=1e-4:1e-1:log")
    assert (lr.scale, lr.low, lr.high) == ("log", 1e-4, 1e-1)
    assert lr.describe() == "learning rate from 0.0001 to 0.1 (log scale)"
    batch = Vary.parse("batch-size=32,64,128")
    assert batch.values == (32, 64, 128) and batch.describe() == "batch size: 32 images, 64 images or 128 images"
    assert Vary.parse("augment=on,off").values == (True, False)
    assert Vary.parse("optimizer=adam,SGD").values == ("adam", "sgd")
    assert Vary.parse("epochs=2:8").scale == "linear"  # the schema's own scale when none is given
    assert Vary.parse("learning_rate=0.001:0.1").scale == "log"


@pytest.mark.parametrize(
    "text, field, words",
    [
        ("momentum=0.1,0.9", "vary", "cannot be swept"),
        ("learning_rate", "vary", "NAME=LOW:HIGH"),
        ("learning_rate=0.1:0.001", "learning_rate", "low first"),
        ("weight_decay=0:0.1:log", "weight_decay", "above 0"),
        ("batch_size=0,32", "batch_size", "from 1 to 4,096"),
        ("optimizer=adam:sgd", "optimizer", "give a list"),
        ("augment=maybe", "augment", "on or off"),
        ("learning_rate=fast,slow", "learning_rate", "numbers"),
        ("dropout=0.1:1.5", "dropout", "at most 0.9"),
    ],
)
def test_a_bad_range_names_the_setting_and_what_is_allowed(text, field, words):
    with pytest.raises(ConfigError) as error:
        Vary.parse(text)
    assert error.value.field == field and words in error.value.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_read_or_refused_in_words(text):
    try:
        vary = Vary.parse(text)
    except ConfigError as error:
        assert error.message
    else:
        assert Vary.from_dict(json.loads(json.dumps(vary.to_dict()))) == vary


def test_a_plan_refuses_what_it_cannot_run():
    lr = Vary.parse("learning_rate=1e-4:1e-1")
    for kwargs, field in [
        (dict(vary=()), "vary"),
        (dict(vary=(lr,) * 2), "vary"),
        (
            dict(
                vary=tuple(
                    map(
                        Vary.parse,
                        ("batch_size=32,64", "epochs=1,2", "augment=on,off", "optimizer=adam,sgd", "dropout=0,0.5"),
                    )
                )
            ),
            "vary",
        ),
        (dict(vary=(lr,), strategy="bayes"), "strategy"),
        (dict(vary=(lr,), trials=0), "trials"),
        (dict(vary=(lr,), seconds=-1), "seconds"),
    ]:
        with pytest.raises(ConfigError) as error:
            SweepPlan(**kwargs)
        assert error.value.field == field
    with pytest.raises(ConfigError, match="validation"):
        base(val_samples=0)


def test_a_grid_spreads_a_range_over_four_values_and_finishes_no_more_trials_than_it_has():
    plan = SweepPlan((Vary.parse("learning_rate=1e-4:1e-1:log"), Vary.parse("augment=on,off")), "grid", trials=50)
    assert Vary.parse("learning_rate=1e-4:1e-1:log").grid() == [1e-4, 1e-3, 1e-2, 1e-1]
    assert Vary.parse("epochs=1:10").grid() == [1, 4, 7, 10]
    assert plan.grid_size == 8 and plan.trial_count == 8


# --- the network knobs, checked by building the network ------------------------------------------
def test_conv_width_multiplies_every_convolution_and_dropout_goes_before_the_last_layer():
    tutorial = PRESETS["tutorial"].architecture
    wide = sweeps.with_knobs(tutorial, dropout=0.3, conv_width=2)
    convs = [layer.out_channels for layer in tutorial.layers if isinstance(layer, Conv)]
    assert [layer.out_channels for layer in wide.layers if isinstance(layer, Conv)] == [2 * c for c in convs]
    last = max(i for i, layer in enumerate(wide.layers) if isinstance(layer, Linear))
    assert wide.layers[last - 1] == Dropout(0.3)
    model = build_model(wide, (3, 32, 32), 10)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)  # the stack still fits together
    assert sweeps.with_knobs(tutorial) is tutorial
    # A network with dropout layers of its own: they take the value, none is added.
    again = sweeps.with_knobs(wide, dropout=0.1)
    assert [layer for layer in again.layers if isinstance(layer, Dropout)] == [Dropout(0.1)]
    # A sweep that does not vary dropout keeps the network's own (and so does a wider network).
    assert sweeps.with_knobs(wide, conv_width=0.5).layers[last - 1] == Dropout(0.3)
    assert base().trial({"learning_rate": 0.01})[0] == base().architecture
    kept = sweeps.Base(wide, base().settings, "synthetic").trial({"learning_rate": 0.01})[0]
    assert kept.layers[last - 1] == Dropout(0.3)


# --- what mattered, in one sentence ----------------------------------------------------------------
def test_what_mattered_says_which_setting_decided_and_which_hardly_mattered():
    plan = SweepPlan((Vary.parse("learning_rate=1e-4:1e-1"), Vary.parse("batch_size=32,64")))
    assert what_mattered({"learning_rate": 0.93, "batch_size": 0.07}, plan) == (
        "Learning rate decided most of the difference (93%); batch size hardly mattered (7%)."
    )
    three = {"learning_rate": 0.45, "batch_size": 0.4, "augment": 0.15}
    assert what_mattered(three, plan) == "Learning rate mattered most (45%), then batch size 40%, augment 15%."
    assert "Not enough finished trials" in what_mattered({}, plan)


# --- real trials -----------------------------------------------------------------------------------
def test_each_trial_is_a_tagged_run_and_hopeless_ones_are_stopped_early_with_the_reason(tmp_path, tiny_data):
    store = RunStore(tmp_path / "runs")
    plan = SweepPlan((Vary.parse("learning_rate=1e-5:0.3:log"),), "random", trials=7, seed=3)
    sweep = Sweep.open(sweeps.default_storage(store.root), "lr-test", plan, base(epochs=3))
    seen = []
    sweep.work(tiny_data, store, on_trial=seen.append)

    summary = sweep.summary()
    assert [t.number for t in seen] == list(range(7)) == [t.number for t in summary.trials]
    assert all(t.state in ("complete", "pruned") for t in summary.trials)
    runs = {info.id: info for info in store.list()}
    assert {t.run for t in summary.trials} == set(runs)  # every trial is a run, every run a trial
    assert all(set(info.tags) == {"lr-test", "sweep"} for info in runs.values())
    for t in summary.trials:  # the run trained with the trial's value
        assert store.get(t.run).config()["settings"]["learning_rate"] == pytest.approx(t.params["learning_rate"])
    pruned = [t for t in summary.trials if t.state == "pruned"]
    assert pruned, "a learning rate of 1e-5 or 0.3 should be stopped early"
    for t in pruned:
        assert t.message.startswith("stopped after epoch ") and "worse than the median" in t.message
        assert runs[t.run].status == "stopped" and t.epochs < 3
    best = summary.best
    assert best.val_loss == min(t.val_loss for t in summary.trials if t.state == "complete")
    assert best.params == sweep.study.best_trial.params
    _, longer = sweep.best_for_longer()
    assert longer.epochs == 6 and longer.learning_rate == best.params["learning_rate"]
    # Optuna's own figures work on the study.
    assert optuna.visualization.plot_parallel_coordinate(sweep.study).data
    assert summary.importances == {} or set(summary.importances) == {"learning_rate"}


def test_a_diverged_trial_counts_as_guessing_and_a_trial_that_cannot_start_says_why(tmp_path, tiny_data):
    store = RunStore(tmp_path / "runs")
    plan = SweepPlan((Vary.parse("learning_rate=1e6"),), "grid", trials=1, prune=False)
    sweep = Sweep.open(sweeps.default_storage(store.root), "explode", plan, base(epochs=1))
    (trial,) = sweep.work(tiny_data, store)
    assert trial.state == "complete" and trial.val_loss == pytest.approx(math.log(10))
    assert "exploded" in trial.message

    # A network whose first convolution is as large as the picture: nothing is left for its pool.
    whole = Architecture.from_dict({"layers": [{"type": "conv", "out_channels": 4, "kernel_size": 32},
                                               {"type": "pool"}, {"type": "linear", "out_features": 10}]})  # fmt: skip
    plan = SweepPlan((Vary.parse("conv_width=1,2,4"),), "grid")
    sweep = Sweep.open(
        sweeps.default_storage(store.root), "no-fit", plan, dataclasses.replace(base(), architecture=whole)
    )
    with pytest.raises(ConfigError, match="could not train"):
        sweep.work(tiny_data, store)
    tried = [t.state for t in sweep.trials() if t.state != "waiting"]  # its points stay queued for a retry
    assert tried == ["failed"] * 3  # it stops after three in a row
    assert "could not start" in sweep.trials()[0].message


def test_a_study_keeps_its_plan_and_refuses_another(tmp_path):
    storage = sweeps.default_storage(tmp_path)
    plan = SweepPlan((Vary.parse("learning_rate=1e-4:1e-1"),))
    Sweep.open(storage, "kept", plan, base())
    joined = Sweep.open(storage, "kept")  # another machine: no plan of its own
    assert joined.plan == plan and joined.base == base()
    with pytest.raises(ConfigError, match="already varies learning rate"):
        Sweep.open(storage, "kept", SweepPlan((Vary.parse("batch_size=32,64"),)), base())
    with pytest.raises(ConfigError, match="there is no sweep"):
        Sweep.open(storage, "missing")
    with pytest.raises(ConfigError) as error:
        Sweep.open(storage, "no spaces please", plan, base())
    assert error.value.field == "study"
    with pytest.raises(ConfigError) as error:
        Sweep.open("postgresql://me:secret@127.0.0.1:1/none", "x", plan, base())
    assert error.value.field == "storage" and "secret" not in error.value.message
    assert sweeps.sweep_names(storage) == ["kept"]


def test_a_continued_sweep_fails_the_trial_of_a_dead_process_and_finishes_the_asked_number(
    tmp_path, tiny_data, monkeypatch
):
    monkeypatch.setattr(sweeps, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(sweeps, "GRACE_SECONDS", 1)
    store = RunStore(tmp_path / "runs")
    plan = SweepPlan((Vary.parse("learning_rate=1e-3:1e-2"),), "random", trials=3, prune=False)
    sweep = Sweep.open(sweeps.default_storage(store.root), "resumed", plan, base(epochs=1))
    dead = sweep.study.ask()  # a process that died in its trial: running, its heartbeat stops
    sweep.study._storage.record_heartbeat(dead._trial_id)
    import time

    time.sleep(2.5)
    again = Sweep.open(sweeps.default_storage(store.root), "resumed")
    again.work(tiny_data, store)
    states = [t.state for t in again.trials()]
    assert states.count("complete") == 3 and states[0] == "failed"


# --- several processes on one study ----------------------------------------------------------------
def _check_shared(storage: str, study: str, runs_dir, trials: int, count: int = 2) -> None:
    """`count` processes running `python -m cnn_core sweep --study STUDY --json` at once, joining a
    study made here, finish exactly `trials` trials: none twice, none lost."""
    plan = SweepPlan((Vary.parse("learning_rate=1e-4:1e-2:log"),), "random", trials=trials, prune=False)
    Sweep.open(storage, study, plan, base(epochs=1))
    args = [sys.executable, "-m", "cnn_core", "sweep", "--study", study, "--storage", storage, "--json"]
    env = {**os.environ, "CNN_RUNS_DIR": str(runs_dir), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outputs.append([json.loads(line) for line in out.splitlines()])
    done = [line for out in outputs for line in out[:-1]]  # each process's trials; its last line is the summary
    assert all(len(out) > 1 for out in outputs), "each process should have run a trial"
    assert sorted(t["number"] for t in done) == list(range(trials))
    assert len({t["run"] for t in done}) == trials  # each trial trained once, as its own run
    assert {info.id for info in RunStore(runs_dir).list()} == {t["run"] for t in done}
    sweep = Sweep.open(storage, study)
    assert [t.state for t in sweep.trials()] == ["complete"] * trials
    assert max(out[-1]["finished"] for out in outputs) == trials  # the last to end saw them all


def test_two_processes_on_one_sqlite_study_finish_exactly_the_asked_trials(tmp_path):
    runs = tmp_path / "runs"
    _check_shared(sweeps.default_storage(runs), "shared", runs, trials=6)


def test_two_processes_on_one_postgresql_study_finish_exactly_the_asked_trials(tmp_path):
    """.ci/run starts Debian's PostgreSQL and sets CNN_TEST_POSTGRES; elsewhere this is skipped."""
    url = os.environ.get("CNN_TEST_POSTGRES")
    if not url:
        pytest.skip("no PostgreSQL server: set CNN_TEST_POSTGRES=postgresql://... (.ci/run starts one)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver (psycopg) is not installed")
    study = f"pg-{os.getpid()}-{int(tmp_path.stat().st_mtime)}"[:24]
    _check_shared(url, study, tmp_path / "runs", trials=6)


def test_the_command_line_prints_each_trial_and_a_summary_as_json(tmp_path, capsys):
    result = cli_here(
        capsys, "sweep", "--vary", "learning_rate=1e-3:1e-1:log", "--vary", "batch_size=32,64", "--trials", "4",
        "--dataset", "synthetic", "--runs-dir", str(tmp_path), "--study", "cli", "--json",
        *QUICK_OPTIONS, "--epochs", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["number"] for t in lines[:-1]] == [0, 1, 2, 3]
    assert set(lines[0]["params"]) == {"learning_rate", "batch_size"}
    summary = lines[-1]
    assert summary["finished"] == 4 and summary["best"]["number"] in range(4)
    assert summary["what_mattered"].endswith(".")
    refused = cli_here(capsys, "sweep", "--vary", "momentum=0.1,0.9", "--runs-dir", str(tmp_path))
    assert refused.returncode == 2 and "--vary 'momentum' cannot be swept" in refused.stderr
    assert cli_here(capsys, "sweep", "--runs-dir", str(tmp_path)).returncode == 2


def test_a_grid_trains_a_stopped_point_again_not_a_random_one(tmp_path, tiny_data):
    store = RunStore(tmp_path / "runs")
    plan = SweepPlan((Vary.parse("batch_size=32,64"), Vary.parse("augment=on,off")), "grid", prune=False)
    sweep = Sweep.open(sweeps.default_storage(store.root), "grid-again", plan, base(epochs=1))
    stopped = sweep.study.ask()  # the first point, stopped before it finished
    sweep.study.tell(stopped, state=optuna.trial.TrialState.FAIL)
    sweep.work(tiny_data, store)
    done = [t.params for t in sweep.trials() if t.state == "complete"]
    assert sorted(map(str, done)) == sorted(map(str, plan.grid_points())) and len(done) == 4
