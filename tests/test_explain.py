"""Attribution maps (Captum) checked on a tiny network whose answer is worked out by hand, and
timed on the tutorial's network."""

import pytest
import torch

from cnn_core.architecture import Activation, Architecture, Conv, Linear
from cnn_core.errors import ConfigError
from cnn_core.explain import METHODS, attribute, overlay, worked_convolution
from cnn_core.inspection import conv_layers, feature_maps
from cnn_core.model import CNN
from cnn_core.presets import PRESETS


def tiny() -> CNN:
    """One-channel 4x4 pictures; a 1x1 convolution that copies the pixel (weight 1, bias 0), ReLU,
    and two classes: class 1's score is pixel (0, 0) alone, class 0's is pixel (3, 3) alone. No
    normalisation (mean 0, std 1), so the arithmetic is the picture's own."""
    arch = Architecture((Conv(1, 1), Activation("relu"), Linear(2)), name="tiny")
    model = CNN(arch, (1, 4, 4), 2, mean=(0.0,), std=(1.0,))
    with torch.no_grad():
        model.layers[0].weight.fill_(1.0)
        model.layers[0].bias.zero_()
        model.layers[2].weight.zero_()
        model.layers[2].bias.zero_()
        model.layers[2].weight[1, 0] = 1.0  # pixel (0, 0) of the flattened 4x4 map
        model.layers[2].weight[0, 15] = 1.0  # pixel (3, 3)
    return model


PICTURE = torch.linspace(0.1, 0.8, 16).view(1, 4, 4)  # every pixel different, all positive


@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion"])
def test_pixel_methods_point_at_the_one_pixel_the_class_reads(method):
    model = tiny()
    for target, pixel in ((1, (0, 0)), (0, (3, 3))):
        heat = attribute(model, PICTURE, target, method).heat
        assert heat.shape == (4, 4) and heat[pixel] == 1.0
        if method == "integrated_gradients":  # exact here: the score is linear in the pixel
            assert heat.sum() == pytest.approx(1.0)


def test_integrated_gradients_gives_the_pixel_its_whole_score():
    """Along the path from black, the score x[0, 0] grows by exactly the pixel's value: IG's
    completeness, here by hand."""
    raw = attribute(tiny(), PICTURE, 1, "integrated_gradients").raw
    assert raw[0, 0, 0] == pytest.approx(PICTURE[0, 0, 0].item(), rel=1e-4)
    assert raw.abs().sum() == pytest.approx(PICTURE[0, 0, 0].item(), rel=1e-4)


def test_gradcam_weighs_the_last_convolutions_map_by_its_mean_gradient():
    """By hand: the gradient of class 1's score with respect to the conv's map is 1 at (0, 0) and
    0 elsewhere, so its mean is 1/16 and the map is relu(map / 16): the picture itself, scaled."""
    attribution = attribute(tiny(), PICTURE, 1, "gradcam")
    assert attribution.raw == pytest.approx(PICTURE[0] / 16, rel=1e-5)
    assert attribution.heat == pytest.approx(PICTURE[0] / PICTURE.max(), rel=1e-5)


def test_a_bad_method_or_class_is_named():
    with pytest.raises(ConfigError) as error:
        attribute(tiny(), PICTURE, 1, "lime")
    assert error.value.field == "method"
    with pytest.raises(ConfigError) as error:
        attribute(tiny(), PICTURE, 2)
    assert error.value.field == "target"


def test_every_method_asks_the_tutorial_network_in_a_few_batched_passes():
    """What keeps a heat map fast (timed in scripts/explain_speed.py, docs/benchmarks.md): each
    method runs the network in at most two forward calls, its many pictures (32 steps of
    Integrated Gradients, 49 patches of Occlusion) batched."""
    torch.manual_seed(0)
    model = CNN(PRESETS["tutorial"].architecture)
    picture = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    calls = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    for method in METHODS:
        calls.clear()
        heat = attribute(model, picture, 3, method).heat
        assert heat.shape == (32, 32) and 0 <= heat.min() and heat.max() == 1
        assert len(calls) <= 2, (method, calls)
    assert model.training  # left as it was found


def test_the_overlay_keeps_the_picture_where_nothing_mattered():
    picture = torch.full((3, 2, 2), 100, dtype=torch.uint8)
    heat = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    out = overlay(picture, heat)
    assert out.shape == (3, 2, 2) and out.dtype == torch.uint8
    assert out[:, 0, 0].tolist() == [100, 100, 100]  # untouched gray
    assert out[0, 0, 1] > out[2, 0, 1]  # red where it mattered


@pytest.mark.parametrize("preset", ["tutorial", "strong"])
def test_a_worked_sum_lands_on_the_value_the_forward_pass_computed(preset):
    """Every output number checked: kernel x patch summed, plus the bias, is the layer's output
    (the oracle: the real forward pass, caught by a hook); corners include the zero padding."""
    torch.manual_seed(0)
    model = CNN(PRESETS[preset].architecture)
    picture = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    for position in conv_layers(model):
        maps = feature_maps(model, picture)[position].values
        channels, height, width = maps.shape
        for channel, row, col in ((0, 0, 0), (channels - 1, height - 1, width - 1), (channels // 2, height // 2, 1)):
            worked = worked_convolution(model, picture, position, channel, row, col)
            assert worked.total + worked.bias == pytest.approx(worked.value, abs=1e-4)
            assert worked.value == pytest.approx(float(maps[channel, row, col]), abs=1e-5)
            assert worked.patch.shape == worked.kernel.shape == model.layers[position].weight.shape[1:]


def test_a_worked_sum_refuses_what_is_not_there():
    model = CNN(PRESETS["tutorial"].architecture)
    picture = torch.zeros(3, 32, 32, dtype=torch.uint8)
    with pytest.raises(ConfigError) as error:
        worked_convolution(model, picture, 1, 0, 0, 0)  # layer 2 is a ReLU
    assert error.value.field == "layer"
    with pytest.raises(ConfigError) as error:
        worked_convolution(model, picture, 0, 0, 32, 0)
    assert error.value.field == "row" and "0 to 31" in error.value.message
