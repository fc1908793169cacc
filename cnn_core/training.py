"""The trainer: runs one training job and reports everything it does as events.

A `Trainer` is built with everything it needs (architecture, settings, data set, an optional run
store) and checks all of it before any work starts. `run()` then trains, blocking the calling
thread; call it from a background thread and poll `progress`, or pass `on_event` (a callable; use
`queue.put` for a queue) to receive events as they happen:

    start   once: split sizes, parameter count, device, notes about clamped sizes
    batch   every 1/logs_per_epoch of an epoch: mean train loss over the interval, speed, ETA
    epoch   after each epoch: train loss and accuracy, validation loss and accuracy
    end     once: final status and message, validation and test results

`stop()` (from any thread) ends training between two batches; what was learned is kept, evaluated
and saved. A loss that becomes NaN or infinite, or grows far beyond where it started, ends the run
as "diverged" within a step, and the weights return to the last point where the loss was sane.
With the same seed on the CPU, two runs produce the same losses.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F

from . import checkpoints, run_lock
from . import metrics as metrics_lib
from .architecture import Architecture
from .augment import random_crop_flip
from .data import Dataset, Split, plan_split
from .devices import resolve_device, resolve_precision
from .errors import CnnCoreError, ConfigError, RunStoreError
from .model import CNN, build_model
from .presets import canonical
from .runs import COMPLETED, DIVERGED, FAILED, INTERRUPTED, RUNNING, STOPPED, Run, RunStore, write_error
from .settings import TrainSettings
from .shapes import ShapeReport, check

log = logging.getLogger(__name__)

EXPLODED = "the loss exploded; lower the learning rate"
EXPLOSION_FACTOR = 10.0  # a loss this many times its starting value counts as exploded
EVAL_BATCH = 500  # images per evaluation step: bounded memory, few Python round trips
MEMORY_FRACTION = 0.5  # refuse a run whose estimated memory exceeds this share of free RAM
PREPARED_LIMIT = 2 * 1024**3  # bytes: above this the training images are normalised per batch instead

Event = dict[str, Any]


@dataclass(frozen=True)
class Tuning:
    """Speed techniques, each kept because the benchmark showed it helps (docs/benchmarks.md);
    switches exist so the benchmark can show it again."""

    channels_last: bool = True  # NHWC tensors: oneDNN's fast convolution and pooling layout
    fused_optimizer: bool = True  # one kernel for the whole optimizer step instead of one per tensor
    hwc_flatten: bool = True  # with channels-last: flatten without a layout copy (CNN.use_hwc_flatten)
    prepared_inputs: bool = True  # without augmentation: normalise the training images once, not per batch
    swap_relu_pool: bool = True  # ReLU then max pooling computed as pooling then ReLU: same numbers, less work
    pairwise_pool: bool = True  # 2x2 max pooling as two pairwise maxima (pooling.py): same numbers, no indices


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

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("test_metrics", "history")}


def estimate_memory_bytes(report: ShapeReport, batch_size: int) -> int:
    """Rough peak memory of one training step: activations kept for backward, their gradients,
    and parameters with gradients and two optimizer moments (4 bytes each)."""
    activations = report.activation_values * batch_size * 4 * 3
    weights = report.parameters * 4 * 4
    return activations + weights


def available_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


TERMINATED = "the training process was asked to end"  # SIGTERM: saved like Stop, resumable


class Trainer:
    def __init__(
        self,
        architecture: Architecture,
        settings: TrainSettings,
        dataset: Dataset,
        *,
        store: RunStore | None = None,
        on_event: Callable[[Event], None] | None = None,
        strict: frozenset[str] | set[str] = frozenset(),
        preset: str | None = None,
        max_batches: int | None = None,
        tuning: Tuning | None = None,
    ):
        """Check everything a run needs; raises ConfigError / ArchitectureError before any work.

        strict: settings fields the user gave explicitly; sizes the data cannot supply are
        refused for these instead of clamped. max_batches: cut each epoch short (for dry runs).
        """
        self.architecture = architecture
        self.settings = settings
        self.dataset = dataset
        self.store = store
        self.on_event = on_event
        self.preset = preset
        self.max_batches = max_batches
        self.report = check(architecture, dataset.input_shape, dataset.num_classes)
        self.split: Split = plan_split(dataset, settings, strict)
        self.device = resolve_device(settings.device)
        self.dtype = resolve_precision(settings.precision, self.device)
        self.tuning = tuning or Tuning()
        needed, free = estimate_memory_bytes(self.report, settings.batch_size), available_memory_bytes()
        if free is not None and needed > MEMORY_FRACTION * free:
            raise ConfigError(
                "batch_size",
                f"is too large for this network: one training step would need about {needed / 2**30:.1f} GB, "
                f"but only {MEMORY_FRACTION * free / 2**30:.1f} GB can be used; lower the batch size or "
                "use fewer channels",
            )
        self.batches_per_epoch = math.ceil(len(self.split.train) / settings.batch_size)
        if max_batches is not None:
            self.batches_per_epoch = min(self.batches_per_epoch, max_batches)
        self.run_record: Run | None = None
        self.progress: dict[str, Any] = {"status": "ready", "fraction": 0.0}
        self.history: list[Event] = []
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._resume: dict | None = None  # a checkpoint to continue from (see Trainer.resume)

    @classmethod
    def resume(
        cls, run: Run, dataset: Dataset, *, on_event: Callable[[Event], None] | None = None, take_lock: bool = True
    ) -> Trainer:
        """A trainer that continues `run` from its last epoch checkpoint, in the same folder.

        The history is cut back to that epoch first, so no row appears twice. Raises RunStoreError
        if the run has no checkpoint or was trained on other data."""
        config = run.config()
        try:
            architecture = Architecture.from_dict(config["architecture"])
            settings = TrainSettings.from_dict(config["settings"])
        except (KeyError, CnnCoreError) as error:
            raise RunStoreError(f"run {run.id}: its configuration cannot be read ({error})") from None
        trained_on, offered = config.get("dataset", {}), dataset.describe()
        # An import is named by its content's hash: another archive with the same name and counts is other data.
        other_import = (
            str(trained_on.get("source", "")).startswith("imported:") and trained_on["source"] != offered["source"]
        )
        if other_import or [trained_on.get(k) for k in ("name", "train_images", "test_images")] != [
            offered[k] for k in ("name", "train_images", "test_images")
        ]:
            raise RunStoreError(
                f"run {run.id} was trained on '{trained_on.get('name')}'; load that data set to resume it"
            )
        # One writer per run: refused while another process still trains it. A trainer built only
        # to check the request (the app's, before a training process takes over) does not lock.
        lock = run.take_lock() if take_lock else None
        if lock is None and (holder := run_lock.writer(run.path)) is not None:
            raise RunStoreError(f"run {run.id}: this run is still training ({run_lock.describe(holder)})")
        try:
            checkpoint = checkpoints.load(run.path / checkpoints.FILENAME, f"run {run.id}")
            trainer = cls(architecture, settings, dataset, on_event=on_event, preset=canonical(config.get("preset")))
            epoch = checkpoint["counters"]["epoch"]
            trainer.history = [  # cut back to the checkpoint when the run starts, so no row appears twice
                row
                for row in run.history()
                if row.get("epoch", 0) <= epoch and not (row.get("kind") == "epoch" and not row.get("complete", True))
            ]
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        run.lock = lock
        trainer.run_record = run
        trainer._resume = checkpoint
        return trainer

    # ----------------------------------------------------------------------------------------
    def stop(self, interrupted: str | None = None) -> None:
        """Ask the run to end after the current batch, saving what it learned. Safe to call from
        any thread. With `interrupted` (why: "the app stopped"), the run ends as interrupted, not
        as stopped by the user: it was not the user's choice, and it can be resumed."""
        if interrupted and not self._stop.is_set():
            self._stop_reason = interrupted
        self._stop.set()

    def _emit(self, event: Event, record: bool = True) -> None:
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

    def split_sizes(self) -> dict:
        return {
            "train": len(self.split.train),
            "val": len(self.split.val),
            "test": len(self.split.test),
            "notes": list(self.split.notes),
        }

    # ----------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train to the end, a stop request, or divergence. Never raises for a training failure:
        the result says "failed" with a message, and the traceback goes to the log."""
        if self._resume is not None:
            self.run_record.rewrite_history(self.history)
            self.run_record.write_status(RUNNING, "resumed")
        elif self.store is not None:
            label = self.preset or self.architecture.name
            try:
                self.run_record = self.store.create(self.config(), label=label)
            except OSError as error:
                raise write_error(self.store.root, error) from None
        try:
            return self._run()
        except OSError as error:  # the run folder cannot be written (a full or read-only disk)
            refusal = write_error(self.store.root if self.store else None, error)
            if self.run_record is not None:
                try:
                    self.run_record.write_status(FAILED, str(refusal))
                except OSError:
                    pass  # the disk that refused the run refuses its status too
            self._emit({"kind": "end", "status": FAILED, "message": str(refusal)}, record=False)
            raise refusal from None
        except Exception as error:
            log.exception("training failed")
            message = f"training failed: {error}"
            if self.run_record is not None:
                self.run_record.write_status(FAILED, message)
            self.progress = {**self.progress, "status": FAILED, "message": message}
            self._emit({"kind": "end", "status": FAILED, "message": message}, record=False)
            return TrainResult(
                status=FAILED,
                message=message,
                epochs_completed=0,
                parameters=self.report.parameters,
                train_seconds=0.0,
                images_per_second=0.0,
                dataset=self.dataset.describe(),
                split=self.split_sizes(),
                run_dir=str(self.run_record.path) if self.run_record else None,
                history=self.history,
            )
        finally:  # the status is final: another process may now resume or delete the run
            if self.run_record is not None and self.run_record.lock is not None:
                self.run_record.lock.release()

    def _run(self) -> TrainResult:
        s, device, data = self.settings, self.device, self.dataset
        model = build_model(self.architecture, data.input_shape, data.num_classes, data.mean, data.std, seed=s.seed).to(
            device
        )
        has_conv = any(layer.type == "conv" for layer in self.architecture.layers)
        channels_last = self.tuning.channels_last and has_conv and device.type in ("cpu", "cuda")
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            if self.tuning.hwc_flatten:
                model.use_hwc_flatten()
        model.swap_relu_pool = self.tuning.swap_relu_pool
        model.pairwise_pool = self.tuning.pairwise_pool and channels_last
        optimizer = make_optimizer(model, s, fused=self.tuning.fused_optimizer and device.type in ("cpu", "cuda"))
        total_steps = s.epochs * self.batches_per_epoch
        scheduler = (
            torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=s.learning_rate, total_steps=total_steps)
            if s.schedule == "onecycle"
            else None
        )
        # All of a run's randomness comes from generators seeded here, not from global state
        # (dropout aside), so the same seed repeats the same run.
        shuffle_gen = torch.Generator().manual_seed(s.seed)
        augment_gen = torch.Generator(device=device).manual_seed(s.seed + 2)
        torch.manual_seed(s.seed)  # dropout

        train_images = data.train_images[self.split.train].to(device)
        train_labels = data.train_labels[self.split.train].to(device)
        val_images = data.train_images[self.split.val].to(device)
        val_labels = data.train_labels[self.split.val].to(device)

        n_train, bs = train_images.shape[0], s.batch_size
        prepared = (
            prepare_inputs(model, train_images, self.architecture, self.dtype, channels_last)
            if self.tuning.prepared_inputs and not s.augment
            else None
        )
        log_points = sorted(
            {max(1, self.batches_per_epoch * k // s.logs_per_epoch) for k in range(1, s.logs_per_epoch + 1)}
        )

        self._emit(
            {
                "kind": "start",
                "run_dir": str(self.run_record.path) if self.run_record else None,
                "epochs": s.epochs,
                "batches_per_epoch": self.batches_per_epoch,
                "train_images": n_train,
                "val_images": len(self.split.val),
                "test_images": len(self.split.test),
                "parameters": self.report.parameters,
                "device": str(device),
                "notes": [*data.notes, *self.split.notes],
                "settings": s.to_dict(),
            },
            record=False,
        )

        status, message = COMPLETED, "training finished"
        start_loss: float | None = None
        step_seconds, images_seen, step, epochs_completed, elapsed_before = 0.0, 0, 0, 0, 0.0
        val_loss = val_acc = None
        if self._resume is not None:
            counters = checkpoints.restore(self._resume, model, optimizer, scheduler, shuffle_gen, augment_gen)
            epochs_completed, step = counters["epoch"], counters["step"]
            images_seen, step_seconds = counters["images_seen"], counters["step_seconds"]
            start_loss, elapsed_before = counters["start_loss"], counters["elapsed"]
            val_loss, val_acc = counters["val_loss"], counters["val_accuracy"]
        good_weights = _snapshot(model)
        start = time.perf_counter() - elapsed_before

        for epoch in range(epochs_completed + 1, s.epochs + 1):
            model.train()
            order = torch.randperm(n_train, generator=shuffle_gen).to(device)
            interval_loss, interval_batches, interval_start = 0.0, 0, time.perf_counter()
            epoch_loss_sum, epoch_seen = 0.0, 0
            epoch_correct = torch.zeros((), dtype=torch.long, device=device)  # summed on the device: no extra sync
            epoch_start = interval_start
            for batch in range(1, self.batches_per_epoch + 1):
                if self._stop.is_set():
                    status, message = STOPPED, "stopped by the user; what was learned so far is kept"
                    break
                t0 = time.perf_counter()
                idx = order[(batch - 1) * bs : batch * bs]
                y = train_labels[idx]
                if prepared is not None:
                    x = prepared[idx]
                else:
                    x = train_images[idx]
                    if s.augment:
                        x = random_crop_flip(x, augment_gen)
                    x = model.normalize(x.float().div_(255))
                    if channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
                    logits = model(x, normalized=True)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=s.label_smoothing)
                loss_value = float(loss.detach())  # one sync per step; needed to catch divergence at once
                if start_loss is None:
                    start_loss = loss_value
                if not math.isfinite(loss_value) or loss_value > EXPLOSION_FACTOR * max(start_loss, 1e-3):
                    status, message = DIVERGED, EXPLODED
                    break
                if batch in log_points:
                    # These weights just gave a sane loss: a point to return to if it explodes later.
                    good_weights = _snapshot(model)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                step_seconds += time.perf_counter() - t0
                images_seen += len(idx)
                interval_loss += loss_value
                interval_batches += 1
                epoch_loss_sum += loss_value * len(idx)
                epoch_correct += (logits.argmax(1) == y).sum()
                epoch_seen += len(idx)

                elapsed = time.perf_counter() - start
                fraction = step / total_steps
                speed = images_seen / step_seconds if step_seconds else 0.0
                self.progress = {
                    "status": RUNNING,
                    "epoch": epoch,
                    "epochs": s.epochs,
                    "batch": batch,
                    "batches": self.batches_per_epoch,
                    "fraction": fraction,
                    "elapsed": elapsed,
                    "eta": elapsed / fraction * (1 - fraction),
                    "images_per_second": speed,
                }
                if batch in log_points:
                    self._emit(
                        {
                            "kind": "batch",
                            "epoch": epoch,
                            "batch": batch,
                            "batches": self.batches_per_epoch,
                            "step": step,
                            "epoch_progress": epoch - 1 + batch / self.batches_per_epoch,
                            "percent": int(100 * batch / self.batches_per_epoch),
                            "train_loss": interval_loss / interval_batches,
                            "seconds": time.perf_counter() - interval_start,
                            "elapsed": elapsed,
                            "eta": self.progress["eta"],
                            "images_per_second": speed,
                            "learning_rate": optimizer.param_groups[0]["lr"],
                        }
                    )
                    self._heartbeat(epochs_completed)
                    interval_loss, interval_batches, interval_start = 0.0, 0, time.perf_counter()

            epoch_train_seconds = time.perf_counter() - epoch_start
            if status == DIVERGED:
                model.load_state_dict(good_weights)
                break
            if status == STOPPED and epoch_seen == 0:
                break
            # An epoch cut short by Stop still gets its validation, so the user sees where it got to.
            if len(self.split.val):
                val_loss, val_acc, _ = evaluate(model, val_images, val_labels, self.dtype)
            epochs_completed = epoch if status == COMPLETED else epochs_completed
            elapsed = time.perf_counter() - start
            self._emit(
                {
                    "kind": "epoch",
                    "epoch": epoch,
                    "complete": status == COMPLETED,
                    "step": step,
                    "epoch_progress": float(epoch) if status == COMPLETED else epoch - 1 + epoch_seen / n_train,
                    "train_loss": epoch_loss_sum / max(1, epoch_seen),
                    "train_accuracy": int(epoch_correct) / max(1, epoch_seen),
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                    "elapsed": elapsed,
                    "eta": elapsed / (step / total_steps) * (1 - step / total_steps) if step else None,
                    "images_per_second": images_seen / step_seconds if step_seconds else 0.0,
                    # This epoch's training loop, first batch to last, everything included.
                    "epoch_images_per_second": epoch_seen / epoch_train_seconds if epoch_train_seconds else 0.0,
                }
            )
            if self.run_record is not None and status == COMPLETED:
                # Weights, optimizer, schedule and random state: enough to resume after a crash.
                checkpoints.save(
                    self.run_record.path / checkpoints.FILENAME,
                    model,
                    optimizer,
                    scheduler,
                    shuffle_gen,
                    augment_gen,
                    {
                        "epoch": epoch,
                        "step": step,
                        "images_seen": images_seen,
                        "step_seconds": step_seconds,
                        "start_loss": start_loss,
                        "elapsed": elapsed,
                        "val_loss": val_loss,
                        "val_accuracy": val_acc,
                    },
                )
            self._heartbeat(epochs_completed)
            if status != COMPLETED:
                break

        train_seconds = time.perf_counter() - start
        if status == DIVERGED and len(self.split.val):
            val_loss, val_acc, _ = evaluate(model, val_images, val_labels, self.dtype)
        return self._finish(
            model,
            status,
            message,
            epochs_completed,
            train_seconds,
            images_seen / step_seconds if step_seconds else 0.0,
            val_loss,
            val_acc,
        )

    def _heartbeat(self, epochs_completed: int) -> None:
        if self.run_record is not None:
            self.run_record.write_status(RUNNING, "", epochs_completed=epochs_completed, progress=self.progress)

    def _finish(
        self,
        model: CNN,
        status: str,
        message: str,
        epochs_completed: int,
        train_seconds: float,
        speed: float,
        val_loss: float | None,
        val_acc: float | None,
    ) -> TrainResult:
        if status == STOPPED and self._stop_reason:
            status, message = INTERRUPTED, f"interrupted ({self._stop_reason}); it can be resumed"
        data, device = self.dataset, self.device
        test_images = data.test_images[self.split.test].to(device)
        test_labels = data.test_labels[self.split.test].to(device)
        test_loss, test_acc, probabilities = evaluate(
            model, test_images, test_labels, self.dtype, flip=self.settings.test_flip
        )
        test_metrics = metrics_lib.summary(test_labels.cpu(), probabilities, data.classes)
        val_metrics = {"loss": val_loss, "accuracy": val_acc} if val_acc is not None else None
        result = TrainResult(
            status=status,
            message=message,
            epochs_completed=epochs_completed,
            parameters=self.report.parameters,
            train_seconds=train_seconds,
            images_per_second=speed,
            val_loss=val_loss,
            val_accuracy=val_acc,
            test_loss=test_loss,
            test_accuracy=test_acc,
            test_metrics=test_metrics,
            dataset=data.describe(),
            split=self.split_sizes(),
            run_dir=str(self.run_record.path) if self.run_record else None,
            history=self.history,
        )
        if self.run_record is not None:
            run = self.run_record
            run.save_weights(model.state_dict())
            run.save_predictions(self.split.test, test_labels.cpu(), probabilities)
            run.save_metrics(
                {
                    "status": status,
                    "message": message,
                    "epochs_completed": epochs_completed,
                    "train_seconds": train_seconds,
                    "images_per_second": speed,
                    "val": val_metrics,
                    "test": {**test_metrics, "loss": test_loss},
                }
            )
            run.write_status(status, message, epochs_completed=epochs_completed)
        self.progress = {
            **self.progress,
            "status": status,
            "message": message,
            "fraction": 1.0 if status == COMPLETED else self.progress.get("fraction", 0.0),
        }
        self._emit(
            {
                "kind": "end",
                "status": status,
                "message": message,
                "epochs_completed": epochs_completed,
                "train_seconds": train_seconds,
                "images_per_second": speed,
                "val_accuracy": val_acc,
                "test_loss": test_loss,
                "test_accuracy": test_acc,
            },
            record=False,
        )
        return result


def make_optimizer(model: torch.nn.Module, s: TrainSettings, fused: bool = False) -> torch.optim.Optimizer:
    params = list(model.parameters())
    options = {"fused": True} if fused else {}
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.learning_rate, momentum=s.momentum, weight_decay=s.weight_decay, **options)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay, **options)
    return torch.optim.Adam(params, lr=s.learning_rate, weight_decay=s.weight_decay, **options)


def prepare_inputs(
    model: CNN, images: torch.Tensor, arch: Architecture, dtype: torch.dtype, channels_last: bool
) -> torch.Tensor | None:
    """uint8 images -> the normalised inputs the first layer sees, once for a whole run, in the
    number format and memory layout it computes in: each batch is then one index, not five
    elementwise passes and two copies (docs/benchmarks.md measures it). None when it
    would take more than PREPARED_LIMIT bytes, or a quarter of the free memory."""
    # Autocast casts a first conv or linear layer's input to `dtype` anyway; anything else keeps
    # float32 so that its numbers do not change.
    first_casts = arch.layers[0].type in ("conv", "linear")
    out_dtype = dtype if first_casts else torch.float32
    n = images.shape[0]
    free = available_memory_bytes()
    limit = PREPARED_LIMIT if free is None else min(PREPARED_LIMIT, free // 4)
    if n * images[0].numel() * out_dtype.itemsize > limit:
        return None
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    out = torch.empty(images.shape, dtype=out_dtype, device=images.device, memory_format=memory_format)
    # Channels-last: transpose the uint8 pixels (the cheapest bytes to move), then compute in
    # (N, H, W, C) order with per-channel constants on the last axis; the same operations as
    # CNN.normalize, so the same numbers.
    nhwc = channels_last and images.dim() == 4
    target = out.permute(0, 2, 3, 1) if nhwc else out
    mean, std = (model.mean.view(-1), model.std.view(-1)) if nhwc else (model.mean, model.std)
    with torch.no_grad():
        for start in range(0, n, 4096):  # bounded float32 temporaries
            chunk = images[start : start + 4096]
            if nhwc:
                chunk = chunk.permute(0, 2, 3, 1).contiguous()
            target[start : start + 4096] = (chunk.float().div_(255) - mean) / std
    return out


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    dtype: torch.dtype = torch.float32,
    flip: bool = False,
) -> tuple[float, float, torch.Tensor]:
    """Mean cross-entropy, accuracy and class probabilities (on the CPU) over uint8 images.
    flip: average the probabilities for each image and its mirror image."""
    was_training = model.training
    model.eval()
    loss_sum, correct, probabilities = 0.0, 0, []
    for start in range(0, images.shape[0], EVAL_BATCH):
        x = images[start : start + EVAL_BATCH].float().div_(255)
        y = labels[start : start + EVAL_BATCH]
        with torch.autocast(x.device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits = model(x).float()
            if flip:  # log of the mean probability of both views, so the loss stays a cross-entropy
                both = torch.stack([logits.log_softmax(1), model(x.flip(3)).float().log_softmax(1)])
                logits = both.logsumexp(0) - math.log(2)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        probabilities.append(logits.softmax(1).cpu())
    model.train(was_training)
    n = max(1, images.shape[0])
    probs = torch.cat(probabilities) if probabilities else torch.zeros(0, 0)
    return loss_sum / n, correct / n, probs
