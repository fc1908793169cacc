"""Writing files so that a crash, a full disk or a killed process never leaves half a file.

Whole files are written to a temporary file in the same folder, flushed to disk, then moved over
the target with `os.replace`, which is atomic: readers see the old file or the new one, never a
mix. Histories are append-only JSON lines, so a process killed mid-write loses at most the line
it was writing, and the reader (run_files.read_history) skips such a torn last line. Every
safetensors file is read by `read_tensors`.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load as load_safetensors


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    # A fresh name opened with "x" (unlike mkstemp) gets the usual permissions from the umask.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def json_safe(obj: Any) -> Any:
    """The same structure with NaN and infinities as None: JSON has no spelling for them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(key): json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(json_safe(obj), indent=2) + "\n").encode())


def append_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append rows as one write, so rows from one call are never interleaved with another's."""
    text = "".join(json.dumps(json_safe(row)) + "\n" for row in rows)
    if text:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()


def read_tensors(
    source: str | os.PathLike | bytes, check: Callable[[dict[str, tuple[int, ...]]], None] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The one reader of safetensors files (weights, checkpoints, data sets): the tensors and the
    header's metadata. safetensors parses a JSON header and maps raw arrays, so nothing in the
    file can run code. A file is opened lazily: `check` sees the names and shapes from the header
    before any tensor is read, so a file of the wrong shape is refused without reading it whole.
    A damaged file raises SafetensorError, ValueError, RuntimeError or OSError for the caller to name."""
    if isinstance(source, bytes):  # in memory (a decompressed file): safetensors has no lazy reader for it
        tensors = load_safetensors(source)
        header_length = int.from_bytes(source[:8], "little")  # the format: 8 bytes of length, then JSON
        metadata = json.loads(source[8 : 8 + header_length]).get("__metadata__") or {}
        if check is not None:
            check({key: tuple(value.shape) for key, value in tensors.items()})
        return tensors, metadata
    with safe_open(os.fspath(source), framework="pt") as f:
        if check is not None:
            check({key: tuple(f.get_slice(key).get_shape()) for key in f.keys()})
        return {key: f.get_tensor(key) for key in f.keys()}, f.metadata() or {}
