"""The pairwise 2x2 max pool gives PyTorch's own answers: F.max_pool2d is the oracle."""

import pytest
import torch
import torch.nn.functional as F

from cnn_core import pooling
from cnn_core.model import build_model
from cnn_core.presets import PRESETS
from cnn_core.shapes import check
from cnn_core.tuned import TunedCNN, Tuning

CL = torch.channels_last


def _images(shape, dtype, ties: bool) -> torch.Tensor:
    x = torch.randn(shape)
    if ties:
        # Few distinct values, negative ones included, so many windows hold two or more equal
        # maxima: where the gradient goes on a tie is where implementations differ.
        x = (x * 2).round().clamp(-3, 3)
        x[:, :, ::3] = 1.0  # whole rows equal
    return x.to(dtype).contiguous(memory_format=CL)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", [(4, 18, 32, 32), (3, 1, 6, 4), (2, 5, 2, 8)])
@pytest.mark.parametrize("ties", [False, True])
def test_same_values_and_gradients_as_pytorch(dtype, shape, ties):
    x = _images(shape, dtype, ties)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_theirs = pooling.max_pool_2x2(ours), F.max_pool2d(theirs, 2)
    assert out_ours.shape == out_theirs.shape
    assert torch.equal(out_ours, out_theirs)
    assert out_ours.is_contiguous(memory_format=CL)
    grad = torch.randn(out_theirs.shape).to(dtype)
    out_ours.backward(grad)
    out_theirs.backward(grad)
    assert torch.equal(ours.grad, theirs.grad)
    # Every output's gradient lands on exactly one input pixel, ties or not.
    assert torch.equal((ours.grad != 0).sum(), (grad != 0).sum())


def test_a_tie_sends_the_gradient_to_the_first_pixel_in_row_order():
    x = torch.tensor([[5.0, 5.0], [5.0, 5.0]]).view(1, 1, 2, 2).to(torch.bfloat16).contiguous(memory_format=CL)
    x.requires_grad_()
    pooling.max_pool_2x2(x).backward(torch.ones(1, 1, 1, 1, dtype=torch.bfloat16))
    assert x.grad.view(-1).tolist() == [1.0, 0.0, 0.0, 0.0]
    y = torch.tensor([[1.0, 7.0], [7.0, 7.0]]).view(1, 1, 2, 2).to(torch.bfloat16).contiguous(memory_format=CL)
    y.requires_grad_()
    pooling.max_pool_2x2(y).backward(torch.ones(1, 1, 1, 1, dtype=torch.bfloat16))
    assert y.grad.view(-1).tolist() == [0.0, 1.0, 0.0, 0.0]


def test_applies_only_where_it_matches_and_was_measured_faster():
    good = torch.zeros(2, 3, 8, 8, dtype=torch.bfloat16).contiguous(memory_format=CL)
    assert pooling.applies(good)
    assert not pooling.applies(torch.zeros(2, 3, 8, 8, dtype=torch.bfloat16))  # channels-first memory
    assert not pooling.applies(good.float())  # PyTorch's float32 pool is the faster one
    assert not pooling.applies(torch.zeros(2, 3, 7, 8, dtype=torch.bfloat16).contiguous(memory_format=CL))
    assert not pooling.applies(torch.zeros(2, 3, 8, 5, dtype=torch.bfloat16).contiguous(memory_format=CL))
    assert not pooling.applies(torch.zeros(3, 8, 8, dtype=torch.bfloat16))


def _pools_even_maps(name: str) -> bool:
    """Whether a 2x2 max pool of the preset sees an even-sized map on CIFAR-10 (the fast presets'
    pools see 31x31, 15x15 and 7x7 maps, where PyTorch's own pool runs: an odd-size pairwise pool
    was slower in alternating runs)."""
    arch = PRESETS[name].architecture
    report = check(arch, (3, 32, 32), 10)
    inputs = [report.input_shape] + [row.output_shape for row in report.rows[:-1]]
    return any(
        layer.type == "pool" and layer.kernel_size == 2 and shape[1] % 2 == 0 and shape[2] % 2 == 0
        for layer, shape in zip(arch.layers, inputs, strict=True)
    )


@pytest.mark.parametrize("preset", [name for name in sorted(PRESETS) if _pools_even_maps(name)])
def test_the_model_learns_the_same_with_it(preset):
    """A bfloat16 channels-last training step of every preset, with and without the pairwise
    pool: the same logits and the same gradient for every weight, bit for bit."""
    arch = PRESETS[preset].architecture
    cpu = torch.device("cpu")
    models = [
        TunedCNN(build_model(arch, seed=3), Tuning(hwc_flatten=False, swap_relu_pool=False, pairwise_pool=on), cpu)
        for on in (False, True)
    ]
    assert models[1].pools_2x2 and not models[0].pools_2x2  # every preset pools 2x2
    calls = []
    original = pooling.max_pool_2x2
    x = torch.rand(5, 3, 32, 32).contiguous(memory_format=CL)
    y = torch.randint(0, 10, (5,))
    logits = []
    for model in models:
        try:
            pooling.max_pool_2x2 = lambda t: calls.append(t.shape) or original(t)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(x)
        finally:
            pooling.max_pool_2x2 = original
        F.cross_entropy(out.float(), y).backward()
        logits.append(out)
    assert calls, "the pairwise pool was not used"
    assert torch.equal(logits[0], logits[1])
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a.grad, b.grad)
