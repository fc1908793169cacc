"""Shapes, parameters and multiply-adds, checked against what PyTorch actually does."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from cnn_core.architecture import Activation, Architecture, BatchNorm, Conv, Dropout, Linear, Pool
from cnn_core.errors import ArchitectureError
from cnn_core.inspection import feature_maps
from cnn_core.model import build_model
from cnn_core.shapes import formula_text, infer_shapes, output_size


def test_the_tutorials_formula_on_its_own_example():
    # The tutorial: a 2x2 max pool with stride 2 takes (18, 32, 32) to (18, 16, 16).
    assert output_size(32, 2, 2, 0) == 16
    # ...and the 3x3 convolution with padding 1 keeps 32.
    assert output_size(32, 3, 1, 1) == 32
    assert formula_text(32, 3, 1, 1) == "(32 - 3 + 2*1) // 1 + 1 = 32"


def test_seed_table_matches_the_tutorial_comments():
    from cnn_core.presets import PRESETS

    report = infer_shapes(PRESETS["tutorial"].architecture, (3, 32, 32), 10)
    assert [row.output_shape for row in report.rows] == [
        (18, 32, 32),
        (18, 32, 32),
        (18, 16, 16),
        (64,),
        (64,),
        (10,),
    ]
    assert report.parameters == 296_130
    assert report.rows[3].input_shape == (18, 16, 16)  # flattened to 4608 inputs


@st.composite
def valid_stacks(draw):
    """A random stack that fits a random input, built layer by layer so it stays valid."""
    channels = draw(st.sampled_from([1, 3]))
    size = draw(st.integers(6, 20))
    layers, h = [], size
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["conv", "pool", "act", "bn", "drop"]))
        if kind == "conv":
            k = draw(st.integers(1, min(5, h + 2)))
            p = draw(st.integers(0, 2))
            if h + 2 * p < k:
                continue
            s = draw(st.integers(1, 3))
            layers.append(Conv(draw(st.integers(1, 6)), k, s, p))
            h = output_size(h, k, s, p)
        elif kind == "pool" and h >= 2:
            k = draw(st.integers(1, min(3, h)))
            p = draw(st.integers(0, k // 2))
            s = draw(st.integers(1, 3))
            layers.append(Pool(draw(st.sampled_from(["max", "avg"])), k, s, p))
            h = output_size(h, k, s, p)
        elif kind == "act":
            layers.append(Activation(draw(st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid", "gelu"]))))
        elif kind == "bn":
            layers.append(BatchNorm())
        elif kind == "drop":
            layers.append(Dropout(0.3))
    for _ in range(draw(st.integers(0, 2))):
        layers.append(Linear(draw(st.integers(1, 12))))
        layers.append(draw(st.sampled_from([Activation("relu"), BatchNorm(), Dropout(0.1)])))
    classes = draw(st.integers(2, 7))
    layers.append(Linear(classes))
    return Architecture(tuple(layers)), (channels, size, size), classes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_stacks())
def test_shapes_params_and_mult_adds_agree_with_pytorch(case):
    arch, input_shape, classes = case
    report = infer_shapes(arch, input_shape, classes)
    assert report.ok, report.error
    model = build_model(arch, input_shape, classes).eval()
    image = torch.rand(input_shape)
    maps = feature_maps(model, image)
    assert [tuple(m.values.shape) for m in maps] == [row.output_shape for row in report.rows]
    assert sum(p.numel() for p in model.parameters()) == report.parameters
    # Oracle for the arithmetic: PyTorch's own FLOP counter (2 FLOPs per multiply-add).
    with FlopCounterMode(display=False) as counter:
        model(image.unsqueeze(0))
    assert counter.get_total_flops() == 2 * report.mult_adds


def test_pooling_an_image_that_is_already_one_pixel_is_explained_at_that_layer():
    arch = Architecture((Conv(4, 3, 1, 1), Activation(), Pool(), Pool(), Pool(), Pool(), Pool(), Pool(), Linear(10)))
    report = infer_shapes(arch, (3, 32, 32), 10)
    assert not report.ok
    assert report.error.layer == 8
    assert str(report.error) == (
        "layer 8 (max pool 2x2, stride 2): its input is only 1x1 pixels, smaller than its 2x2 window; "
        "remove a pooling layer or lower the stride"
    )
    assert len(report.rows) == 7  # the layers before it are still sized, for the table


def test_a_kernel_larger_than_the_image_is_explained():
    arch = Architecture((Conv(4, 7), Linear(10)))
    report = infer_shapes(arch, (1, 5, 5), 10)
    assert "only 5x5 pixels" in str(report.error) and "smaller kernel" in str(report.error)


def test_convolution_after_a_linear_layer_is_explained():
    arch = Architecture((Linear(20), Conv(4), Linear(10)))
    error = infer_shapes(arch, (3, 8, 8), 10).error
    assert error.layer == 2 and "move it above the first linear layer" in str(error)


def test_the_last_layer_must_give_one_output_per_class():
    no_linear = infer_shapes(Architecture((Conv(4), Activation())), (3, 8, 8), 10).error
    assert no_linear.layer == 2 and "linear layer with one output per class (10)" in str(no_linear)
    wrong_count = infer_shapes(Architecture((Conv(4), Linear(7))), (3, 8, 8), 10).error
    assert "set its outputs to 10" in str(wrong_count)


def test_an_oversized_network_is_refused_before_building():
    arch = Architecture((Conv(1024, 3, 1, 1), Linear(16384), Linear(10)))
    error = infer_shapes(arch, (3, 32, 32), 10).error
    assert error is not None and "parameters" in str(error)
    with pytest.raises(ArchitectureError):
        build_model(arch)
