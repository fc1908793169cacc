"""What differs between two runs, in the words the Runs page and ghost runs use."""

from cnn_core.architecture import Activation, Architecture, Conv, Linear, Pool
from cnn_core.differences import architecture_changes, changes, setting_changes
from cnn_core.presets import PRESETS
from cnn_core.settings import TrainSettings

TUTORIAL = PRESETS["tutorial"].architecture


def test_settings_say_what_changed_in_their_own_words():
    before = TrainSettings()
    after = before.replace(learning_rate=0.01, optimizer="sgd", augment=True, train_samples=8000)
    assert setting_changes(before, after) == [
        "learning rate 0.001 -> 0.01",
        "optimizer Adam -> SGD with momentum",
        "training images 20,000 images -> 8,000 images",
        "augment off -> on",
    ]
    assert setting_changes(before, before) == []


def test_a_wider_first_convolution_is_named_with_its_layer():
    wider = Architecture((Conv(32, 3, 1, 1), *TUTORIAL.layers[1:]))
    assert architecture_changes(TUTORIAL, wider) == ["conv filters 18 -> 32 at layer 1"]


def test_an_added_block_and_a_removed_layer_are_said_where_they_are():
    layers = TUTORIAL.layers
    block = (Conv(32, 3, 1, 1), Activation("relu"), Pool())
    deeper = Architecture((*layers[:3], *block, *layers[3:]))
    assert architecture_changes(TUTORIAL, deeper) == [
        "added conv 3x3 (32 filters) + ReLU + max pool 2x2 at layers 4 to 6"
    ]
    assert architecture_changes(deeper, TUTORIAL) == [
        "removed conv 3x3 (32 filters) + ReLU + max pool 2x2 (layers 4 to 6)"
    ]
    shorter = Architecture(tuple(layer for i, layer in enumerate(layers) if i != 4))  # drop the hidden ReLU
    assert architecture_changes(TUTORIAL, shorter) == ["removed ReLU (layer 5)"]


def test_a_layer_of_another_kind_and_another_activation():
    gelu = Architecture(
        tuple(Activation("gelu") if layer == Activation("relu") else layer for layer in TUTORIAL.layers)
    )
    assert architecture_changes(TUTORIAL, gelu) == ["ReLU -> GELU at layer 2", "ReLU -> GELU at layer 5"]
    wide_head = Architecture((*TUTORIAL.layers[:3], Linear(128), *TUTORIAL.layers[4:]))
    assert architecture_changes(TUTORIAL, wide_head) == ["linear outputs 64 -> 128 at layer 4"]
    other_kind = Architecture((*TUTORIAL.layers[:2], Pool("avg"), *TUTORIAL.layers[3:]))
    assert architecture_changes(TUTORIAL, other_kind) == ["max pool 2x2 -> average pool 2x2 at layer 3"]


def test_everything_together_and_the_data_set():
    said = changes((TUTORIAL, TrainSettings(), "sample"), (TUTORIAL, TrainSettings(epochs=10), "cifar10"))
    assert said == ["epochs 5 -> 10", "data set sample -> cifar10"]
