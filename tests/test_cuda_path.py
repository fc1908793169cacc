"""The CUDA path, as far as a machine without a GPU can check it: "auto" picks the GPU and
bfloat16 where it has them, the fast layout and optimizer are switched on for it, and (where a
GPU is present) the fast presets train a few batches on it and land where the CPU does."""

import pytest
import torch

from cnn_core.devices import resolve_device, resolve_precision
from cnn_core.model import build_model
from cnn_core.presets import PRESETS
from cnn_core.training import Trainer
from cnn_core.tuned import TunedCNN, Tuning


def test_auto_picks_the_gpu_and_bfloat16_where_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    device = resolve_device("auto")
    assert device.type == "cuda" and resolve_precision("auto", device) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # an older GPU
    assert resolve_precision("auto", device) == torch.float32


@pytest.mark.parametrize("preset", ["quick", "strong"])
def test_the_fast_layout_and_optimizer_are_used_on_a_gpu(preset):
    """Channels-last and the fused optimizer step are switched on for CUDA as for the CPU (the
    wrapper only decides; nothing is moved to the device here)."""
    net = TunedCNN(build_model(PRESETS[preset].architecture, seed=0), Tuning(), torch.device("cuda"))
    assert net.channels_last and net.fused_optimizer and net.pools_2x2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
@pytest.mark.parametrize("preset", ["quick", "strong"])
def test_a_fast_preset_trains_on_the_gpu(tiny_data, preset):
    settings = PRESETS[preset].settings.replace(
        epochs=2, train_samples=500, val_samples=100, test_samples=200, device="cuda"
    )
    result = Trainer(PRESETS[preset].architecture, settings, tiny_data).run()
    assert result.status == "completed" and result.test_accuracy > 0.2
