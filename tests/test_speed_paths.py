"""The fast paths and the benchmark: same answers as the plain way, checked without timing anything."""

import math

import torch

from cnn_core import bench
from cnn_core.devices import bfloat16_supported, resolve_precision
from cnn_core.model import build_model
from cnn_core.presets import PRESETS
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer, Tuning, evaluate


def test_precision_auto_follows_the_hardware():
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == torch.float32
    assert resolve_precision("auto", cpu) == (torch.bfloat16 if bfloat16_supported(cpu) else torch.float32)


def test_every_speed_technique_trains_to_the_same_place(tiny_data):
    """Channels-last, the fused optimizer and bfloat16 change speed, not what is learned."""
    settings = TrainSettings(epochs=3, learning_rate=0.003)
    plain = Trainer(
        PRESETS["seed"].architecture,
        settings.replace(precision="float32"),
        tiny_data,
        tuning=Tuning(channels_last=False, fused_optimizer=False),
    ).run()
    fast = Trainer(PRESETS["seed"].architecture, settings, tiny_data).run()
    assert plain.status == fast.status == "completed"
    assert abs(plain.test_accuracy - fast.test_accuracy) < 0.1
    assert abs(plain.history[-1]["train_loss"] - fast.history[-1]["train_loss"]) < 0.15


def test_test_time_flip_averages_the_two_views():
    model = build_model(PRESETS["seed"].architecture, seed=0).eval()
    images = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8)
    labels = torch.randint(0, 10, (7,))
    loss, _, probs = evaluate(model, images, labels, flip=True)
    x = images.float() / 255
    expected = (model(x).softmax(1) + model(x.flip(3)).softmax(1)).detach() / 2
    assert torch.allclose(probs, expected, atol=1e-5)
    assert math.isclose(loss, float(-expected[torch.arange(7), labels].log().mean()), rel_tol=1e-4)


def test_the_benchmark_runs_both_pipelines_on_the_same_split(tiny_data):
    lines = []
    results = bench.run(tiny_data, epochs=1, batch_sizes=(32,), report=lines.append)
    assert [r.pipeline for r in results] == ["tutorial (PIL + DataLoader)", "cnn_core"]
    for r in results:
        assert r.images_per_second > 0 and 0 <= r.val_accuracy <= 1 and 0 <= r.test_accuracy <= 1
    assert len(lines) == 2 and all("32" in line for line in lines)
    assert set(bench.ratios(results)) == {32}
