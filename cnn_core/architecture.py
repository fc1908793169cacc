"""The architecture spec: an ordered stack of layers, as frozen dataclasses that round-trip JSON.

A spec says *what* the network is, never how big its input is: the input channels, image size and
class count come from the data set, so one spec serves CIFAR-10 (3x32x32) and MNIST (1x28x28).
The flatten before the first linear layer is implied. Each layer checks its own numbers when it is
created; whether the stack fits together is `shapes.infer_shapes`' job.

JSON form: {"name": "tutorial", "layers": [{"type": "conv", "out_channels": 18, ...}, ...]}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from . import fields
from .errors import ArchitectureError, ConfigError

MAX_LAYERS = 64
MAX_CHANNELS = 1024
MAX_FEATURES = 16384
MAX_KERNEL = 32  # a kernel as large as a whole CIFAR image
MAX_STRIDE = 32
MAX_PADDING = 16

# name in a spec -> PyTorch's name for it (torch.nn.<name>), which is also what tables show
ACTIVATIONS = {
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "gelu": "GELU",
}
POOLS = {"max": "max pool", "avg": "average pool"}


@dataclass(frozen=True)
class Conv:
    """2-D convolution: `out_channels` filters of `kernel_size` x `kernel_size` pixels."""

    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    padding: int = 0
    type: ClassVar[str] = "conv"

    def __post_init__(self):
        _set(self, "out_channels", fields.whole_number("out_channels", self.out_channels, 1, MAX_CHANNELS))
        _set(self, "kernel_size", fields.whole_number("kernel_size", self.kernel_size, 1, MAX_KERNEL))
        _set(self, "stride", fields.whole_number("stride", self.stride, 1, MAX_STRIDE))
        _set(self, "padding", fields.whole_number("padding", self.padding, 0, MAX_PADDING))

    def describe(self) -> str:
        k = self.kernel_size
        return f"conv {k}x{k}, {self.out_channels} channels, stride {self.stride}, padding {self.padding}"


@dataclass(frozen=True)
class Activation:
    """An element-wise non-linearity; `kind` is one of ACTIVATIONS."""

    kind: str = "relu"
    type: ClassVar[str] = "activation"

    def __post_init__(self):
        _set(self, "kind", fields.choice("kind", self.kind, ACTIVATIONS))

    def describe(self) -> str:
        return ACTIVATIONS[self.kind]


@dataclass(frozen=True)
class Pool:
    """Max or average pooling over `kernel_size` x `kernel_size` windows."""

    kind: str = "max"
    kernel_size: int = 2
    stride: int = 2
    padding: int = 0
    type: ClassVar[str] = "pool"

    def __post_init__(self):
        _set(self, "kind", fields.choice("kind", self.kind, POOLS))
        _set(self, "kernel_size", fields.whole_number("kernel_size", self.kernel_size, 1, MAX_KERNEL))
        _set(self, "stride", fields.whole_number("stride", self.stride, 1, MAX_STRIDE))
        _set(self, "padding", fields.whole_number("padding", self.padding, 0, MAX_PADDING))
        if self.padding > self.kernel_size // 2:
            # PyTorch refuses this too; say it before it does, in plain words.
            raise ConfigError(
                "padding",
                f"can be at most half the kernel size ({self.kernel_size // 2} for a "
                f"{self.kernel_size}x{self.kernel_size} pool; got {self.padding})",
            )

    def describe(self) -> str:
        k = self.kernel_size
        text = f"{POOLS[self.kind]} {k}x{k}, stride {self.stride}"
        return text + (f", padding {self.padding}" if self.padding else "")


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation over channels (after a convolution) or features (after a linear)."""

    type: ClassVar[str] = "batchnorm"

    def describe(self) -> str:
        return "batch norm"


@dataclass(frozen=True)
class Dropout:
    """Zeroes each value with probability `p` while training; does nothing when evaluating."""

    p: float = 0.5
    type: ClassVar[str] = "dropout"

    def __post_init__(self):
        _set(self, "p", fields.real_number("p", self.p, 0.0, 1.0, high_inclusive=False))

    def describe(self) -> str:
        return f"dropout {self.p:g}"


@dataclass(frozen=True)
class Linear:
    """Fully connected layer with `out_features` outputs (the input is flattened first)."""

    out_features: int
    type: ClassVar[str] = "linear"

    def __post_init__(self):
        _set(self, "out_features", fields.whole_number("out_features", self.out_features, 1, MAX_FEATURES))

    def describe(self) -> str:
        return f"linear, {self.out_features} outputs"


Layer = Conv | Activation | Pool | BatchNorm | Dropout | Linear
LAYER_TYPES: dict[str, type] = {cls.type: cls for cls in (Conv, Activation, Pool, BatchNorm, Dropout, Linear)}


def _set(obj: Any, name: str, value: Any) -> None:
    """Store a normalised value on a frozen dataclass during __post_init__."""
    object.__setattr__(obj, name, value)


def layer_to_dict(layer: Layer) -> dict[str, Any]:
    return {"type": layer.type, **dataclasses.asdict(layer)}


def layer_from_dict(data: Any, index: int = 0) -> Layer:
    """Build one layer from its JSON object; errors name the layer by its 1-based `index`."""
    if not isinstance(data, dict):
        raise ArchitectureError(index, "layer", f"must be a JSON object (got {type(data).__name__})")
    kind = data.get("type")
    if kind not in LAYER_TYPES:
        raise ArchitectureError(index, "layer", f"type must be one of {', '.join(LAYER_TYPES)} (got {kind!r})")
    cls = LAYER_TYPES[kind]
    args = {key: value for key, value in data.items() if key != "type"}
    try:
        fields.only_known_keys(kind, args, [f.name for f in dataclasses.fields(cls)])
        return cls(**args)
    except ConfigError as error:
        raise ArchitectureError(index, kind, str(error)) from None
    except TypeError:  # a required number is missing
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        raise ArchitectureError(index, kind, f"needs {', '.join(required)}") from None


@dataclass(frozen=True)
class Architecture:
    """A named stack of layers. The last layer must be linear with one output per class."""

    layers: tuple[Layer, ...]
    name: str = "custom"

    def __post_init__(self):
        layers = tuple(self.layers)
        if not 1 <= len(layers) <= MAX_LAYERS:
            raise ConfigError("layers", f"must hold from 1 to {MAX_LAYERS} layers (got {len(layers)})")
        for i, layer in enumerate(layers, start=1):
            if not isinstance(layer, tuple(LAYER_TYPES.values())):
                raise ArchitectureError(i, "layer", f"is not a layer (got {type(layer).__name__})")
        _set(self, "layers", layers)
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 80:
            raise ConfigError("name", "must be text of 1 to 80 characters")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layers": [layer_to_dict(layer) for layer in self.layers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> Architecture:
        fields.only_known_keys("architecture", data, ("name", "layers"))
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ConfigError("layers", "must be a list of layer objects")
        return cls(
            layers=tuple(layer_from_dict(item, i) for i, item in enumerate(layers, start=1)),
            name=data.get("name", "custom"),
        )

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        return cls.from_dict(fields.parse_json("architecture", text))

    def with_num_classes(self, num_classes: int) -> Architecture:
        """The same stack with its last linear layer resized to `num_classes` outputs."""
        last = self.layers[-1]
        if not isinstance(last, Linear) or last.out_features == num_classes:
            return self
        return dataclasses.replace(self, layers=(*self.layers[:-1], Linear(num_classes)))


# --- the table form the Architecture page edits -----------------------------------------------
# One row per layer; columns a layer does not use are left empty (None).
ROW_FIELDS = {
    "conv": {"size": "out_channels", "kernel": "kernel_size", "stride": "stride", "padding": "padding"},
    "activation": {"kind": "kind"},
    "pool": {"kind": "kind", "kernel": "kernel_size", "stride": "stride", "padding": "padding"},
    "batchnorm": {},
    "dropout": {"p": "p"},
    "linear": {"size": "out_features"},
}
ROW_COLUMNS = ("type", "size", "kernel", "stride", "padding", "kind", "p")


def to_rows(arch: Architecture) -> list[dict[str, Any]]:
    rows = []
    for layer in arch.layers:
        row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
        row["type"] = layer.type
        for column, field_name in ROW_FIELDS[layer.type].items():
            row[column] = getattr(layer, field_name)
        rows.append(row)
    return rows


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value == ""  # NaN != NaN


def from_rows(rows: list[dict[str, Any]], name: str = "custom") -> Architecture:
    """Build a stack from table rows; an empty cell takes the layer's default; errors name the row."""
    layers = []
    for index, row in enumerate((r for r in rows if not all(_blank(v) for v in r.values())), start=1):
        kind = row.get("type")
        if kind not in ROW_FIELDS:
            raise ArchitectureError(index, "layer", f"pick a layer type: {', '.join(ROW_FIELDS)}")
        data = {"type": kind}
        for column, field_name in ROW_FIELDS[kind].items():
            if not _blank(row.get(column)):
                data[field_name] = row[column]
        layers.append(layer_from_dict(data, index))
    if not layers:
        raise ConfigError("layers", "the network needs at least one layer; add a linear layer at the end")
    return Architecture(tuple(layers), name=name)
