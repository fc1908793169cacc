"""The architecture spec: validated on creation, round-trips JSON, names what is wrong."""

import json

import pytest

from cnn_core.architecture import Activation, Architecture, BatchNorm, Conv, Dropout, Linear, Pool
from cnn_core.errors import ArchitectureError, ConfigError
from cnn_core.presets import PRESETS


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name):
    arch = PRESETS[name].architecture
    again = Architecture.from_json(arch.to_json())
    assert again == arch
    assert json.loads(again.to_json()) == json.loads(arch.to_json())


def test_every_layer_kind_round_trips():
    arch = Architecture(
        (
            Conv(8, 5, 2, 2),
            BatchNorm(),
            Activation("gelu"),
            Pool("avg", 3, 1, 1),
            Dropout(0.25),
            Linear(32),
            Activation("leaky_relu"),
            Linear(10),
        ),
        name="mixed",
    )
    assert Architecture.from_dict(json.loads(arch.to_json())) == arch


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Conv(0), "out_channels"),
        (lambda: Conv(8, kernel_size=0), "kernel_size"),
        (lambda: Conv(8, stride=0), "stride"),
        (lambda: Conv(8, padding=-1), "padding"),
        (lambda: Conv("eight"), "out_channels"),
        (lambda: Conv(True), "out_channels"),
        (lambda: Pool("median"), "kind"),
        (lambda: Pool("max", 2, 2, 2), "padding"),
        (lambda: Activation("swish"), "kind"),
        (lambda: Dropout(1.0), "p"),
        (lambda: Dropout(float("nan")), "p"),
        (lambda: Linear(0), "out_features"),
    ],
)
def test_bad_layer_values_name_the_field(make, field):
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_json_errors_name_the_layer_number():
    data = {"layers": [{"type": "conv", "out_channels": 8}, {"type": "pool", "kind": "max", "kernel_size": -3}]}
    with pytest.raises(ArchitectureError) as info:
        Architecture.from_dict(data)
    assert info.value.layer == 2
    assert "kernel_size" in str(info.value) and str(info.value).startswith("layer 2")


def test_unknown_layer_type_and_unknown_keys_are_refused():
    with pytest.raises(ArchitectureError, match="type must be one of"):
        Architecture.from_dict({"layers": [{"type": "attention"}]})
    with pytest.raises(ArchitectureError, match="kernal"):
        Architecture.from_dict({"layers": [{"type": "conv", "out_channels": 4, "kernal_size": 3}]})
    with pytest.raises(ConfigError, match="colour"):
        Architecture.from_dict({"layers": [], "colour": "red"})


def test_a_missing_required_value_is_named():
    with pytest.raises(ArchitectureError, match="needs out_channels"):
        Architecture.from_dict({"layers": [{"type": "conv"}]})


def test_invalid_json_text_is_explained():
    with pytest.raises(ConfigError, match="not valid JSON"):
        Architecture.from_json("{layers: [")


def test_with_num_classes_resizes_only_the_last_linear_layer():
    arch = PRESETS["tutorial"].architecture.with_num_classes(3)
    assert arch.layers[-1] == Linear(3)
    assert arch.layers[:-1] == PRESETS["tutorial"].architecture.layers[:-1]
