"""The whitened first layer: its filters make the patches' directions uncorrelated and of unit
variance (checked against the covariance of what the convolution actually outputs), it stays
fixed while the rest trains, and a network that cannot be whitened is refused in words."""

import pytest
import torch
import torch.nn.functional as F

from cnn_core.architecture import Architecture, Conv, Linear
from cnn_core.errors import ConfigError
from cnn_core.model import build_model
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer
from cnn_core.whitening import EPSILON, whiten_first_conv, whitening_filters


def _correlated_images(n: int = 400, seed: int = 0) -> torch.Tensor:
    """Smooth, correlated colour pictures: neighbouring pixels and channels move together."""
    g = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(n, 1, 20, 20, generator=g), 3, 1, 1)
    colour = torch.rand(n, 3, 1, 1, generator=g)
    return base * (0.5 + colour) + 0.1 * torch.rand(n, 3, 20, 20, generator=g)


@pytest.mark.parametrize("kernel", [2, 3])
def test_the_outputs_of_the_positive_filters_are_white(kernel):
    images = _correlated_images()
    d = 3 * kernel * kernel
    filters = whitening_filters(images, kernel, 2 * d)
    out = F.conv2d(images, filters[0::2])  # one filter per direction, the + sign
    flat = out.permute(0, 2, 3, 1).reshape(-1, d).double()
    flat = flat - flat.mean(0)
    covariance = flat.T @ flat / len(flat)
    # The oracle: the covariance of the patches themselves, computed independently.
    patches = F.unfold(images, kernel).transpose(1, 2).reshape(-1, d).double()
    patches = patches - patches.mean(0)
    variances = torch.linalg.eigvalsh(patches.T @ patches / len(patches)).flip(0)
    expected = torch.diag(variances / (variances + EPSILON))  # 1 where the direction is well above epsilon
    assert torch.allclose(covariance, expected, atol=2e-3)
    assert covariance[0, 0] > 0.99  # the strongest direction comes out at unit variance


def test_each_direction_comes_with_both_signs_and_they_repeat_past_the_last():
    filters = whitening_filters(_correlated_images(), 2, 30)  # 12 directions, 30 filters
    assert torch.equal(filters[1], -filters[0]) and torch.equal(filters[3], -filters[2])
    assert torch.equal(filters[24], filters[0]) and torch.equal(filters[29], filters[5])


def test_training_keeps_the_whitened_filters_and_learns_their_bias(tiny_data, tmp_path):
    data = tiny_data
    arch = PRESETS["quick"].architecture
    settings = TrainSettings(
        epochs=1, batch_size=32, train_samples=200, val_samples=40, test_samples=40, whiten=True,
        optimizer="sgd", learning_rate=0.05,
    )  # fmt: skip
    trainer = Trainer(arch, settings, data, store=RunStore(tmp_path))
    expected = build_model(arch, data.input_shape, data.num_classes, data.mean, data.std, seed=settings.seed)
    whiten_first_conv(expected, data.train_images[trainer.plan.split.train])
    result = trainer.run()
    assert result.status == "completed"
    model = RunStore(tmp_path).get(result.run_dir.split("/")[-1]).load_model()
    trained = model.layers[0]
    assert torch.equal(trained.weight, expected.layers[0].weight)  # the filters did not move
    assert not torch.equal(trained.bias, torch.zeros_like(trained.bias))  # the bias learned
    assert not torch.equal(model.layers[2].weight, expected.layers[2].weight)  # the rest learned


@pytest.mark.parametrize("bias_epochs, still_learning", [(1, False), (1000, True)])
def test_the_whitened_bias_is_frozen_after_its_epochs(tiny_data, bias_epochs, still_learning):
    settings = TrainSettings(
        epochs=3, batch_size=32, train_samples=200, val_samples=0, test_samples=40, whiten=True,
        whiten_bias_epochs=bias_epochs, optimizer="sgd", learning_rate=0.05, weight_decay=5e-4,
    )  # fmt: skip
    trainer = Trainer(PRESETS["quick"].architecture, settings, tiny_data)
    biases = []
    trainer.between_epochs = lambda epoch, seconds, net: biases.append(net.model.layers[0].bias.detach().clone())
    assert trainer.run().status == "completed"
    assert not torch.equal(biases[0], torch.zeros_like(biases[0]))  # it learned in its first epoch
    assert torch.equal(biases[0], biases[2]) is not still_learning  # and not after (weight decay too)


def test_a_network_that_does_not_start_with_a_convolution_is_refused_in_words(tiny_data):
    data = tiny_data
    flat = Architecture((Linear(32), Linear(10)))
    with pytest.raises(ConfigError) as caught:
        Trainer(flat, TrainSettings(whiten=True, epochs=1), data)
    assert caught.value.field == "whiten" and "first layer a conv" in str(caught.value)
    Trainer(Architecture((Conv(8, 3, 1, 1), Linear(10))), TrainSettings(whiten=True, epochs=1), data)  # accepted
