"""Filters, feature maps and probabilities, checked against a plain forward pass."""

import torch

from cnn_core.inspection import class_probabilities, conv_filters, feature_maps
from cnn_core.model import build_model
from cnn_core.presets import PRESETS


def test_feature_maps_are_each_layers_real_output():
    model = build_model(PRESETS["tutorial-2conv"].architecture, seed=0).eval()
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    maps = feature_maps(model, image)
    # Oracle: run the layers by hand.
    x = (image.float().unsqueeze(0) / 255 - model.mean) / model.std
    for i, layer in enumerate(model.layers):
        if i == model.flatten_before:
            x = x.flatten(1)
        x = layer(x)
        assert torch.allclose(maps[i].values, x[0].detach(), atol=1e-6), maps[i].description
    assert maps[0].description.startswith("conv 3x3")
    assert model.training is False


def test_filters_are_the_convolution_weights():
    model = build_model(PRESETS["tutorial"].architecture, seed=0)
    filters = conv_filters(model)
    assert filters.shape == (18, 3, 3, 3)
    assert torch.equal(filters, model.layers[0].weight.detach())


def test_probabilities_are_the_softmax_of_the_logits_in_evaluation_mode():
    arch = PRESETS["tutorial"].architecture
    from cnn_core.architecture import Architecture, Dropout

    # Dropout makes training-mode outputs random: the probabilities must come from eval mode.
    model = build_model(Architecture((*arch.layers[:4], Dropout(0.5), *arch.layers[4:])), seed=0).train()
    image = torch.rand(3, 32, 32)
    probs = class_probabilities(model, image)
    assert model.training is True  # the caller's mode is restored
    model.eval()
    assert torch.allclose(probs, torch.softmax(model(image.unsqueeze(0)), 1)[0].detach())
    assert abs(float(probs.sum()) - 1) < 1e-6
