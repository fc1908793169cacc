"""The one validating reader of a run folder's JSON files: config.json, status.json,
metrics.json, notes.json and history.jsonl.

A run folder may have been edited by hand, half-copied, or written by another version. Every
file is checked against what the app reads from it (an object, with these keys, of these types)
before anything uses it, so a damaged file becomes one `RunStoreError` that names the file and
what is wrong ("status.json does not hold the named values it should (it holds 42)",
"history.jsonl line 3: epoch is 'two', not a whole number") instead of an AttributeError
somewhere in a page. The run store lists such a run as
damaged, with that reason, and every other run is unaffected.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from . import events
from .errors import CnnCoreError, RunStoreError

NUMBER, WHOLE, TEXT, OBJECT, LIST, FLAG = "a number", "a whole number", "text", "an object", "a list", "true or false"
STATUSES = ("running", "completed", "stopped", "diverged", "failed", "interrupted")

# key -> (kind, required). None is allowed wherever a key is optional.
CONFIG = {
    "architecture": (OBJECT, True),
    "settings": (OBJECT, True),
    "dataset": (OBJECT, True),
    "input_shape": (LIST, True),
    "num_classes": (WHOLE, True),
    "created": (TEXT, False),
    "preset": (TEXT, False),
    "parameters": (WHOLE, False),
}
DATASET = {
    "name": (TEXT, True),
    "classes": (LIST, True),
    "mean": (LIST, True),
    "std": (LIST, True),
    "source": (TEXT, False),
}
STATUS = {"status": (TEXT, True), "message": (TEXT, False), "pid": (WHOLE, False), "host": (TEXT, False)}
METRICS = {
    "status": (TEXT, True),
    "epochs_completed": (WHOLE, True),
    "train_seconds": (NUMBER, True),
    "val": (OBJECT, False),
    "test": (OBJECT, True),
}
SPLIT_METRICS = {"accuracy": (NUMBER, True), "loss": (NUMBER, False)}
TEST_METRICS = {**SPLIT_METRICS, "classes": (LIST, True), "per_class": (LIST, True), "images": (WHOLE, True)}


def _is(value: Any, kind: str) -> bool:
    if kind == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if kind == WHOLE:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, {TEXT: str, OBJECT: dict, LIST: list, FLAG: bool}[kind])


def check(record: Any, schema: dict[str, tuple[str, bool]], where: str) -> dict:
    """`record` if it is an object whose keys have the kinds in `schema`; else RunStoreError."""
    if not isinstance(record, dict):
        raise RunStoreError(f"{where} does not hold the named values it should (it holds {_short(record)})")
    for key, (kind, required) in schema.items():
        if key not in record or record[key] is None:
            if required:
                raise RunStoreError(f"{where} has no {key}")
            continue
        if not _is(record[key], kind):
            raise RunStoreError(f"{where}: {key} is {_short(record[key])}, not {kind}")
    return record


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _load(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_object(path: Path, schema: dict[str, tuple[str, bool]]) -> dict:
    """A JSON file that must hold an object of `schema`. FileNotFoundError passes through."""
    try:
        record = _load(path)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise RunStoreError(f"{path.name} is a folder, not a file") from None
    except (OSError, ValueError):
        raise RunStoreError(f"{path.name} is not readable JSON") from None
    return check(record, schema, path.name)


def read_config(path: Path) -> dict:
    config = read_object(path, CONFIG)
    dataset = check(config["dataset"], DATASET, "config.json: dataset")
    shape = config["input_shape"]
    if len(shape) != 3 or not all(_is(v, WHOLE) and v > 0 for v in shape):
        raise RunStoreError(f"config.json: input_shape is {_short(shape)}, not three positive whole numbers")
    classes = dataset["classes"]
    if not all(isinstance(c, str) for c in classes) or len(classes) != config["num_classes"]:
        raise RunStoreError("config.json: dataset classes do not match num_classes")
    for key in ("mean", "std"):
        if len(dataset[key]) != shape[0] or not all(_is(v, NUMBER) for v in dataset[key]):
            raise RunStoreError(f"config.json: dataset {key} is not one number per channel")
    from .architecture import Architecture
    from .settings import TrainSettings

    try:  # the deep checks: every layer and every setting, with their own messages
        Architecture.from_dict(config["architecture"])
        TrainSettings.from_dict(config["settings"])
    except CnnCoreError as error:
        raise RunStoreError(f"config.json: {error}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise RunStoreError(f"config.json: the architecture or settings cannot be read ({error})") from None
    return config


def read_status(path: Path) -> dict:
    status = read_object(path, STATUS)
    if status["status"] not in STATUSES:
        raise RunStoreError(f"status.json: status is {_short(status['status'])}, not one of {', '.join(STATUSES)}")
    return status


def read_metrics(path: Path) -> dict:
    metrics = read_object(path, METRICS)
    check(metrics["test"], TEST_METRICS, "metrics.json: test")
    if metrics.get("val") is not None:
        check(metrics["val"], SPLIT_METRICS, "metrics.json: val")
    return metrics


def read_notes(path: Path):
    """The name and tags a person gave the run (notebook.Notes). FileNotFoundError passes through."""
    from .notebook import Notes

    try:
        return Notes.from_dict(_load(path))
    except FileNotFoundError:
        raise
    except CnnCoreError as error:
        raise RunStoreError(f"notes.json: {error}") from None
    except (OSError, ValueError):
        raise RunStoreError("notes.json is not readable JSON") from None


def read_history(path: Path) -> list[events.HistoryRow]:
    """Every complete batch and epoch row (events.py declares them). A torn or garbled line (a
    writer killed mid-line) is skipped; a line that parses but holds the wrong kinds of values is
    damage, and named."""
    rows = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and row.get("kind", events.BATCH) not in events.HISTORY_KINDS:
                    continue  # a kind of row another version writes: not for this one to read
                if (problem := events.row_problem(row)) is not None:
                    raise RunStoreError(f"history.jsonl line {number}: {problem}")
                rows.append(row)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise RunStoreError("history.jsonl is a folder, not a file") from None
    except OSError as error:
        raise RunStoreError(f"history.jsonl cannot be read ({error.strerror})") from None
    return rows
