"""The fast paths and the benchmark: same answers as the plain way, checked without timing anything."""

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnn_core import bench, checkpoints, tuned
from cnn_core.devices import bfloat16_supported, resolve_precision
from cnn_core.model import build_model
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer, evaluate
from cnn_core.tuned import TunedCNN, Tuning

CL = torch.channels_last


def test_precision_auto_follows_the_hardware():
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == torch.float32
    assert resolve_precision("auto", cpu) == (torch.bfloat16 if bfloat16_supported(cpu) else torch.float32)


def test_every_speed_technique_trains_to_the_same_place(tiny_data):
    """Channels-last, the fused optimizer and bfloat16 change speed, not what is learned."""
    settings = TrainSettings(epochs=3, learning_rate=0.003)
    plain = Trainer(
        PRESETS["tutorial"].architecture,
        settings.replace(precision="float32"),
        tiny_data,
        tuning=bench.NOTHING,
    ).run()
    fast = Trainer(PRESETS["tutorial"].architecture, settings, tiny_data).run()
    assert plain.status == fast.status == "completed"
    assert abs(plain.test_accuracy - fast.test_accuracy) < 0.1
    assert abs(plain.history[-1]["train_loss"] - fast.history[-1]["train_loss"]) < 0.15


def test_test_time_flip_averages_the_two_views():
    model = build_model(PRESETS["tutorial"].architecture, seed=0).eval()
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


CPU = torch.device("cpu")


def _step(model, x, y, bf16: bool = False):
    """One training step's logits and every weight's gradient (in the plain model's order)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    torch.nn.functional.cross_entropy(logits.float(), y).backward()
    return logits


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_the_tuned_model_computes_what_the_plain_model_computes(preset):
    """Every technique on at once, in float32: the plain PyTorch model is the oracle for outputs
    and gradients, and wrapping leaves its saved weights exactly as they were."""
    arch = PRESETS[preset].architecture
    plain, inner = build_model(arch, seed=3), build_model(arch, seed=3)
    before = {k: v.clone() for k, v in inner.state_dict().items()}
    fast = TunedCNN(inner, Tuning(), CPU)
    assert fast.hwc_flatten and fast.channels_last and fast.relu_pool_pairs
    saved = fast.plain_state_dict()
    assert saved.keys() == before.keys() and all(torch.equal(saved[k], v) for k, v in before.items())
    x, y = torch.rand(6, 3, 32, 32), torch.randint(0, 10, (6,))
    assert torch.allclose(_step(fast, x.contiguous(memory_format=CL), y), _step(plain, x, y), atol=1e-5)
    for p_plain, p_fast in zip(plain.parameters(), inner.parameters(), strict=True):
        assert torch.allclose(fast.canonical(p_fast, p_fast.grad), p_plain.grad, atol=1e-5)
    plain.eval(), fast.eval()
    other = TunedCNN(build_model(arch, seed=99), Tuning(), CPU).eval()  # loads the usual order into its own
    other.load_plain_state_dict(plain.state_dict())
    assert torch.allclose(other(x), plain(x), atol=1e-5)
    trained = fast.plain_state_dict()
    back = fast.unwrap()  # the plain model again, bit for bit
    assert back is inner and all(torch.equal(back.state_dict()[k], v) for k, v in trained.items())


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_pool_swap_and_pairwise_pool_are_bit_for_bit(preset):
    """The techniques that only reorder exact operations (max and ReLU commute; the pairwise pool
    takes the same maxima) must match the plain model in the same layout to the last bit, in the
    bfloat16 channels-last step the trainer takes."""
    arch = PRESETS[preset].architecture
    plain = build_model(arch, seed=5).to(memory_format=CL)
    inner = build_model(arch, seed=5)
    fast = TunedCNN(inner, Tuning(hwc_flatten=False), CPU)
    assert fast.relu_pool_pairs and fast.pools_2x2  # every preset has both
    x, y = torch.rand(6, 3, 32, 32).contiguous(memory_format=CL), torch.randint(0, 10, (6,))
    assert torch.equal(_step(fast, x, y, bf16=True), _step(plain, x, y, bf16=True))
    for a, b in zip(plain.parameters(), inner.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad)


def test_techniques_switched_off_leave_the_plain_model():
    arch = PRESETS["tutorial"].architecture
    plain, inner = build_model(arch, seed=1), build_model(arch, seed=1)
    fast = TunedCNN(inner, bench.NOTHING, CPU)
    assert not (fast.channels_last or fast.hwc_flatten or fast.relu_pool_pairs or fast.pools_2x2)
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    assert torch.equal(_step(fast, x, y), _step(plain, x, y))


def test_prepared_inputs_are_the_normalised_pixels():
    arch = PRESETS["tutorial"].architecture
    model = build_model(arch, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    images = torch.randint(0, 256, (5000, 3, 32, 32), dtype=torch.uint8)  # more than one chunk
    expected = model.normalize(images.float() / 255)
    exact = TunedCNN(model, Tuning(channels_last=False), CPU).prepare_inputs(images, torch.float32)
    assert exact.dtype == torch.float32 and torch.allclose(exact, expected, atol=1e-6)
    fast = TunedCNN(model, Tuning(), CPU).prepare_inputs(images, torch.bfloat16)
    assert fast.dtype == torch.bfloat16 and fast.is_contiguous(memory_format=CL)
    assert torch.equal(fast, expected.to(torch.bfloat16))  # what autocast would hand the first conv


def test_prepared_inputs_give_way_when_they_would_not_fit(monkeypatch):
    monkeypatch.setattr(tuned, "PREPARED_LIMIT", 1000)
    images = torch.zeros(10, 3, 32, 32, dtype=torch.uint8)
    model = TunedCNN(build_model(PRESETS["tutorial"].architecture), Tuning(), CPU)
    assert model.prepare_inputs(images, torch.float32) is None


def test_checkpoints_do_not_depend_on_the_training_layout(tiny_data, tmp_path):
    """Weights and optimizer state are saved in the usual order whether or not the run flattened
    in channels-last order, so a checkpoint resumes under either."""
    settings = TrainSettings(epochs=1, precision="float32")
    saved = []
    for name, tuning in [("plain", Tuning(hwc_flatten=False)), ("hwc", Tuning())]:
        result = Trainer(
            PRESETS["tutorial"].architecture, settings, tiny_data, store=RunStore(tmp_path / name), tuning=tuning
        ).run()
        saved.append(load_file(Path(result.run_dir) / checkpoints.FILENAME))
    plain, hwc = saved
    assert plain.keys() == hwc.keys() and any(key.startswith("optimizer.") for key in plain)
    for key in plain:
        if key.startswith(("model.", "optimizer.")):
            # Summing in another order rounds differently, and Adam divides tiny gradients by tiny
            # moments, so a weight may differ by a few parts in ten thousand of the tensor's scale
            # (2.8e-5 of 0.026 on an AVX-512 machine). A weight saved in the wrong order would
            # differ by the size of the weights themselves.
            scale = float(plain[key].float().abs().max())
            assert torch.allclose(plain[key].float(), hwc[key].float(), rtol=1e-3, atol=max(1e-5, 1e-2 * scale)), key


def test_the_speed_ratio_is_the_median_of_each_rounds_pair():
    def result(pipeline, batch_size, speed):
        return bench.Result(pipeline, batch_size, speed, [speed], 0.5, 0.5, 100.0, 1.0)

    ref = "tutorial (PIL + DataLoader)"
    runs = [  # in the order they ran: a slow round, then two fast ones
        result(ref, 32, 3000), result("cnn_core", 32, 13500),
        result(ref, 32, 4000), result("cnn_core", 32, 20000),
        result(ref, 32, 4000), result("cnn_core", 32, 22000),
        result(ref, 128, 5000), result("cnn_core", 128, 25000),
    ]  # fmt: skip
    assert bench.round_ratios(runs) == {32: [4.5, 5.0, 5.5], 128: [5.0]}
    assert bench.ratios(runs) == {32: 5.0, 128: 5.0}
