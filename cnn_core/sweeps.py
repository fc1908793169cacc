"""Sweeps: many runs that vary one to four settings, searched by Optuna; each trial an ordinary run.

Optuna does the searching (its grid, random and TPE samplers), the early stopping of hopeless
trials (its median pruner, on each epoch's validation loss), the bookkeeping (a study in any of its
storages: by default a SQLite file in the runs folder, so a sweep survives a restart and can be
continued) and "what mattered" (its parameter importances). This module says what may be varied
(the settings schema's sweepable settings and two knobs on the network), turns a trial into a run
of the ordinary trainer, tagged with the sweep's name so every page shows it, and words the outcome.

Several processes, on one machine or many, can work on one study: each asks Optuna for a trial
while fewer than the asked number are under way or finished. Optuna numbers a study's trials under
a lock of the study's row, so a trial that finds the asked number already taken by trials numbered
before it gives its place back (ended as failed, marked surplus, nothing trained): the sweep
finishes exactly the asked number. A trial whose process died is failed by Optuna's heartbeat
check, and its place is taken again by whoever continues the sweep.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import events, fields
from .architecture import MAX_CHANNELS, Architecture, Conv, Dropout, Linear
from .data import Dataset
from .errors import CnnCoreError, ConfigError
from .notebook import TAG_CHARS, Notes
from .runs import COMPLETED, DIVERGED, RunStore
from .settings import FLAG, FLOAT, INT, SCHEMA, SETTINGS, Setting, TrainSettings

if TYPE_CHECKING:
    import optuna

SWEEP_FILE = "sweeps.db"  # in the runs folder: the embedded default storage
STRATEGIES = {"grid": "grid: every combination", "random": "random", "tpe": "Optuna's TPE: learns where to look"}
MAX_VARIED = 4
MAX_VALUES = 20  # values in one list
MAX_TRIALS = 500
GRID_POINTS = 4  # values a grid takes from a range
MAX_FAILURES = 3  # trials in a row that fail to start: the sweep stops and says why
HEARTBEAT_SECONDS = 10  # a running trial says it is alive this often ...
GRACE_SECONDS = 60  # ... and one silent this long belongs to a process that died: failed, retried
STARTUP_TRIALS = 4  # trials that finish before the pruner judges any other
WARMUP_EPOCHS = 1  # no trial is judged before it has finished this many epochs
EXPLODED = "the loss exploded"
OUTCOMES = {"complete": "finished", "failed": "failed", "running": "training", "waiting": "waiting"}
NO_VALIDATION = "no validation images were left after the split: a sweep compares trials on them"
STUDY_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{TAG_CHARS - 1}}}$")  # also the runs' tag

# Two knobs on the network, swept like settings: declared like the schema's entries.
KNOBS: tuple[Setting, ...] = (
    Setting("dropout", FLOAT, 0.0, "Dropout",
            "Share of the values before the last layer switched off at random while training, against "
            "overfitting (0: none; the network's own dropout layers take this value).",
            0.0, 0.9, sweep="linear", short="dropout {}"),
    Setting("conv_width", FLOAT, 1.0, "Conv width",
            "Multiplies every convolution's number of filters (2: twice as many, slower and stronger).",
            0.25, 8.0, sweep="log", short="width x{}"),
)  # fmt: skip
SWEEPABLE: dict[str, Setting] = {s.name: s for s in (*SCHEMA, *KNOBS) if s.sweep}


def _optuna():
    """Optuna, imported when a sweep is opened: it takes a second to import, which the command line's
    other commands and the app's other pages need not pay."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep reports its own trials, in words
    # The heartbeat is marked experimental; it is what fails a trial whose process died.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # We ask and tell, and record each trial's heartbeat ourselves (Sweep._run_trial).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


def with_knobs(architecture: Architecture, dropout: float | None = None, conv_width: float = 1.0) -> Architecture:
    """The network with every convolution `conv_width` times as wide, and with `dropout` given, that
    dropout before its last layer (its own dropout layers set to it; none added for 0). Unchanged
    at the defaults: a network's own dropout stays as it is unless a sweep varies it."""
    layers = list(architecture.layers)
    if conv_width != 1.0:
        layers = [
            dataclasses.replace(layer, out_channels=max(1, min(MAX_CHANNELS, round(layer.out_channels * conv_width))))
            if isinstance(layer, Conv)
            else layer
            for layer in layers
        ]
    if dropout is None:
        pass
    elif any(isinstance(layer, Dropout) for layer in layers):
        layers = [Dropout(dropout) if isinstance(layer, Dropout) else layer for layer in layers]
    elif dropout > 0:
        last = max((i for i, layer in enumerate(layers) if isinstance(layer, Linear)), default=None)
        if last is not None:
            layers.insert(last, Dropout(dropout))
    if layers == list(architecture.layers):
        return architecture
    return dataclasses.replace(architecture, layers=tuple(layers))


def _value(setting: Setting, text: str) -> Any:
    """One value of a --vary list, as the setting takes it ("on" for a flag, 64 for a number)."""
    text = text.strip()
    if setting.kind == FLAG:
        words = {
            "true": True,
            "on": True,
            "yes": True,
            "1": True,
            "false": False,
            "off": False,
            "no": False,
            "0": False,
        }
        if text.lower() not in words:
            raise ConfigError(setting.name, f"takes on or off (got {text!r})")
        return words[text.lower()]
    if setting.kind in (INT, FLOAT):
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(setting.name, f"takes numbers (got {text!r})") from None
        return int(number) if setting.kind == INT and number.is_integer() else number
    return text


@dataclass(frozen=True)
class Vary:
    """One setting a sweep varies: a range (`low` to `high`, "log" or "linear") or a list of values."""

    name: str
    scale: str = "list"  # "log", "linear" or "list"
    low: float | None = None
    high: float | None = None
    values: tuple = ()

    def __post_init__(self):
        if self.name not in SWEEPABLE:
            raise ConfigError("vary", f"{self.name!r} cannot be swept; one of: {', '.join(SWEEPABLE)}")
        s = self.setting
        fields.choice("vary", self.scale, ("log", "linear", "list"))
        if self.scale == "list":
            values = tuple(dict.fromkeys(s.check(v) for v in self.values))  # checked, repeats dropped, in order
            if not values:
                raise ConfigError(s.name, "needs at least one value to try")
            if len(values) > MAX_VALUES:
                raise ConfigError(s.name, f"takes at most {MAX_VALUES} values (got {len(values)})")
            object.__setattr__(self, "values", values)
            object.__setattr__(self, "low", None)
            object.__setattr__(self, "high", None)
            return
        if s.kind not in (INT, FLOAT):
            raise ConfigError(s.name, f"is a choice: give a list of values, e.g. {s.name}={','.join(s.choices[:2])}")
        low, high = s.check(self.low), s.check(self.high)
        if not low < high:
            raise ConfigError(s.name, f"needs a range from low to high, low first (got {low:g} to {high:g})")
        if self.scale == "log" and low <= 0:
            raise ConfigError(s.name, f"a log range must start above 0 (got {low:g})")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "values", ())

    @property
    def setting(self) -> Setting:
        return SWEEPABLE[self.name]

    @classmethod
    def parse(cls, text: str) -> Vary:
        """From the command line: "learning_rate=1e-4:1e-1:log", "batch_size=32,64,128", "augment=on,off"."""
        name, sep, spec = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not spec.strip():
            raise ConfigError("vary", f"give NAME=LOW:HIGH[:log|linear] or NAME=A,B,C (got {text!r})")
        if name not in SWEEPABLE:
            raise ConfigError("vary", f"{name!r} cannot be swept; one of: {', '.join(SWEEPABLE)}")
        s = SWEEPABLE[name]
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                raise ConfigError(name, f"a range is LOW:HIGH or LOW:HIGH:log (got {spec!r})")
            scale = parts[2].strip().lower() if len(parts) == 3 else ("log" if s.sweep == "log" else "linear")
            return cls(name, scale, _value(s, parts[0]), _value(s, parts[1]))
        return cls(name, "list", values=tuple(_value(s, v) for v in spec.split(",") if v.strip()))

    def suggest(self, trial: optuna.Trial) -> Any:
        """This trial's value, asked of Optuna's sampler."""
        if self.scale == "list":
            return trial.suggest_categorical(self.name, list(self.values))
        if self.setting.kind == INT:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.scale == "log")
        return trial.suggest_float(self.name, self.low, self.high, log=self.scale == "log")

    def grid(self) -> list:
        """The values a grid tries: the list, or GRID_POINTS spread over the range."""
        if self.scale == "list":
            return list(self.values)
        if self.scale == "log":
            ratio = math.log(self.high / self.low)
            points = [self.low * math.exp(ratio * i / (GRID_POINTS - 1)) for i in range(GRID_POINTS)]
        else:
            points = [self.low + (self.high - self.low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
        if self.setting.kind == INT:
            return list(dict.fromkeys(round(p) for p in points))
        return [min(self.high, max(self.low, float(f"{p:.3g}"))) for p in points]

    def describe(self) -> str:
        """In words: "learning rate from 0.0001 to 0.1 (log scale)", "batch size: 32, 64 or 128"."""
        s = self.setting
        if self.scale == "list":
            shown = [s.show(v) for v in self.values]
            return f"{s.label.lower()}: " + (
                shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
            )
        return f"{s.label.lower()} from {s.show(self.low)} to {s.show(self.high)} ({self.scale} scale)"

    def to_dict(self) -> dict:
        return {"name": self.name, "scale": self.scale, "low": self.low, "high": self.high, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Any) -> Vary:
        data = fields.only_known_keys("vary", data, ("name", "scale", "low", "high", "values"))
        return cls(**{**data, "values": tuple(data.get("values") or ())})


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep tries: the varied settings, how it searches, how many trials or how long."""

    vary: tuple[Vary, ...]
    strategy: str = "tpe"
    trials: int = 12
    seconds: float | None = None  # no trial starts after this long (per process)
    prune: bool = True
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "vary", tuple(self.vary))
        if not 1 <= len(self.vary) <= MAX_VARIED:
            raise ConfigError("vary", f"pick from 1 to {MAX_VARIED} settings to vary (got {len(self.vary)})")
        names = [v.name for v in self.vary]
        if len(set(names)) != len(names):
            raise ConfigError("vary", f"each setting once (got {', '.join(names)})")
        object.__setattr__(self, "strategy", fields.choice("strategy", self.strategy, STRATEGIES))
        object.__setattr__(self, "trials", fields.whole_number("trials", self.trials, 1, MAX_TRIALS))
        if self.seconds is not None:
            object.__setattr__(
                self, "seconds", fields.real_number("seconds", self.seconds, 0, 7 * 86400, low_inclusive=False)
            )
        object.__setattr__(self, "prune", fields.flag("prune", self.prune))
        object.__setattr__(self, "seed", fields.whole_number("seed", self.seed, 0, 2**32 - 1))

    @property
    def grid_size(self) -> int:
        return math.prod(len(v.grid()) for v in self.vary)

    @property
    def trial_count(self) -> int:
        """The trials the sweep finishes: a grid has no more than its combinations."""
        return min(self.trials, self.grid_size) if self.strategy == "grid" else self.trials

    def grid_points(self) -> list[dict]:
        """A grid's trials: every combination, or as many as asked of them, picked at random."""
        names = [v.name for v in self.vary]
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v.grid() for v in self.vary))]
        if self.trial_count < len(points):
            points = random.Random(self.seed).sample(points, self.trial_count)
        return points

    def sampler(self) -> optuna.samplers.BaseSampler:
        """Optuna's sampler for the strategy. A grid's points are queued in the study when it is
        made (Sweep.open), each taken by one process only: Optuna's GridSampler may run a point
        twice when several processes share a study, and it ends a study in a way only its own
        optimize loop allows."""
        optuna = _optuna()
        if self.strategy in ("random", "grid"):
            return optuna.samplers.RandomSampler(seed=self.seed)
        return optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=min(10, max(2, self.trials // 3)))

    def pruner(self) -> optuna.pruners.BasePruner:
        optuna = _optuna()
        if not self.prune:
            return optuna.pruners.NopPruner()
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_EPOCHS)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "vary": [v.to_dict() for v in self.vary]}

    @classmethod
    def from_dict(cls, data: Any) -> SweepPlan:
        data = fields.only_known_keys("sweep", data, [f.name for f in dataclasses.fields(cls)])
        return cls(**{**data, "vary": tuple(Vary.from_dict(v) for v in data.get("vary") or ())})


@dataclass(frozen=True)
class Base:
    """What every trial starts from: the network, the settings the sweep does not vary, the data."""

    architecture: Architecture
    settings: TrainSettings
    dataset: str  # a name or a path, as `load_dataset` takes it
    preset: str | None = None

    def __post_init__(self):
        if self.settings.val_samples == 0:
            raise ConfigError("val_samples", "a sweep compares trials on validation images: set at least 100")

    def trial(self, params: dict) -> tuple[Architecture, TrainSettings]:
        knobs = {k: v for k, v in params.items() if k not in SETTINGS}
        settings = self.settings.replace(**{k: v for k, v in params.items() if k in SETTINGS})
        return with_knobs(self.architecture, **knobs), settings

    def to_dict(self) -> dict:
        return {
            "architecture": self.architecture.to_dict(),
            "settings": self.settings.to_dict(),
            "dataset": self.dataset,
            "preset": self.preset,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Base:
        data = fields.only_known_keys("base", data, ("architecture", "settings", "dataset", "preset"))
        return cls(
            Architecture.from_dict(data["architecture"]),
            TrainSettings.from_dict(data["settings"]),
            data["dataset"],
            data.get("preset"),
        )


@dataclass(frozen=True)
class TrialRecord:
    """One trial as people read it (and the JSON the command line prints for it)."""

    number: int
    state: str  # "running", "complete", "pruned" or "failed"
    params: dict
    val_loss: float | None
    val_accuracy: float | None
    test_accuracy: float | None
    seconds: float | None
    epochs: int | None
    run: str | None  # the run's folder name in the runs folder
    message: str  # why it ended as it did, in words

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def outcome(self) -> str:
        """Its state in a table's words: "finished", "stopped after epoch 2", "loss exploded"..."""
        if self.state == "pruned":
            return f"stopped after epoch {self.epochs}"
        if self.message.startswith(EXPLODED):
            return "loss exploded"
        return OUTCOMES.get(self.state, self.state)


@dataclass(frozen=True)
class Summary:
    """A sweep so far: its trials, the best, and what mattered."""

    study: str
    planned: int
    trials: list[TrialRecord]
    best: TrialRecord | None
    importances: dict[str, float]  # setting name -> share of the difference, largest first
    sentence: str

    @property
    def finished(self) -> int:
        return sum(t.state in ("complete", "pruned") for t in self.trials)

    @property
    def stopped_early(self) -> int:
        return sum(t.state == "pruned" for t in self.trials)

    def to_json(self) -> dict:
        return {
            "study": self.study,
            "planned": self.planned,
            "finished": self.finished,
            "best": self.best.to_json() if self.best else None,
            "importances": self.importances,
            "what_mattered": self.sentence,
        }


class Sweep:
    """One study in one storage: its plan and base, and the trials it runs."""

    def __init__(self, study: optuna.Study, plan: SweepPlan, base: Base):
        self.study, self.plan, self.base = study, plan, base

    @property
    def name(self) -> str:
        return self.study.study_name

    @classmethod
    def open(cls, storage: str, name: str, plan: SweepPlan | None = None, base: Base | None = None) -> Sweep:
        """The study `name` in `storage` (an Optuna storage URL), made with `plan` and `base` if new.
        Joining an existing one (another machine, a continued sweep) takes its own plan and base; a
        different plan is refused, since the trials would not be comparable."""
        optuna = _optuna()
        if not STUDY_NAME.match(name or ""):
            raise ConfigError("study", f"letters, digits, '-', '_' or '.', at most {TAG_CHARS} (got {name!r})")
        try:
            rdb = optuna.storages.RDBStorage(
                storage,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                # A trial whose process died is queued again with its values (a grid keeps its point).
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2),
            )
        except Exception as error:  # a bad URL, a missing driver, a server that does not answer
            raise ConfigError("storage", f"cannot open {_safe_url(storage)}: {_first_line(error)}") from None
        try:
            rdb.get_study_id_from_name(name)
            exists = True
        except KeyError:
            exists = False
        if not exists:
            if plan is None or base is None:
                raise ConfigError(
                    "study", f"there is no sweep {name!r} in {_safe_url(storage)}; give --vary to start one"
                )
            study = optuna.create_study(study_name=name, storage=rdb, direction="minimize", load_if_exists=True)
            if "plan" not in study.user_attrs:  # another process may have made it a moment ago
                study.set_user_attr("plan", plan.to_dict())
                study.set_user_attr("base", base.to_dict())
                study.set_user_attr("created", time.time())
                if plan.strategy == "grid":
                    for point in plan.grid_points():
                        study.enqueue_trial(point, skip_if_exists=True)
        attrs = optuna.load_study(study_name=name, storage=rdb).user_attrs
        if "plan" not in attrs:
            raise ConfigError("study", f"{name!r} in {_safe_url(storage)} is not a sweep of this dashboard")
        stored_plan, stored_base = SweepPlan.from_dict(attrs["plan"]), Base.from_dict(attrs["base"])
        if plan is not None and plan.vary != stored_plan.vary:
            raise ConfigError(
                "study",
                f"{name!r} already varies {'; '.join(v.describe() for v in stored_plan.vary)}: "
                "leave out --vary to join it, or name a new sweep",
            )
        study = optuna.Study(name, rdb, sampler=stored_plan.sampler(), pruner=stored_plan.pruner())
        return cls(study, stored_plan, stored_base)

    # --- running trials ---------------------------------------------------------------------
    def work(
        self,
        dataset: Dataset,
        store: RunStore,
        *,
        on_trial: Callable[[TrialRecord], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_trainer: Callable[[Any], None] | None = None,
    ) -> list[TrialRecord]:
        """Run trials until the sweep has its number, the time is up, or `should_stop()`.
        `on_trainer(trainer)` is told each trial's trainer (so that a Stop can reach it)."""
        optuna = _optuna()
        started, done, failures = time.monotonic(), [], 0
        while not should_stop():
            if self.plan.seconds is not None and time.monotonic() - started > self.plan.seconds:
                break
            optuna.storages.fail_stale_trials(self.study)
            if self.plan.strategy == "grid":
                self._queue_missing_points()
            waiting = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
            if self._taken() >= self.plan.trial_count and not waiting:
                break
            trial = self.study.ask()
            if self._taken(before=trial.number) >= self.plan.trial_count:  # another process took the last place
                trial.set_user_attr("message", "not needed: the sweep had all its trials")
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            record = self._run_trial(trial, dataset, store, on_trainer)
            done.append(record)
            if on_trial is not None:
                on_trial(record)
            failures = failures + 1 if record.state == "failed" else 0
            if failures >= MAX_FAILURES:
                raise ConfigError("sweep", f"{MAX_FAILURES} trials in a row could not train: {record.message}")
        return done

    def _queue_missing_points(self) -> None:
        """Queue again the grid points no trial holds (one stopped or failed): a grid finishes its
        own points, not random ones."""
        trials = self.study.get_trials(deepcopy=False, states=_held_states())
        held = [t.system_attrs.get("fixed_params") or t.params for t in trials]
        for point in self.plan.grid_points():
            if point not in held:
                self.study.enqueue_trial(point)

    def _taken(self, before: int | None = None) -> int:
        """Trials finished, running or waiting (not failed), numbered before `before` if given."""
        trials = self.study.get_trials(deepcopy=False, states=_held_states())
        return sum(1 for t in trials if before is None or t.number < before)

    def _run_trial(self, trial: optuna.Trial, dataset: Dataset, store: RunStore, on_trainer) -> TrialRecord:
        from .training import Trainer  # the trainer imports the run store, which this module's users need first

        optuna = _optuna()

        params = {v.name: v.suggest(trial) for v in self.plan.vary}
        storage, trial_id = self.study._storage, trial._trial_id  # Optuna's heartbeat is per trial id
        state = {"beat": 0.0, "pruned": None}

        def listen(event: dict) -> None:
            now = time.monotonic()
            if now - state["beat"] > HEARTBEAT_SECONDS / 2:
                state["beat"] = now
                storage.record_heartbeat(trial_id)
            if event["kind"] == events.START and trainer.run_record is not None:
                trainer.run_record.set_notes(Notes(tags=(self.name, "sweep")))
                trial.set_user_attr("run", trainer.run_record.id)
            elif event["kind"] == events.EPOCH and event.get("complete") and _finite(event.get("val_loss")):
                epoch, loss = event["epoch"], event["val_loss"]
                trial.report(loss, epoch)
                last = epoch >= trainer.plan.settings.epochs  # finished: nothing left to save by stopping
                if self.plan.prune and not last and state["pruned"] is None and trial.should_prune():
                    state["pruned"] = self._prune_reason(epoch, loss, trial.number)
                    trainer.stop(because=state["pruned"])

        try:
            architecture, settings = self.base.trial(params)
            trainer = Trainer(architecture, settings, dataset, store=store, on_event=listen, preset=self.base.preset)
        except CnnCoreError as error:  # e.g. a batch larger than the training images
            trial.set_user_attr("message", f"could not start: {error}")
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return self.record(self.study.get_trials(deepcopy=False)[trial.number])
        storage.record_heartbeat(trial_id)
        if on_trainer is not None:
            on_trainer(trainer)
        result = trainer.run()
        trial.set_user_attr("val_accuracy", result.val_accuracy)
        trial.set_user_attr("test_accuracy", result.test_accuracy)
        trial.set_user_attr("seconds", result.train_seconds)
        trial.set_user_attr("epochs", result.epochs_completed)
        if state["pruned"] is not None and result.status != COMPLETED:
            trial.set_user_attr("message", state["pruned"])
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif result.status == COMPLETED and _finite(result.val_loss):
            trial.set_user_attr("message", "finished")
            self.study.tell(trial, result.val_loss)
        elif result.status == DIVERGED:  # a real outcome, not a failure: it counts, as bad as guessing
            trial.set_user_attr("message", f"{EXPLODED}; counted as guessing (loss {_chance(dataset):.2f})")
            self.study.tell(trial, _chance(dataset))
        else:  # stopped by the user, interrupted, failed: its place goes to another trial
            no_validation = result.status == COMPLETED and result.val_loss is None
            trial.set_user_attr("message", NO_VALIDATION if no_validation else result.message)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return self.record(self.study.get_trials(deepcopy=False)[trial.number])

    def _prune_reason(self, epoch: int, loss: float, number: int) -> str:
        others = [
            t.intermediate_values[epoch]
            for t in self.study.get_trials(deepcopy=False)
            if t.number != number and epoch in t.intermediate_values
        ]
        median = f" ({statistics.median(others):.3f})" if others else ""
        return (
            f"stopped after epoch {epoch}: its validation loss {loss:.3f} was worse than the median of the "
            f"others at that epoch{median}"
        )

    # --- reading -----------------------------------------------------------------------------
    @staticmethod
    def record(t: optuna.trial.FrozenTrial) -> TrialRecord:
        optuna = _optuna()
        state = {
            optuna.trial.TrialState.COMPLETE: "complete",
            optuna.trial.TrialState.PRUNED: "pruned",
            optuna.trial.TrialState.RUNNING: "running",
            optuna.trial.TrialState.WAITING: "waiting",
        }.get(t.state, "failed")
        a = t.user_attrs
        return TrialRecord(
            number=t.number,
            state=state,
            params=dict(t.params),
            val_loss=t.value if t.value is not None else (list(t.intermediate_values.values()) or [None])[-1],
            val_accuracy=a.get("val_accuracy"),
            test_accuracy=a.get("test_accuracy"),
            seconds=a.get("seconds"),
            epochs=a.get("epochs"),
            run=a.get("run"),
            message=a.get("message", "training" if state == "running" else ""),
        )

    def trials(self) -> list[TrialRecord]:
        """Every trial that trained or trains (not the surplus ones), by number."""
        return [
            self.record(t)
            for t in self.study.get_trials(deepcopy=False)
            if t.user_attrs.get("message") != "not needed: the sweep had all its trials"
        ]

    def summary(self) -> Summary:
        trials = self.trials()
        complete = [t for t in trials if t.state == "complete" and t.val_loss is not None]
        best = min(complete, key=lambda t: t.val_loss, default=None)
        importances = self.importances()
        return Summary(
            self.name, self.plan.trial_count, trials, best, importances, what_mattered(importances, self.plan)
        )

    def importances(self) -> dict[str, float]:
        """Optuna's parameter importances (its default evaluator); {} until enough trials finished."""
        optuna = _optuna()
        complete = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        varied = [v.name for v in self.plan.vary if len({repr(t.params.get(v.name)) for t in complete}) > 1]
        if len(complete) < 3 or not varied:
            return {}
        try:
            found = optuna.importance.get_param_importances(self.study, params=varied)
        except (RuntimeError, ValueError):  # too few distinct trials to fit
            return {}
        return {name: float(share) for name, share in found.items()}

    def best_for_longer(self, factor: int = 2) -> tuple[Architecture, TrainSettings] | None:
        """The best trial's network and settings, with `factor` times the epochs."""
        best = self.summary().best
        if best is None:
            return None
        architecture, settings = self.base.trial(best.params)
        return architecture, settings.replace(epochs=min(SETTINGS["epochs"].high, settings.epochs * factor))


def what_mattered(importances: dict[str, float], plan: SweepPlan) -> str:
    """One sentence: "Learning rate decided most of the difference (72%); batch size hardly mattered (4%)."."""
    if not importances:
        return "Not enough finished trials yet to say what mattered (three with different values are needed)."
    label = lambda name: SWEEPABLE[name].label.lower()
    ranked = sorted(importances.items(), key=lambda kv: kv[1], reverse=True)
    (top, share), rest = ranked[0], ranked[1:]
    if len(ranked) == 1:
        return f"Only {label(top)} was varied with results to compare: the chart shows how it mattered."
    verb = "decided most of the difference" if share >= 0.5 else "mattered most"
    head = f"{label(top).capitalize()} {verb} ({share:.0%})"
    middle = [f"{label(n)} {s:.0%}" for n, s in rest if s >= 0.1]
    hardly = [(n, s) for n, s in rest if s < 0.1]
    text = head + (f", then {', '.join(middle)}" if middle else "")
    if len(hardly) == 1:
        text += f"; {label(hardly[0][0])} hardly mattered ({hardly[0][1]:.0%})"
    elif hardly:
        text += f"; {' and '.join(f'{label(n)} ({s:.0%})' for n, s in hardly)} hardly mattered"
    return text + "."


def describe_params(params: dict) -> str:
    """A trial's values as in a run's name: "lr 0.00504 · batch 64"."""
    return " · ".join(SWEEPABLE[k].named(v) if k in SWEEPABLE else f"{k} {v}" for k, v in params.items())


def default_storage(runs_root: str | Path) -> str:
    """The embedded default: a SQLite file in the runs folder, nothing to start."""
    root = Path(runs_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / SWEEP_FILE}"


def new_name() -> str:
    return time.strftime("sweep-%m%d-%H%M%S")


def sweep_names(storage: str) -> list[str]:
    """The sweeps in a storage, newest first; none when the file does not exist yet."""
    optuna = _optuna()
    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).exists():
        return []
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    mine = [s for s in summaries if "plan" in s.user_attrs]
    return [s.study_name for s in sorted(mine, key=lambda s: s.user_attrs.get("created", 0), reverse=True)]


def _held_states() -> tuple:
    """The states of a trial that holds one of the sweep's places: finished, running or queued."""
    state = _optuna().trial.TrialState
    return (state.COMPLETE, state.PRUNED, state.RUNNING, state.WAITING)


def _chance(dataset: Dataset) -> float:
    return math.log(dataset.num_classes)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _safe_url(url: str) -> str:
    """A storage URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def dumps(record: TrialRecord | Summary) -> str:
    return json.dumps(record.to_json())
