"""The presets: `seed` is the tutorial's SimpleCNN, checked against the tutorial's own class."""

import pytest
import torch

from cnn_core.bench import TutorialSimpleCNN
from cnn_core.errors import ConfigError
from cnn_core.model import build_model
from cnn_core.presets import PRESETS, get_preset
from cnn_core.shapes import infer_shapes


def test_seed_is_the_tutorials_simplecnn():
    ours = build_model(PRESETS["tutorial"].architecture, seed=0).eval()
    theirs = TutorialSimpleCNN().eval()  # the benchmark's reference, as the tutorial wrote it
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 296_130
    pairs = zip([ours.layers[0], ours.layers[3], ours.layers[5]], [theirs.conv1, theirs.fc1, theirs.fc2], strict=True)
    for mine, tutorial in pairs:
        tutorial.load_state_dict(mine.state_dict())
    images = torch.rand(4, 3, 32, 32)
    # Our model normalises inside; the tutorial normalised in its transform with mean = std = 0.5.
    assert torch.allclose(ours(images), theirs((images - 0.5) / 0.5), atol=1e-5)


def test_seed_settings_are_the_tutorials():
    s = PRESETS["tutorial"].settings
    assert (s.batch_size, s.epochs, s.learning_rate, s.optimizer, s.seed) == (32, 5, 0.001, "adam", 42)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_fits_cifar_and_mnist_shapes(name):
    arch = PRESETS[name].architecture
    assert infer_shapes(arch, (3, 32, 32), 10).ok
    assert infer_shapes(arch.with_num_classes(10), (1, 28, 28), 10).ok


def test_seed_2conv_adds_a_second_conv_and_pool_block():
    kinds = [layer.type for layer in PRESETS["tutorial-2conv"].architecture.layers]
    assert kinds.count("conv") == 2 and kinds.count("pool") == 2


def test_unknown_preset_is_named():
    with pytest.raises(ConfigError, match="tutorial, tutorial-2conv, quick, strong"):
        get_preset("resnet")


def test_the_old_preset_names_still_work():
    """`seed` was easily taken for the random seed; it is `tutorial` now, and old commands still run."""
    from cnn_core.cli import _settings, build_parser
    from cnn_core.presets import canonical, get_preset

    assert get_preset("seed") is PRESETS["tutorial"] and PRESETS["seed-2conv"] is PRESETS["tutorial-2conv"]
    assert "seed" in PRESETS and "seed" not in list(PRESETS)  # found, not listed
    assert canonical("seed") == "tutorial" and canonical("strong") == "strong"
    settings, _ = _settings(build_parser().parse_args(["train", "--preset", "seed"]))
    assert settings == PRESETS["tutorial"].settings


def test_a_network_is_the_preset_whose_layers_it_has_whatever_its_name():
    from cnn_core.architecture import Architecture, Conv
    from cnn_core.presets import preset_for

    tutorial = PRESETS["tutorial"].architecture
    renamed = Architecture(tutorial.layers, name="custom")
    assert preset_for(renamed) == "tutorial" and preset_for(renamed, "seed") == "tutorial"
    assert preset_for(renamed, "strong") == "tutorial"  # a wrong name is not believed
    assert preset_for(Architecture((Conv(7, 3, 1, 1), *tutorial.layers[1:]))) is None
