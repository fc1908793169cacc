"""The run store: every training run is a folder, and this module is the only code that touches it.

    runs/<run id>/
        config.json            architecture, settings, data set and split: enough to rebuild it
        status.json            running / completed / stopped / diverged / failed, with a message
        history.jsonl          one JSON row per logged point, appended while training goes
        metrics.json           final validation and test metrics, confusion matrix included
        notes.json             the name and tags a person gave it (notebook.py), if any
        weights.safetensors    the trained weights (never a pickle: loading runs no code)
        predictions.safetensors  test-set probabilities, for the images behind each confusion cell

Whole files are replaced atomically (see storage.py). A run whose process died while it was
"running" lists as "interrupted", with the history it had. Run folders are created with an
exclusive mkdir, so two jobs can never write into the same one.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import secrets
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save as save_safetensors

from . import run_files, run_lock
from .architecture import Architecture
from .differences import changes
from .errors import CnnCoreError, RunStoreError
from .events import EPOCH
from .model import CNN
from .notebook import Notes, made_name
from .presets import canonical
from .settings import TrainSettings
from .storage import append_jsonl, atomic_write_bytes, atomic_write_json, json_safe, read_tensors

RUNNING, COMPLETED, STOPPED, DIVERGED, FAILED, INTERRUPTED = (
    "running",
    "completed",
    "stopped",
    "diverged",
    "failed",
    "interrupted",
)
DAMAGED = "damaged"  # listed only: a run whose files cannot be read, with the reason as its message
DEFAULT_ROOT = "runs"


def write_error(root: Path | None, error: OSError) -> RunStoreError:
    """A failed write as one sentence: "cannot write to runs/: the disk is full"."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the disk is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }
    where = f"{root}/" if root is not None else "the runs folder"
    return RunStoreError(f"cannot write to {where}: {reasons.get(error.errno, error.strerror or str(error))}")


def _is_pickle(path: Path, limit: int = 1 << 20) -> bool:
    """True if the file is a pickle of any protocol (0 and 1 start with no magic byte), or
    torch.save's zip of pickles. pickletools only reads the opcodes; nothing in the file is run."""
    import pickletools

    try:
        with open(path, "rb") as f:
            data = f.read(limit)
        if data[:4] == b"PK\x03\x04":
            return True
        ops = list(pickletools.genops(data))
    except Exception:  # anything that does not parse is simply not a pickle
        return False
    return bool(ops) and ops[-1][0].name == "STOP"


def control_hash(token: str) -> str:
    """What a run keeps of its control token: a hash, so reading the folder does not give control."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_run_name(name: str) -> bool:
    """A folder name the store can address: no path separators, not hidden, not '..'."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def _folder_time(path: Path) -> str:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).astimezone().isoformat(timespec="microseconds")
    except OSError:
        return ""


def default_root() -> Path:
    """Where runs live: $CNN_RUNS_DIR if set, else ./runs."""
    return Path(os.environ.get("CNN_RUNS_DIR", DEFAULT_ROOT))


def _now() -> str:
    """Local time with microseconds, so runs started within one second still sort in order."""
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="microseconds")


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (Linux), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_started(pid: int) -> str | None:
    """When the process started, so a recycled pid is not taken for our process."""
    fields = proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = proc_stat(pid)
    if fields and fields[0] in ("Z", "X"):  # killed, but not yet collected by its parent
        return False
    return started is None or _process_started(pid) in (None, started)


class Run:
    """A handle on one run folder."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.id = self.path.name
        self.lock: run_lock.RunLock | None = None  # held while this process writes the run

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- the files, by role: pages ask for these, never for a file name -------------------------
    @property
    def weights_path(self) -> Path:
        return self.path / "weights.safetensors"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def weights_stamp(self) -> float:
        """When the weights were last written (0 if none): a cache key that changes with them."""
        try:
            return self.weights_path.stat().st_mtime
        except OSError:
            return 0.0

    def dataset_source(self) -> str:
        """What load_dataset takes to load exactly the data this run was trained on."""
        return self.setup().dataset.source

    def setup(self) -> RunSetup:
        """What the run was asked to do, read from config.json as typed values."""
        config = self.config()
        trained_on = config["dataset"]
        try:
            return RunSetup(
                architecture=Architecture.from_dict(config["architecture"]),
                settings=TrainSettings.from_dict(config["settings"]),
                dataset=TrainedOn(
                    name=trained_on["name"],
                    source=trained_on.get("source") or trained_on["name"],
                    classes=tuple(trained_on["classes"]),
                    origin=trained_on.get("origin") or trained_on["name"],
                    train_images=trained_on.get("train_images"),
                    test_images=trained_on.get("test_images"),
                ),
                preset=canonical(config.get("preset")),
            )
        except CnnCoreError as error:  # read_config checked these; another version may differ
            raise RunStoreError(f"run {self.id}: its configuration cannot be read ({error})") from None

    # --- configuration and status -------------------------------------------------------------
    def _read(self, reader, name: str):
        """A file through its validating reader (run_files.py), damage named with the run."""
        try:
            return reader(self.path / name)
        except RunStoreError as error:
            raise RunStoreError(f"run {self.id}: {error}") from None

    def config(self) -> dict:
        try:
            return self._read(run_files.read_config, "config.json")
        except FileNotFoundError:
            raise RunStoreError(f"run {self.id}: config.json is missing") from None

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
        """The status record; a 'running' run whose process is gone reads as 'interrupted'.
        A missing status (a process killed before writing it) reads as interrupted; a damaged
        one raises RunStoreError."""
        try:
            record = self._read(run_files.read_status, "status.json")
        except FileNotFoundError:
            return {"status": INTERRUPTED, "message": "the run has no status; it was cut off"}
        if record.get("status") != RUNNING:
            return record
        if record.get("host") == socket.gethostname():
            pid = record.get("pid")
            gone = isinstance(pid, int) and not _alive(pid, record.get("process_started"))
            if gone or ((self.path / run_lock.FILENAME).exists() and run_lock.writer(self.path) is None):
                return {
                    **record,
                    "status": INTERRUPTED,
                    "message": "the process training it stopped before it finished",
                }
        elif run_lock.writer(self.path) is None:  # written on another host, which stopped answering
            return {
                **record,
                "status": INTERRUPTED,
                "message": f"the machine training it ({record.get('host')}) stopped answering; it can be resumed",
            }
        return record

    def sweep_temporary(self) -> int:
        """Remove half-written files a killed writer left (`.<name>.<hex>.tmp`, see storage.py).
        Only call with no writer at work: the lock's holder, or nobody."""
        removed = 0
        for tmp in self.path.glob(".*.tmp"):
            try:
                tmp.unlink()
                removed += 1
            except OSError:
                pass
        return removed

    # --- who may control it (a server shared beyond localhost) ----------------------------------
    def set_owner(self, owner: str) -> None:
        """Record who started the run: the hash of a control token (control_hash), never the token."""
        atomic_write_json(self.path / "owner.json", {"owner": owner})

    def owner(self) -> str | None:
        try:
            record = run_files.read_object(self.path / "owner.json", {"owner": (run_files.TEXT, True)})
        except (FileNotFoundError, RunStoreError):
            return None
        return record["owner"]

    def take_lock(self) -> run_lock.RunLock:
        """Become this run's one writer, or RunStoreError naming the writer it already has.
        What a killed writer left half-written is removed on the way in."""
        try:
            lock = run_lock.RunLock(self.path).acquire()
            self.sweep_temporary()
            return lock
        except RunStoreError as error:
            raise RunStoreError(f"run {self.id}: {error}") from None
        except OSError as error:
            raise write_error(self.path, error) from None

    # --- history and metrics ------------------------------------------------------------------
    def append_history(self, rows: list[dict]) -> None:
        append_jsonl(self.path / "history.jsonl", rows)

    def history(self) -> list[dict]:
        return self._read(run_files.read_history, "history.jsonl")

    def rewrite_history(self, rows: list[dict]) -> None:
        """Replace the history (atomically), e.g. to cut it back to a checkpoint before resuming."""
        atomic_write_bytes(self.path / "history.jsonl", "".join(json.dumps(json_safe(r)) + "\n" for r in rows).encode())

    def has_checkpoint(self) -> bool:
        return (self.path / "checkpoint.safetensors").is_file()

    def save_metrics(self, metrics: dict) -> None:
        atomic_write_json(self.path / "metrics.json", metrics)

    def metrics(self) -> dict | None:
        try:
            return self._read(run_files.read_metrics, "metrics.json")
        except FileNotFoundError:
            return None

    # --- what people wrote about it (notebook.py) -----------------------------------------------
    def notes(self) -> Notes:
        """The name and tags given to the run; none given, or notes.json damaged: empty ones (a
        damaged note must not hide the run it is about)."""
        try:
            return self._read(run_files.read_notes, "notes.json")
        except (FileNotFoundError, RunStoreError):
            return Notes()

    def made_name(self) -> str:
        """The name made from what it is: "tutorial CNN · lr 0.01 · 5 epochs"."""
        setup = self.setup()
        return made_name(setup.architecture, setup.settings, setup.preset)

    def name(self) -> str:
        """The name given to it, else the made one."""
        return self.notes().name or self.made_name()

    def snapshots(self) -> list:
        """The filters and the picture strip's guesses as the run learned (snapshots.py); [] for a
        run from before they were kept. RunStoreError names a damaged one."""
        from . import snapshots

        return snapshots.read(self.path)

    def set_notes(self, notes: Notes) -> None:
        """Write the name and tags, as the run's one writer: refused (RunStoreError) while it trains."""
        if self.lock is not None:  # this process writes the run already
            atomic_write_json(self.path / "notes.json", notes.to_dict())
            return
        lock = self.take_lock()
        try:
            atomic_write_json(self.path / "notes.json", notes.to_dict())
        except OSError as error:
            raise write_error(self.path, error) from None
        finally:
            lock.release()

    # --- tensors ------------------------------------------------------------------------------
    def _save_tensors(self, name: str, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None):
        tensors = {key: value.detach().to("cpu").contiguous() for key, value in tensors.items()}
        atomic_write_bytes(self.path / name, save_safetensors(tensors, metadata=metadata))

    def _load_tensors(
        self, name: str, what: str, check: Callable[[dict[str, tuple[int, ...]]], None] | None = None
    ) -> dict[str, torch.Tensor]:
        """The tensors of a safetensors file, opened lazily: the header is read and checked (by
        `check`, on names and shapes) before any tensor is, so a file of the wrong size or shape
        is refused without reading it whole."""
        path = self.path / name
        if path.is_dir():
            raise RunStoreError(f"run {self.id}: {name} is a folder, not a file")
        try:
            # safetensors refuses a file that its header does not cover exactly, without reading it.
            return read_tensors(path, check)[0]
        except RunStoreError:
            raise
        except FileNotFoundError:
            raise RunStoreError(f"run {self.id} has no saved {what}") from None
        except (SafetensorError, ValueError, RuntimeError, OSError):
            # Named only once safetensors has refused it: a valid file's first bytes (its header's
            # length) can look like a pickle's or a zip's.
            if _is_pickle(path):
                raise RunStoreError(
                    f"run {self.id}: {name} is not a weights file (it is a Python pickle, which could run code "
                    "when opened; this app only reads safetensors)"
                ) from None
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
        return self.weights_path.is_file()

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
        tensors = self._load_tensors(
            "weights.safetensors", "weights", lambda shapes: check_weights(model, shapes, f"run {self.id}")
        )
        model.load_state_dict(tensors)
        model.eval()
        return model


def check_weights(model: torch.nn.Module, tensors: dict[str, Any], where: str) -> None:
    """Refuse weights whose names or shapes differ from the model's, naming the first mismatch.
    `tensors` maps names to tensors or to shapes (read from a file's header before its data)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in tensors]
    extra = [key for key in tensors if key not in expected]
    if missing or extra:
        raise RunStoreError(
            f"{where}: the weights belong to a different network "
            f"({'missing ' + missing[0] if missing else 'unexpected ' + extra[0]})"
        )
    for key, value in expected.items():
        shape = tuple(getattr(tensors[key], "shape", tensors[key]))
        if shape != tuple(value.shape):
            classifier = key.startswith(f"layers.{len(model.layers) - 1}.")
            what = " (a different number of classes)" if classifier else ""
            raise RunStoreError(
                f"{where}: the weights do not fit this network{what}: {key} has shape "
                f"{shape}, the network needs {tuple(value.shape)}"
            )


@dataclass(frozen=True)
class TrainedOn:
    """The data a run was trained on, as its config.json records it."""

    name: str
    source: str  # what load_dataset takes to load exactly this data (an import: "imported:<hash>")
    classes: tuple[str, ...]
    origin: str  # where an import came from (the archive's name); else the name
    train_images: int | None = None
    test_images: int | None = None


@dataclass(frozen=True)
class RunSetup:
    """A run's architecture, settings, data and preset: what `Run.setup()` returns."""

    architecture: Architecture
    settings: TrainSettings
    dataset: TrainedOn
    preset: str | None = None


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
    name: str = ""  # the given name, else the one made from what the run is (notebook.py)
    tags: tuple[str, ...] = ()


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
            run.lock = run.take_lock()  # the creator is its one writer until it releases
            # Status first: a run lists once config.json exists, and must never list without a status.
            run.write_status(RUNNING)
            atomic_write_json(run.path / "config.json", {"id": run_id, "created": _now(), **config})
            return run
        raise RunStoreError("could not create a new run folder")

    def get(self, run_id: str) -> Run:
        if not is_run_name(run_id):
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
        if any(run.path.glob(".*.tmp")) and run_lock.writer(run.path) is None:
            run.sweep_temporary()  # left by a writer that was killed mid-save
        try:
            if not is_run_name(run.id):
                raise RunStoreError(f"run {run.id}: its folder name is not a run name (it starts with a dot)")
            config = run.config()
            status = run.status()
            metrics = run.metrics() or {}
            epochs = [row["epoch"] for row in run.history() if row["kind"] == EPOCH]
            setup = run.setup()
        except RunStoreError as error:
            created = _folder_time(run.path)
            return RunInfo(
                run.id, str(run.path), created, DAMAGED, str(error), "?", "?", {}, None, 0, None, None, None, run.id
            )
        notes = run.notes()
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
            name=notes.name or made_name(setup.architecture, setup.settings, setup.preset),
            tags=notes.tags,
        )

    def delete(self, run_id: str) -> None:
        run = self.get(run_id)
        try:
            running = run.status().get("status") == RUNNING
        except RunStoreError:
            running = False  # a damaged status can still be deleted
        holder = run_lock.writer(run.path)
        if holder is not None:
            raise RunStoreError(
                f"run {run_id} is still training ({run_lock.describe(holder)}); stop it before deleting it"
            )
        if running:
            raise RunStoreError(f"run {run_id} is still training; stop it before deleting it")
        if run.path.is_symlink():  # a linked run: remove the link, never the folder it points to
            run.path.unlink()
            return
        shutil.rmtree(run.path)

    def compare(self, run_ids: list[str]) -> dict:
        """The settings that differ between runs (raw, by key), what changed from the first run to each
        other one in words (differences.py), and each run's history, for overlaying curves."""
        runs = [self.get(run_id) for run_id in run_ids]
        configs = {run.id: run.config() for run in runs}
        flat = {run_id: _flatten(config) for run_id, config in configs.items()}
        keys = sorted({key for values in flat.values() for key in values} - {"id", "created"})
        differing = {
            key: {run_id: values.get(key) for run_id, values in flat.items()}
            for key in keys
            if len({repr(values.get(key)) for values in flat.values()}) > 1
        }
        setups = {run.id: run.setup() for run in runs}
        first = setups[runs[0].id]
        in_words = {
            run_id: changes(
                (first.architecture, first.settings, first.dataset.name),
                (setup.architecture, setup.settings, setup.dataset.name),
            )
            for run_id, setup in list(setups.items())[1:]
        }
        return {"differences": differing, "changes": in_words, "histories": {run.id: run.history() for run in runs}}


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
