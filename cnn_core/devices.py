"""Choosing where to train: "auto" means a CUDA GPU, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise ConfigError("device", "cuda was asked for, but this machine has no CUDA GPU; use auto or cpu")
    if name == "mps" and not mps:
        raise ConfigError("device", "mps was asked for, but this machine has no Apple GPU; use auto or cpu")
    return torch.device(name)
