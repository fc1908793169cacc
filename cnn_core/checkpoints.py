"""Epoch checkpoints: everything needed to resume a run exactly where its last epoch ended.

One safetensors file per run, replaced atomically after every completed epoch: the model's
weights, the optimizer's state tensors, the random generators' states, and (in the JSON
metadata) the optimizer's settings, the learning-rate schedule's position and the run's counters.
Nothing in it is a pickle, so loading it runs no code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save as save_safetensors

from .errors import RunStoreError
from .storage import atomic_write_bytes, json_safe, read_tensors
from .tuned import TunedCNN

FILENAME = "checkpoint.safetensors"
FORMAT = "cnn_core checkpoint v1"


def save(
    path: Path,
    model: TunedCNN,
    optimizer,
    scheduler,
    shuffle_gen: torch.Generator,
    augment_gen: torch.Generator,
    counters: dict[str, Any],
) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.plain_state_dict().items()}
    state = optimizer.state_dict()
    params = [p for group in optimizer.param_groups for p in group["params"]]  # state_dict's numbering
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                if value.shape == params[index].shape:  # in the order the model saves its weights in
                    value = model.canonical(params[index], value)
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
    tensors["rng.shuffle"] = shuffle_gen.get_state()
    tensors["rng.augment"] = augment_gen.get_state().cpu()
    tensors["rng.torch"] = torch.get_rng_state()
    metadata = {
        "format": FORMAT,
        "param_groups": json.dumps(json_safe(state["param_groups"])),
        "scheduler": json.dumps(json_safe(scheduler.state_dict())) if scheduler is not None else "null",
        "counters": json.dumps(json_safe(counters)),
    }
    atomic_write_bytes(path, save_safetensors(tensors, metadata=metadata))


def load(path: Path, where: str) -> dict[str, Any]:
    try:
        tensors, metadata = read_tensors(path)
    except FileNotFoundError:
        raise RunStoreError(
            f"{where} has no checkpoint to resume from (it ended before its first epoch's checkpoint was saved); "
            "train it again"
        ) from None
    except (SafetensorError, ValueError, RuntimeError, OSError):
        raise RunStoreError(f"{where}: its checkpoint is damaged, so it cannot be resumed") from None
    try:
        if metadata.get("format") != FORMAT:
            raise ValueError("not a checkpoint")
        return {
            "tensors": tensors,
            "param_groups": json.loads(metadata["param_groups"]),
            "scheduler": json.loads(metadata["scheduler"]),
            "counters": json.loads(metadata["counters"]),
        }
    except (ValueError, KeyError):
        raise RunStoreError(f"{where}: its checkpoint is damaged, so it cannot be resumed") from None


def restore(
    checkpoint: dict[str, Any],
    model: TunedCNN,
    optimizer,
    scheduler,
    shuffle_gen: torch.Generator,
    augment_gen: torch.Generator,
) -> dict[str, Any]:
    """Put the saved state back into freshly built objects; returns the run's counters."""
    tensors = checkpoint["tensors"]
    model.load_plain_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": checkpoint["param_groups"]})
    # Saved tensors are plain contiguous and in the saved order; a weight that trains channels-last
    # or with permuted columns needs its optimizer state the same way, or a fused step pairs the
    # wrong elements.
    for param, values in optimizer.state.items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape:
                values[name] = torch.empty_like(param, dtype=value.dtype).copy_(model.internal(param, value))
    if scheduler is not None and checkpoint["scheduler"] is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    shuffle_gen.set_state(tensors["rng.shuffle"])
    augment_gen.set_state(
        tensors["rng.augment"].to(augment_gen.device) if augment_gen.device.type != "cpu" else tensors["rng.augment"]
    )
    torch.set_rng_state(tensors["rng.torch"])
    return checkpoint["counters"]
