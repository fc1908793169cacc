"""The run store: every training run is a folder, and this module is the only code that touches it.

    runs/<run id>/
        config.json            architecture, settings, data set and split: enough to rebuild it
        status.json            running / completed / stopped / diverged / failed, with a message
        history.jsonl          one JSON row per logged point, appended while training goes
        metrics.json           final validation and test metrics, confusion matrix included
        weights.safetensors    the trained weights (never a pickle: loading runs no code)
        predictions.safetensors  test-set probabilities, for the images behind each confusion cell

Whole files are replaced atomically (see storage.py). A run whose process died while it was
"running" lists as "interrupted", with the history it had. Run folders are created with an
exclusive mkdir, so two jobs can never write into the same one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .architecture import Architecture
from .errors import RunStoreError
from .model import CNN
from .storage import append_jsonl, atomic_write_bytes, atomic_write_json, json_safe, read_json, read_jsonl

RUNNING, COMPLETED, STOPPED, DIVERGED, FAILED, INTERRUPTED = (
    "running",
    "completed",
    "stopped",
    "diverged",
    "failed",
    "interrupted",
)
DEFAULT_ROOT = "runs"


def default_root() -> Path:
    """Where runs live: $CNN_RUNS_DIR if set, else ./runs."""
    return Path(os.environ.get("CNN_RUNS_DIR", DEFAULT_ROOT))


def _now() -> str:
    """Local time with microseconds, so runs started within one second still sort in order."""
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="microseconds")


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (Linux), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_started(pid: int) -> str | None:
    """When the process started, so a recycled pid is not taken for our process."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields and fields[0] in ("Z", "X"):  # killed, but not yet collected by its parent
        return False
    return started is None or _process_started(pid) in (None, started)


class Run:
    """A handle on one run folder."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.id = self.path.name

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- configuration and status -------------------------------------------------------------
    def config(self) -> dict:
        try:
            return read_json(self.path / "config.json")
        except (OSError, ValueError) as error:
            raise RunStoreError(f"run {self.id}: its configuration cannot be read ({error})") from None

    def write_status(self, status: str, message: str = "", **extra: Any) -> None:
        record = {
            "status": status,
            "message": message,
            "updated": _now(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "process_started": _process_started(os.getpid()),
            **extra,
        }
        atomic_write_json(self.path / "status.json", record)

    def status(self) -> dict:
        """The status record; a 'running' run whose process is gone reads as 'interrupted'."""
        try:
            record = read_json(self.path / "status.json")
        except (OSError, ValueError):
            return {"status": INTERRUPTED, "message": "the run has no readable status; it was cut off"}
        if record.get("status") == RUNNING and record.get("host") == socket.gethostname():
            pid = record.get("pid")
            if isinstance(pid, int) and not _alive(pid, record.get("process_started")):
                record = {
                    **record,
                    "status": INTERRUPTED,
                    "message": "the process training it stopped before it finished",
                }
        return record

    # --- history and metrics ------------------------------------------------------------------
    def append_history(self, rows: list[dict]) -> None:
        append_jsonl(self.path / "history.jsonl", rows)

    def history(self) -> list[dict]:
        return read_jsonl(self.path / "history.jsonl")

    def rewrite_history(self, rows: list[dict]) -> None:
        """Replace the history (atomically), e.g. to cut it back to a checkpoint before resuming."""
        atomic_write_bytes(self.path / "history.jsonl", "".join(json.dumps(json_safe(r)) + "\n" for r in rows).encode())

    def has_checkpoint(self) -> bool:
        return (self.path / "checkpoint.safetensors").exists()

    def save_metrics(self, metrics: dict) -> None:
        atomic_write_json(self.path / "metrics.json", metrics)

    def metrics(self) -> dict | None:
        try:
            return read_json(self.path / "metrics.json")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise RunStoreError(f"run {self.id}: its metrics file is damaged") from None

    # --- tensors ------------------------------------------------------------------------------
    def _save_tensors(self, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None):
        tensors = {key: value.detach().to("cpu").contiguous() for key, value in tensors.items()}
        atomic_write_bytes(self.path / name, save_safetensors(tensors, metadata=metadata))

    def _load_tensors(self, name: str, what: str) -> dict[str, torch.Tensor]:
        path = self.path / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RunStoreError(f"run {self.id} has no saved {what}") from None
        if data[:1] == b"\x80" or data[:2] == b"PK":  # a pickle, or torch.save's zip of pickles
            raise RunStoreError(
                f"run {self.id}: {name} is not a weights file (it is a Python pickle, which could run code "
                "when opened; this app only reads safetensors)"
            )
        try:
            # safetensors parses a JSON header and raw arrays: nothing in the file can run code.
            return load_safetensors(data)
        except (SafetensorError, ValueError, RuntimeError, OSError):
            raise RunStoreError(
                f"run {self.id}: this run's {what} are damaged (not a valid safetensors file)"
            ) from None

    def save_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        self._save_tensors("weights.safetensors", state_dict, {"format": "cnn_core weights"})

    def load_weights(self) -> dict[str, torch.Tensor]:
        return self._load_tensors("weights.safetensors", "weights")

    def save_predictions(self, indices: torch.Tensor, labels: torch.Tensor, probabilities: torch.Tensor) -> None:
        self._save_tensors(
            "predictions.safetensors",
            {"test_indices": indices.long(), "test_labels": labels.long(), "test_probabilities": probabilities.half()},
        )

    def load_predictions(self) -> dict[str, torch.Tensor]:
        return self._load_tensors("predictions.safetensors", "predictions")

    def has_weights(self) -> bool:
        return (self.path / "weights.safetensors").exists()

    def load_model(self) -> CNN:
        """The trained network, rebuilt from config.json and filled with the saved weights.

        Weights that do not fit the architecture (another network, another class count) are
        refused with the mismatch named; the model is never left half-loaded."""
        config = self.config()
        try:
            architecture = Architecture.from_dict(config["architecture"])
            model = CNN(
                architecture,
                tuple(config["input_shape"]),
                int(config["num_classes"]),
                tuple(config["dataset"]["mean"]),
                tuple(config["dataset"]["std"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RunStoreError(f"run {self.id}: its configuration does not describe a network ({error})") from None
        tensors = self.load_weights()
        check_weights(model, tensors, f"run {self.id}")
        model.load_state_dict(tensors)
        model.eval()
        return model


def check_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights whose names or shapes differ from the model's, naming the first mismatch."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in tensors]
    extra = [key for key in tensors if key not in expected]
    if missing or extra:
        raise RunStoreError(
            f"{where}: the weights belong to a different network "
            f"({'missing ' + missing[0] if missing else 'unexpected ' + extra[0]})"
        )
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            classifier = key.startswith(f"layers.{len(model.layers) - 1}.")
            what = " (a different number of classes)" if classifier else ""
            raise RunStoreError(
                f"{where}: the weights do not fit this network{what}: {key} has shape "
                f"{tuple(tensors[key].shape)}, the network needs {tuple(value.shape)}"
            )


@dataclass(frozen=True)
class RunInfo:
    """One row of the runs table."""

    id: str
    path: str
    created: str
    status: str
    message: str
    architecture: str
    dataset: str
    settings: dict
    parameters: int | None
    epochs_completed: int
    val_accuracy: float | None
    test_accuracy: float | None
    train_seconds: float | None


class RunStore:
    """All runs under one root folder."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def create(self, config: dict, label: str = "run") -> Run:
        """A new, empty run folder holding `config`; never reuses an existing folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        safe_label = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)[:40] or "run"
        for _ in range(100):
            run_id = f"{stamp}-{safe_label}-{secrets.token_hex(2)}"
            try:
                (self.root / run_id).mkdir()  # exclusive: fails if another job took this name
            except FileExistsError:
                continue
            run = Run(self.root / run_id)
            # Status first: a run lists once config.json exists, and must never list without a status.
            run.write_status(RUNNING)
            atomic_write_json(run.path / "config.json", {"id": run_id, "created": _now(), **config})
            return run
        raise RunStoreError("could not create a new run folder")

    def get(self, run_id: str) -> Run:
        if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
            raise RunStoreError(f"{run_id!r} is not a run name")
        path = self.root / run_id
        if not (path / "config.json").is_file():
            raise RunStoreError(f"there is no run {run_id!r} in {self.root}")
        return Run(path)

    def runs(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        return [Run(p) for p in self.root.iterdir() if p.is_dir() and (p / "config.json").is_file()]

    def list(self) -> list[RunInfo]:
        """Every run, newest first. A damaged run still lists, with a status that says so."""
        infos = [self._info(run) for run in self.runs()]
        return sorted(infos, key=lambda info: (info.created, info.id), reverse=True)

    def _info(self, run: Run) -> RunInfo:
        try:
            config = run.config()
        except RunStoreError as error:
            return RunInfo(run.id, str(run.path), "", "damaged", str(error), "?", "?", {}, None, 0, None, None, None)
        status = run.status()
        try:
            metrics = run.metrics() or {}
        except RunStoreError:
            metrics = {}
        epochs = [row.get("epoch", 0) for row in run.history() if row.get("kind") == "epoch"]
        return RunInfo(
            id=run.id,
            path=str(run.path),
            created=str(config.get("created", "")),
            status=str(status.get("status", "?")),
            message=str(status.get("message", "")),
            architecture=str(config.get("architecture", {}).get("name", "?")),
            dataset=str(config.get("dataset", {}).get("name", "?")),
            settings=dict(config.get("settings", {})),
            parameters=config.get("parameters"),
            epochs_completed=int(metrics.get("epochs_completed", max(epochs, default=0))),
            val_accuracy=(metrics.get("val") or {}).get("accuracy"),
            test_accuracy=(metrics.get("test") or {}).get("accuracy"),
            train_seconds=metrics.get("train_seconds"),
        )

    def delete(self, run_id: str) -> None:
        run = self.get(run_id)
        if run.status().get("status") == RUNNING:
            raise RunStoreError(f"run {run_id} is still training; stop it before deleting it")
        shutil.rmtree(run.path)

    def compare(self, run_ids: list[str]) -> dict:
        """The settings that differ between runs, and each run's history, for overlaying curves."""
        runs = [self.get(run_id) for run_id in run_ids]
        configs = {run.id: run.config() for run in runs}
        flat = {run_id: _flatten(config) for run_id, config in configs.items()}
        keys = sorted({key for values in flat.values() for key in values} - {"id", "created"})
        differing = {
            key: {run_id: values.get(key) for run_id, values in flat.items()}
            for key in keys
            if len({repr(values.get(key)) for values in flat.values()}) > 1
        }
        return {"differences": differing, "histories": {run.id: run.history() for run in runs}}


def _flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, list) and key == "layers":
            out[name] = "; ".join(str(layer) for layer in value)
        else:
            out[name] = value
    return out
