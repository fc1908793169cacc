"""The trainer: runs one training job and reports everything it does as events (events.py).

`plan()` checks everything a run needs (architecture against the data, split sizes, device,
memory) before any work starts; a `Trainer` is built from the same arguments and holds that plan.
`run()` then trains, blocking the calling thread; call it from a background thread and poll
`progress`, or pass `on_event` (a callable; use `queue.put` for a queue) to receive events as they
happen. `pace` (pacing.py) pauses, steps and slows it between batches, from any thread, without
changing what it computes. `stop()` (from any thread) ends training between two batches; what was learned is kept,
evaluated and saved. A loss that becomes NaN or infinite, or grows far beyond where it started,
ends the run as "diverged" within a step, and the weights return to the last point where the loss
was sane. With the same seed on the CPU, two runs produce the same losses.

`Trainer._train` is the whole loop on one screen; the speed techniques live in tuned.py.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F

from . import checkpoints, diagnosis, run_lock, snapshots, whitening
from . import metrics as metrics_lib
from .architecture import Architecture
from .augment import random_crop_flip
from .data import Dataset, Split, plan_split
from .devices import resolve_device, resolve_precision
from .errors import ConfigError, RunStoreError
from .events import (
    BATCH,
    END,
    EPOCH,
    LOSS,
    SNAPSHOT,
    START,
    BatchEvent,
    EndEvent,
    EpochEvent,
    Event,
    Guess,
    LossPoint,
    Progress,
    SnapshotEvent,
    StartEvent,
)
from .model import CNN, build_model
from .pacing import PAUSED, Pace
from .runs import COMPLETED, DIVERGED, FAILED, INTERRUPTED, RUNNING, STOPPED, Run, RunStore, write_error
from .settings import TrainSettings
from .shapes import ShapeReport, check
from .tuned import TunedCNN, Tuning, available_memory_bytes

log = logging.getLogger(__name__)

EXPLODED = "the loss exploded; lower the learning rate"
EXPLOSION_FACTOR = 10.0  # a loss this many times its starting value counts as exploded
EVAL_BATCH = 500  # images per evaluation step: bounded memory, few Python round trips
MEMORY_FRACTION = 0.5  # refuse a run whose estimated memory exceeds this share of free RAM
TERMINATED = "the training process was asked to end"  # SIGTERM: saved like Stop, resumable
USER_STOPPED = "stopped by the user; what was learned so far is kept"
LOSS_POINTS_PER_EPOCH = 100  # live loss points when running free; every batch at a demo pace
STRIP_SIZE = 10  # fixed test pictures whose guesses a page shows changing as the network learns
SNAPSHOTS_PER_SECOND = 2  # at a demo pace


# --- what a run will do, checked before it starts ------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """A run's inputs, checked, and what follows from them. Pages show it while the run trains
    (in this process or another), and the run folder's config.json is written from it."""

    architecture: Architecture
    settings: TrainSettings
    dataset: Dataset
    report: ShapeReport
    split: Split
    device: torch.device
    dtype: torch.dtype
    batches_per_epoch: int
    preset: str | None = None

    @property
    def total_steps(self) -> int:
        return self.settings.epochs * self.batches_per_epoch

    def split_sizes(self) -> dict:
        sizes = {"train": len(self.split.train), "val": len(self.split.val), "test": len(self.split.test)}
        return {**sizes, "notes": list(self.split.notes)}

    def config(self) -> dict:
        """What the run store saves: enough to rebuild the model and repeat the run."""
        return {
            "format": 1,
            "preset": self.preset,
            "architecture": self.architecture.to_dict(),
            "settings": self.settings.to_dict(),
            "dataset": {**self.dataset.describe(), "mean": list(self.dataset.mean), "std": list(self.dataset.std)},
            "input_shape": list(self.dataset.input_shape),
            "num_classes": self.dataset.num_classes,
            "split": self.split_sizes(),
            "parameters": self.report.parameters,
            "mult_adds": self.report.mult_adds,
            "device": str(self.device),
            "precision": str(self.dtype).removeprefix("torch."),
        }

    def log_info(self) -> dict:
        """The data and network lines of the tutorial-style log (textlog.header_lines)."""
        return {
            "dataset": self.dataset.name,
            "network": self.architecture.name,
            "parameters": self.report.parameters,
            "device": str(self.device),
            **{f"{k}_images": v for k, v in self.split_sizes().items() if k != "notes"},
        }


def plan(
    architecture: Architecture,
    settings: TrainSettings,
    dataset: Dataset,
    strict: frozenset[str] | set[str] = frozenset(),
    preset: str | None = None,
    max_batches: int | None = None,
) -> Plan:
    """Check everything a run needs; raises ConfigError / ArchitectureError before any work.

    strict: settings fields the user gave explicitly; sizes the data cannot supply are refused
    for these instead of clamped. max_batches: cut each epoch short (for dry runs)."""
    report = check(architecture, dataset.input_shape, dataset.num_classes)
    if settings.whiten:
        whitening.check_architecture(architecture)
    split = plan_split(dataset, settings, strict)
    device = resolve_device(settings.device)
    needed, free = estimate_memory_bytes(report, settings.batch_size), available_memory_bytes()
    if free is not None and needed > MEMORY_FRACTION * free:
        raise ConfigError(
            "batch_size",
            f"is too large for this network: one training step would need about {needed / 2**30:.1f} GB, "
            f"but only {MEMORY_FRACTION * free / 2**30:.1f} GB can be used; lower the batch size or "
            "use fewer channels",
        )
    batches = math.ceil(len(split.train) / settings.batch_size)
    return Plan(
        architecture=architecture,
        settings=settings,
        dataset=dataset,
        report=report,
        split=split,
        device=device,
        dtype=resolve_precision(settings.precision, device),
        batches_per_epoch=min(batches, max_batches) if max_batches is not None else batches,
        preset=preset,
    )


def plan_resume(run: Run, dataset: Dataset) -> tuple[Plan, dict]:
    """The plan of a saved run and its last epoch checkpoint, if it can be continued on `dataset`;
    RunStoreError (in words) if it has no checkpoint, was trained on other data, or another
    process still trains it."""
    setup = run.setup()
    trained_on, offered = setup.dataset, dataset.describe()
    # An import is named by its content's hash: another archive with the same name and counts is other data.
    other_import = trained_on.source.startswith("imported:") and trained_on.source != offered["source"]
    same = (trained_on.name, trained_on.train_images, trained_on.test_images) == (
        offered["name"],
        offered["train_images"],
        offered["test_images"],
    )
    if other_import or not same:
        raise RunStoreError(f"run {run.id} was trained on '{trained_on.name}'; load that data set to resume it")
    if (holder := run_lock.writer(run.path)) is not None:
        raise RunStoreError(f"run {run.id}: this run is still training ({run_lock.describe(holder)})")
    checkpoint = checkpoints.load(run.path / checkpoints.FILENAME, f"run {run.id}")
    return plan(setup.architecture, setup.settings, dataset, preset=setup.preset), checkpoint


def estimate_memory_bytes(report: ShapeReport, batch_size: int) -> int:
    """Rough peak memory of one training step: activations kept for backward, their gradients,
    and parameters with gradients and two optimizer moments (4 bytes each)."""
    activations = report.activation_values * batch_size * 4 * 3
    weights = report.parameters * 4 * 4
    return activations + weights


# --- how a run ended ------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """How a run ended. `to_json` is every field but the bulky ones (the test metrics and the
    history are in the run folder)."""

    status: str  # completed, stopped, interrupted, diverged or failed
    message: str
    epochs_completed: int
    parameters: int
    train_seconds: float  # wall time of training and per-epoch validation (the tutorial's "took")
    images_per_second: float  # training images per second of training steps alone
    dataset: dict
    split: dict
    run_dir: str | None
    val_loss: float | None = None
    val_accuracy: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_metrics: dict | None = None
    history: list[Event] = field(default_factory=list)

    BULKY = ("test_metrics", "history")

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.BULKY}

    @classmethod
    def from_json(cls, data: dict) -> TrainResult:
        """The result a training process sent as JSON (to_json's output)."""
        return _from_fields(cls, data)


def _from_fields(cls, data: dict):
    """An instance of dataclass `cls` from the keys of `data` that are its fields (others ignored)."""
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class Counters:
    """Where a run has got to. Saved in every epoch checkpoint, so a resumed run counts on."""

    epoch: int = 0  # epochs completed
    step: int = 0
    images_seen: int = 0
    step_seconds: float = 0.0  # time in training steps alone
    start_loss: float | None = None  # the first batch's loss: the yardstick for "exploded"
    elapsed: float = 0.0  # wall time of the run so far, validation included
    val_loss: float | None = None
    val_accuracy: float | None = None

    @classmethod
    def from_checkpoint(cls, saved: dict) -> Counters:
        return _from_fields(cls, saved)

    @property
    def images_per_second(self) -> float:
        return self.images_seen / self.step_seconds if self.step_seconds else 0.0


@dataclass
class Tally:
    """Sums over a stretch of batches (a logging interval, or an epoch)."""

    losses: list[float] = field(default_factory=list)  # every batch's loss: the history, the interval's mean
    weighted_loss: float = 0.0  # by images, for the epoch's mean
    images: int = 0
    correct: torch.Tensor | int = 0  # summed on the device: no extra sync per batch
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None

    def seconds(self) -> float:
        """From the first batch to the last (or to now, while it lasts)."""
        return (self.ended or time.perf_counter()) - self.started

    def add(self, loss: float, images: int, correct: torch.Tensor | None = None) -> None:
        self.losses.append(loss)
        self.weighted_loss += loss * images
        self.images += images
        if correct is not None:
            self.correct = self.correct + correct


@dataclass
class Generators:
    """All of a run's randomness, seeded from the settings, so the same seed repeats the same run."""

    shuffle: torch.Generator
    augment: torch.Generator

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> Generators:
        torch.manual_seed(seed)  # dropout, the one user of the global generator
        return cls(torch.Generator().manual_seed(seed), torch.Generator(device=device).manual_seed(seed + 2))


# --- the trainer ----------------------------------------------------------------------------------------
class Trainer:
    def __init__(
        self,
        architecture: Architecture,
        settings: TrainSettings,
        dataset: Dataset,
        *,
        store: RunStore | None = None,
        on_event: Callable[[Event], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        strict: frozenset[str] | set[str] = frozenset(),
        preset: str | None = None,
        max_batches: int | None = None,
        tuning: Tuning | None = None,
        pace: Pace | None = None,
        between_epochs: Callable[[int, float, TunedCNN], None] | None = None,
    ):
        """Check everything a run needs (see `plan`); raises before any work.

        between_epochs(epoch, training_seconds, net): called after each completed epoch, off the
        clock (its time is not training time): the time-to-accuracy benchmark tests there."""
        self.plan = plan(architecture, settings, dataset, strict, preset, max_batches)
        self.pace = pace or Pace()
        self.between_epochs = between_epochs
        self.store = store
        self.on_event = on_event
        self.on_progress = on_progress
        self.tuning = tuning or Tuning()
        self.run_record: Run | None = None
        self.progress: Progress = {"status": "ready", "fraction": 0.0}
        self.history: list[Event] = []
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._stop_message: str | None = None
        self._resume: dict | None = None  # a checkpoint to continue from (see Trainer.resume)
        self._val: tuple[torch.Tensor, torch.Tensor] | None = None  # validation images and labels
        self._strip: tuple[torch.Tensor, torch.Tensor] | None = None  # the snapshots' test pictures and pixels
        self._kept_step: int | None = None  # the step of the last snapshot kept in the run folder

    @classmethod
    def resume(
        cls,
        run: Run,
        dataset: Dataset,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Trainer:
        """A trainer that continues `run` from its last epoch checkpoint, in the same folder, as
        its one writer. The history is cut back to that epoch first, so no row appears twice.
        Raises RunStoreError if it cannot (see plan_resume)."""
        p, checkpoint = plan_resume(run, dataset)
        lock = run.take_lock()
        trainer = cls(p.architecture, p.settings, dataset, on_event=on_event, on_progress=on_progress, preset=p.preset)
        epoch = checkpoint["counters"]["epoch"]
        try:
            trainer.history = [
                row
                for row in run.history()
                if row["epoch"] <= epoch and not (row["kind"] == EPOCH and not row.get("complete", True))
            ]
        except BaseException:
            lock.release()
            raise
        run.lock = lock
        trainer.run_record = run
        trainer._resume = checkpoint
        snapshots.forget_after(run.path, checkpoint["counters"]["step"])  # that stretch is trained again
        return trainer

    def stop(self, interrupted: str | None = None, because: str | None = None) -> None:
        """Ask the run to end after the current batch, saving what it learned. Safe to call from
        any thread. With `interrupted` (why: "the app stopped"), the run ends as interrupted, not
        as stopped by the user: it was not the user's choice, and it can be resumed. With
        `because`, it ends as stopped with that message (a sweep's "worse than the median")."""
        if interrupted and not self._stop.is_set():
            self._stop_reason = interrupted
        if because and not self._stop.is_set():
            self._stop_message = because
        self._stop.set()
        self.pace.release()  # a paused run stops too

    def control(self, command: str) -> None:
        """Pause, resume, step or pace the run (pacing.Pace.command's words); "stop" stops it."""
        if command.strip() == "stop":
            self.stop()
        else:
            self.pace.command(command)

    # ----------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train to the end, a stop request, or divergence. Never raises for a training failure:
        the result says "failed" with a message, and the traceback goes to the log. A run folder
        that cannot be written raises RunStoreError, in words."""
        if self._resume is not None:
            self.run_record.rewrite_history(self.history)
            self.run_record.write_status(RUNNING, "resumed")
        elif self.store is not None:
            try:
                self.run_record = self.store.create(
                    self.plan.config(), label=self.plan.preset or self.plan.architecture.name
                )
            except OSError as error:
                raise write_error(self.store.root, error) from None
        try:
            return self._train()
        except OSError as error:  # the run folder cannot be written (a full or read-only disk)
            refusal = write_error(self.store.root if self.store else None, error)
            self._fail(str(refusal))
            raise refusal from None
        except Exception as error:
            log.exception("training failed")
            return self._fail(f"training failed: {error}")
        finally:  # the status is final: another process may now resume or delete the run
            if self.run_record is not None and self.run_record.lock is not None:
                self.run_record.lock.release()

    def _train(self) -> TrainResult:
        p, s = self.plan, self.plan.settings
        net = TunedCNN(self._build_model(), self.tuning, p.device)
        optimizer = make_optimizer(net.model, s, fused=net.fused_optimizer)
        scheduler = (
            torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=s.learning_rate, total_steps=p.total_steps)
            if s.schedule == "onecycle"
            else None
        )
        gens = Generators.seeded(s.seed, p.device)
        c = Counters()
        if self._resume is not None:
            saved = checkpoints.restore(self._resume, net, optimizer, scheduler, gens.shuffle, gens.augment)
            c = Counters.from_checkpoint(saved)
        images, labels = (
            p.dataset.train_images[p.split.train].to(p.device),
            p.dataset.train_labels[p.split.train].to(p.device),
        )
        # Without augmentation every epoch sees the same pixels: normalise them once.
        prepared = net.prepare_inputs(images, p.dtype) if self.tuning.prepared_inputs and not s.augment else None
        log_points = {max(1, p.batches_per_epoch * k // s.logs_per_epoch) for k in range(1, s.logs_per_epoch + 1)}
        stream_every = max(1, p.batches_per_epoch // LOSS_POINTS_PER_EPOCH)
        self._emit_start(len(images))
        self._emit_snapshot(net, c.step, float(c.epoch), keep=True)  # untrained: random filters, random guesses
        first_tenths = snapshots.tenths(p.batches_per_epoch)  # kept: the filters change most in the first epoch

        status, message = COMPLETED, "training finished"
        good_weights = _snapshot(net.model)  # where to return to if the loss explodes
        start = time.perf_counter() - c.elapsed
        for epoch in range(c.epoch + 1, s.epochs + 1):
            net.train()
            if s.whiten and epoch > s.whiten_bias_epochs:
                # Nothing in the first layer learns now: no step carries a gradient back into it.
                whitening.freeze_first_conv(net.model, bias=True)
            order = torch.randperm(len(images), generator=gens.shuffle).to(p.device)
            epoch_tally, interval = Tally(), Tally()
            for batch in range(1, p.batches_per_epoch + 1):
                start += self.pace.wait(self._say_paused)  # a pause is not training time
                if self._stop.is_set():
                    status, message = STOPPED, self._stop_message or USER_STOPPED
                    break
                t0 = time.perf_counter()
                idx = order[(batch - 1) * s.batch_size : batch * s.batch_size]
                if prepared is not None:
                    x = prepared[idx]
                else:
                    x = images[idx]
                    if s.augment:
                        x = random_crop_flip(x, gens.augment, padding=s.augment_shift)
                    x = net.batch_inputs(x.float().div_(255))
                y = labels[idx]
                with torch.autocast(p.device.type, dtype=p.dtype, enabled=p.dtype != torch.float32):
                    logits = net(x, normalized=True)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=s.label_smoothing)
                loss_value = float(loss.detach())  # one sync per step; needed to catch divergence at once
                if c.start_loss is None:
                    c.start_loss = loss_value
                if not math.isfinite(loss_value) or loss_value > EXPLOSION_FACTOR * max(c.start_loss, 1e-3):
                    status, message = DIVERGED, EXPLODED
                    interval.add(loss_value, len(idx))  # kept and drawn: where it exploded
                    self._emit_loss(epoch, batch, loss_value, c.step + 1)
                    self._emit_batch(epoch, batch, interval, optimizer, c, exploded=True)
                    break
                if batch in log_points:  # these weights just gave a sane loss
                    good_weights = _snapshot(net.model)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                c.step += 1
                c.step_seconds += time.perf_counter() - t0
                c.images_seen += len(idx)
                epoch_tally.add(loss_value, len(idx), (logits.argmax(1) == y).sum())
                interval.add(loss_value, len(idx))
                self._set_progress(epoch, batch, time.perf_counter() - start, c)
                if self.pace.batches_per_second or batch % stream_every == 0 or batch in log_points:
                    self._emit_loss(epoch, batch, loss_value, c.step)
                if batch in log_points:
                    self._emit_batch(epoch, batch, interval, optimizer, c)
                    interval = Tally()
                rate = self.pace.batches_per_second
                keep = epoch == 1 and batch in first_tenths
                if keep or batch in log_points or (rate and c.step % max(1, round(rate / SNAPSHOTS_PER_SECOND)) == 0):
                    self._emit_snapshot(net, c.step, epoch - 1 + batch / p.batches_per_epoch, keep=keep)

            epoch_tally.ended = time.perf_counter()  # the epoch's speed is its training loop alone
            self.pace.epoch_ended()
            if status == DIVERGED:
                net.model.load_state_dict(good_weights)
                break
            if status == STOPPED and epoch_tally.images == 0:
                break
            # An epoch cut short by Stop still gets its validation, so the user sees where it got to.
            c.val_loss, c.val_accuracy = self._validate(net, c)
            c.epoch = epoch if status == COMPLETED else c.epoch
            c.elapsed = time.perf_counter() - start
            self._emit_epoch(epoch, status == COMPLETED, epoch_tally, c, len(images))
            self._emit_snapshot(net, c.step, epoch - 1 + epoch_tally.images / len(images), keep=True)
            if status == COMPLETED:
                self._checkpoint(net, optimizer, scheduler, gens, c)
                if self.between_epochs is not None:
                    probe_started = time.perf_counter()
                    self.between_epochs(epoch, c.elapsed, net)
                    start += time.perf_counter() - probe_started
            self._heartbeat(c.epoch)
            if status != COMPLETED:
                break

        c.elapsed = time.perf_counter() - start
        if status == DIVERGED:
            c.val_loss, c.val_accuracy = self._validate(net, c)
        return self._finish(net.unwrap(), status, message, c)

    # --- the loop's helpers ----------------------------------------------------------------------
    def _build_model(self) -> CNN:
        p = self.plan
        data = p.dataset
        model = build_model(
            p.architecture, data.input_shape, data.num_classes, data.mean, data.std, seed=p.settings.seed
        ).to(p.device)
        if p.settings.whiten:  # a resumed run's checkpoint then overwrites them with the same filters
            whitening.whiten_first_conv(model, data.train_images[p.split.train[: whitening.PATCH_IMAGES]].to(p.device))
        return model

    def _validate(self, net: torch.nn.Module, c: Counters) -> tuple[float | None, float | None]:
        """Validation loss and accuracy; the last values again when there are no validation images."""
        p = self.plan
        if not len(p.split.val):
            return c.val_loss, c.val_accuracy
        if self._val is None:  # gathered once per run
            self._val = (
                p.dataset.train_images[p.split.val].to(p.device),
                p.dataset.train_labels[p.split.val].to(p.device),
            )
        loss, accuracy, _ = evaluate(net, *self._val, p.dtype)
        return loss, accuracy

    def _checkpoint(self, net: TunedCNN, optimizer, scheduler, gens: Generators, c: Counters) -> None:
        """Weights, optimizer, schedule, random state and counters: enough to resume after a crash."""
        if self.run_record is not None:
            path = self.run_record.path / checkpoints.FILENAME
            checkpoints.save(path, net, optimizer, scheduler, gens.shuffle, gens.augment, asdict(c))

    def _set_progress(self, epoch: int, batch: int, elapsed: float, c: Counters) -> None:
        fraction = c.step / self.plan.total_steps
        self._publish(
            Progress(
                status=RUNNING,
                epoch=epoch,
                epochs=self.plan.settings.epochs,
                batch=batch,
                batches=self.plan.batches_per_epoch,
                fraction=fraction,
                elapsed=elapsed,
                eta=elapsed / fraction * (1 - fraction),
                images_per_second=c.images_per_second,
            )
        )

    def _say_paused(self) -> None:
        self._publish({**self.progress, "status": PAUSED})

    def _publish(self, progress: Progress) -> None:
        self.progress = progress
        if self.on_progress is not None:
            self.on_progress(progress)

    def _emit(self, event: Event, record: bool = True) -> None:
        """Tell the listener; `record`: also keep it in the history (memory and the run folder)."""
        if record:
            self.history.append(event)
            if self.run_record is not None:
                self.run_record.append_history([event])
                if self.run_record.lock is not None:
                    self.run_record.lock.heartbeat()
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not kill the training run
                log.exception("event listener failed")

    def _emit_start(self, train_images: int) -> None:
        p = self.plan
        start = StartEvent(
            kind=START,
            run_dir=str(self.run_record.path) if self.run_record else None,
            epochs=p.settings.epochs,
            batches_per_epoch=p.batches_per_epoch,
            train_images=train_images,
            val_images=len(p.split.val),
            test_images=len(p.split.test),
            parameters=p.report.parameters,
            device=str(p.device),
            notes=[*p.dataset.notes, *p.split.notes],
            settings=p.settings.to_dict(),
        )
        self._emit(start, record=False)

    def _emit_snapshot(self, net: TunedCNN, step: int, epoch_progress: float, keep: bool = False) -> None:
        """The strip's guesses and the first filters now, for whoever watches, and with `keep`, in
        the run's folder (snapshots.py). An evaluation-mode forward pass of a few pictures: it
        changes nothing training uses (no batch-norm statistics, no random numbers)."""
        keep = keep and self.run_record is not None and step != self._kept_step
        if self.on_event is None and not keep:
            return  # nobody watching, nothing to keep (the benchmark): nothing to compute
        p = self.plan
        if self._strip is None:  # chosen, and their pixels gathered, once per run
            chosen = p.split.test[strip_indices(p.dataset.test_labels[p.split.test], STRIP_SIZE, p.dataset.num_classes)]
            self._strip = chosen, p.dataset.test_images[chosen].to(p.device).float().div_(255)
        chosen, images = self._strip
        was_training = net.training
        net.eval()
        with torch.no_grad(), torch.autocast(p.device.type, dtype=p.dtype, enabled=p.dtype != torch.float32):
            probabilities = net(images).float().softmax(1).cpu()
        net.train(was_training)
        confidence, guess = probabilities.max(1)
        labels = p.dataset.test_labels[chosen]
        conv = next((layer for layer in net.model.layers if isinstance(layer, torch.nn.Conv2d)), None)
        if keep:
            snapshots.save_snapshot(self.run_record.path, snapshots.Snapshot(
                step, epoch_progress, conv.weight if conv is not None else None,
                chosen, labels, guess, confidence))  # fmt: skip
            self._kept_step = step
        if self.on_event is not None:  # as JSON-ready lists: the app's training process sends them on
            strip = [
                Guess(index=int(i), label=int(y), guess=int(g), confidence=float(c))
                for i, y, g, c in zip(chosen, labels, guess, confidence, strict=True)
            ]
            filters = conv.weight.detach().float().cpu().tolist() if conv is not None else None
            event = SnapshotEvent(kind=SNAPSHOT, step=step, epoch_progress=epoch_progress, strip=strip, filters=filters)
            self._emit(event, record=False)

    def _emit_loss(self, epoch: int, batch: int, loss: float, step: int) -> None:
        n = self.plan.batches_per_epoch
        point = LossPoint(kind=LOSS, step=step, epoch_progress=epoch - 1 + batch / n, loss=_number(loss))
        self._emit(point, record=False)

    def _emit_batch(
        self, epoch: int, batch: int, interval: Tally, optimizer, c: Counters, exploded: bool = False
    ) -> None:
        n = self.plan.batches_per_epoch
        event = BatchEvent(
            kind=BATCH,
            epoch=epoch,
            batch=batch,
            batches=n,
            step=c.step,
            epoch_progress=epoch - 1 + batch / n,
            percent=int(100 * batch / n),
            train_loss=_number(sum(interval.losses) / len(interval.losses)),
            seconds=interval.seconds(),
            elapsed=self.progress.get("elapsed", 0.0),
            eta=self.progress.get("eta", 0.0),
            images_per_second=c.images_per_second,
            learning_rate=optimizer.param_groups[0]["lr"],
            losses=[_number(v) for v in interval.losses],
        )
        if exploded:
            event["exploded"] = True
        self._emit(event)
        self._heartbeat(c.epoch)

    def _emit_epoch(self, epoch: int, complete: bool, tally: Tally, c: Counters, train_images: int) -> None:
        done, seconds = c.step / self.plan.total_steps, tally.seconds()
        event = EpochEvent(
            kind=EPOCH,
            epoch=epoch,
            complete=complete,
            step=c.step,
            epoch_progress=float(epoch) if complete else epoch - 1 + tally.images / train_images,
            train_loss=tally.weighted_loss / max(1, tally.images),
            train_accuracy=int(tally.correct) / max(1, tally.images),
            val_loss=c.val_loss,
            val_accuracy=c.val_accuracy,
            elapsed=c.elapsed,
            eta=c.elapsed / done * (1 - done) if done else None,
            images_per_second=c.images_per_second,
            epoch_images_per_second=tally.images / seconds if seconds else 0.0,
        )
        accuracy = c.val_accuracy if c.val_accuracy is not None else event["train_accuracy"]
        if complete and (
            note := diagnosis.not_learning(
                accuracy, event["train_loss"], self.plan.dataset.num_classes, self.plan.settings
            )
        ):
            event["note"] = note
        self._emit(event)

    def _heartbeat(self, epochs_completed: int) -> None:
        if self.run_record is not None:
            self.run_record.write_status(RUNNING, "", epochs_completed=epochs_completed, progress=self.progress)

    def _result(self, status: str, message: str, c: Counters, **test: Any) -> TrainResult:
        p = self.plan
        return TrainResult(
            status=status,
            message=message,
            epochs_completed=c.epoch,
            parameters=p.report.parameters,
            train_seconds=c.elapsed,
            images_per_second=c.images_per_second,
            dataset=p.dataset.describe(),
            split=p.split_sizes(),
            run_dir=str(self.run_record.path) if self.run_record else None,
            val_loss=c.val_loss,
            val_accuracy=c.val_accuracy,
            history=self.history,
            **test,
        )

    def _end(self, result: TrainResult) -> None:
        """The final status, on the progress snapshot, in the run folder, and as the end event."""
        r = result
        fraction = 1.0 if r.status == COMPLETED else self.progress.get("fraction", 0.0)
        self._publish({**self.progress, "status": r.status, "message": r.message, "fraction": fraction})
        if self.run_record is not None:
            self.run_record.write_status(r.status, r.message, epochs_completed=r.epochs_completed)
        end = EndEvent(kind=END, status=r.status, message=r.message)
        if r.test_accuracy is not None:
            end.update(
                epochs_completed=r.epochs_completed,
                train_seconds=r.train_seconds,
                images_per_second=r.images_per_second,
                val_accuracy=r.val_accuracy,
                test_loss=r.test_loss,
                test_accuracy=r.test_accuracy,
            )
        self._emit(end, record=False)

    def _finish(self, model: CNN, status: str, message: str, c: Counters) -> TrainResult:
        """Test the trained model, save everything to the run folder, and say how it ended."""
        if status == STOPPED and self._stop_reason:
            status, message = INTERRUPTED, f"interrupted ({self._stop_reason}); it can be resumed"
        p = self.plan
        labels = p.dataset.test_labels[p.split.test].to(p.device)
        loss, accuracy, probabilities = evaluate(
            model,
            p.dataset.test_images[p.split.test].to(p.device),
            labels,
            p.dtype,
            flip=p.settings.test_flip,
            shifts=p.settings.test_shifts,
        )
        metrics = metrics_lib.summary(labels.cpu(), probabilities, p.dataset.classes)
        result = self._result(status, message, c, test_loss=loss, test_accuracy=accuracy, test_metrics=metrics)
        if self.run_record is not None:
            run = self.run_record
            run.save_weights(model.state_dict())
            run.save_predictions(p.split.test, labels.cpu(), probabilities)
            run.save_metrics(
                {
                    **{
                        k: getattr(result, k)
                        for k in ("status", "message", "epochs_completed", "train_seconds", "images_per_second")
                    },
                    "val": {"loss": c.val_loss, "accuracy": c.val_accuracy} if c.val_accuracy is not None else None,
                    "test": {**metrics, "loss": loss},
                }
            )
        self._end(result)
        return result

    def _fail(self, message: str) -> TrainResult:
        """The run ends as failed; its folder says so where the disk still allows."""
        result = self._result(FAILED, message, Counters())
        try:
            self._end(result)
        except OSError:
            pass  # the disk that refused the run refuses its status too
        return result


def strip_indices(labels: torch.Tensor, count: int, classes: int) -> torch.Tensor:
    """Positions of `count` pictures for the strip: the first of each class in turn (one of every
    class before a second of any), so the strip shows as many classes as it can."""
    chosen: list[int] = []
    by_class = [torch.nonzero(labels == k).flatten().tolist() for k in range(classes)]
    for rank in range(max((len(c) for c in by_class), default=0)):
        for positions in by_class:
            if rank < len(positions) and len(chosen) < count:
                chosen.append(positions[rank])
    return torch.tensor(chosen, dtype=torch.long)


def _number(value: float) -> float | None:
    """A loss as events carry it: None where it is not a number (JSON has no NaN or infinity)."""
    return value if math.isfinite(value) else None


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def make_optimizer(model: torch.nn.Module, s: TrainSettings, fused: bool = False) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]  # not a whitened first layer's filters
    options = {"fused": True} if fused else {}
    if s.optimizer == "sgd":
        nesterov = s.nesterov and s.momentum > 0  # nothing to look ahead along without momentum
        return torch.optim.SGD(
            params, lr=s.learning_rate, momentum=s.momentum, nesterov=nesterov, weight_decay=s.weight_decay, **options
        )
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay, **options)
    return torch.optim.Adam(params, lr=s.learning_rate, weight_decay=s.weight_decay, **options)


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    dtype: torch.dtype = torch.float32,
    flip: bool = False,
    shifts: bool = False,
) -> tuple[float, float, torch.Tensor]:
    """Mean cross-entropy, accuracy and class probabilities (on the CPU) over uint8 images.
    flip: average the answers for each image and its mirror image. shifts: also for the image
    moved one pixel up and left and one pixel down and right (edges mirrored), with flip six views."""
    was_training = model.training
    model.eval()
    loss_sum, correct, probabilities = 0.0, 0, []
    for start in range(0, images.shape[0], EVAL_BATCH):
        x = images[start : start + EVAL_BATCH].float().div_(255)
        y = labels[start : start + EVAL_BATCH]
        views = [x]
        if shifts and min(x.shape[2:]) > 1:  # a 1-pixel picture has nothing to mirror into its edge
            padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
            h, w = x.shape[2:]
            views += [padded[:, :, :h, :w], padded[:, :, 2:, 2:]]
        if flip:
            views += [view.flip(3) for view in views]
        with torch.autocast(x.device.type, dtype=dtype, enabled=dtype != torch.float32):
            # The log of the mean probability over the views, so the loss stays a cross-entropy.
            answers = torch.stack([model(view).float().log_softmax(1) for view in views])
            logits = answers.logsumexp(0) - math.log(len(views))
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        probabilities.append(logits.softmax(1).cpu())
    model.train(was_training)
    n = max(1, images.shape[0])
    probs = torch.cat(probabilities) if probabilities else torch.zeros(0, 0)
    return loss_sum / n, correct / n, probs
