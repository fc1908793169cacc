"""Choosing where to train ("auto": a CUDA GPU, then Apple's MPS, then the CPU) and in what number
format ("auto": bfloat16 where the hardware computes it natively, else float32)."""

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


def bfloat16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # oneDNN's bfloat16 kernels need AVX512-BF16 or AMX; elsewhere bfloat16 is emulated and slow.
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    supported = bfloat16_supported(device)
    if name == "auto":
        return torch.bfloat16 if supported else torch.float32
    if name == "bfloat16" and not supported:
        raise ConfigError("precision", f"bfloat16 is not supported by this {device.type}; use auto or float32")
    return torch.bfloat16 if name == "bfloat16" else torch.float32
