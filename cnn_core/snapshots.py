"""Snapshots of a run as it learns, kept in its folder: the first layer's filters and the fixed
picture strip's guesses, at the start, at every tenth of the first epoch and at the end of every
epoch, so the Filters page can play the filters forming from random noise.

One small safetensors file per snapshot (`snapshots/step-000123.safetensors`, written whole and
renamed into place), so a run cut short keeps the ones it wrote. The filters are stored as
float16: a few KB each for the tutorial's network. `read` is the one reader of them, with limits.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save

from .errors import RunStoreError
from .storage import atomic_write_bytes, read_tensors

FOLDER = "snapshots"
TENTHS = 10  # snapshots in the first epoch, when the filters change most
MAX_FILES = 2_000  # a run of 1,000 epochs has 1,011; anything past this is not ours
MAX_FILE_BYTES = 8 << 20  # the largest first layer allowed (1,024 filters, 32x32, 3 channels) is 6.3 MB in float16
NAME = re.compile(r"^step-(\d{1,12})\.safetensors$")


@dataclass(frozen=True)
class Snapshot:
    step: int  # training steps done
    epoch_progress: float  # 0 at the start, 1.0 at the end of the first epoch
    filters: torch.Tensor | None  # (out, in, k, k) float32; None for a network without convolutions
    index: torch.Tensor  # the strip's pictures: their indices among the test images
    label: torch.Tensor
    guess: torch.Tensor
    confidence: torch.Tensor

    @property
    def right(self) -> int:
        return int((self.guess == self.label).sum())


def tenths(batches_per_epoch: int) -> set[int]:
    """The batches of the first epoch after which a snapshot is kept."""
    return {max(1, batches_per_epoch * k // TENTHS) for k in range(1, TENTHS + 1)}


def save_snapshot(run_dir: str | os.PathLike, snapshot: Snapshot) -> None:
    tensors = {
        "index": snapshot.index.to(torch.int64).contiguous(),
        "label": snapshot.label.to(torch.int64).contiguous(),
        "guess": snapshot.guess.to(torch.int64).contiguous(),
        "confidence": snapshot.confidence.to(torch.float32).contiguous(),
    }
    if snapshot.filters is not None:
        tensors["filters"] = snapshot.filters.detach().to(torch.float16).cpu().contiguous()
    folder = Path(run_dir) / FOLDER
    folder.mkdir(exist_ok=True)
    data = save(tensors, metadata={"step": str(snapshot.step), "epoch_progress": f"{snapshot.epoch_progress:.6f}"})
    atomic_write_bytes(folder / f"step-{snapshot.step:06d}.safetensors", data)


def forget_after(run_dir: str | os.PathLike, step: int) -> None:
    """Remove the snapshots past `step` (a resumed run trains that stretch again)."""
    folder = Path(run_dir) / FOLDER
    if folder.is_dir():
        for path in folder.iterdir():
            match = NAME.match(path.name)
            if match and int(match.group(1)) > step:
                path.unlink(missing_ok=True)


def read(run_dir: str | os.PathLike) -> list[Snapshot]:
    """The run's snapshots, in order; [] for a run from before they were kept. A damaged file
    raises RunStoreError naming it."""
    folder = Path(run_dir) / FOLDER
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.iterdir() if NAME.match(p.name))
    if len(paths) > MAX_FILES:
        raise RunStoreError(f"{folder} holds {len(paths):,} snapshots, more than a run writes ({MAX_FILES:,})")
    out = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"larger than {MAX_FILE_BYTES >> 20} MB")
            tensors, metadata = read_tensors(path)
            snapshot = Snapshot(
                step=int(metadata["step"]),
                epoch_progress=float(metadata["epoch_progress"]),
                filters=tensors["filters"].float() if "filters" in tensors else None,
                index=tensors["index"],
                label=tensors["label"],
                guess=tensors["guess"],
                confidence=tensors["confidence"],
            )
        except Exception as error:  # any damage: one sentence naming the file
            raise RunStoreError(
                f"the snapshot {path.name} of this run is damaged ({error}); delete it to go on"
            ) from None
        out.append(snapshot)
    return sorted(out, key=lambda s: s.step)
