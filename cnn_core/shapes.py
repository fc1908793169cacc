"""Sizes of everything in a network, computed from the spec without building it.

For each layer: its output shape by the tutorial's formula

    out = (in - kernel + 2*padding) // stride + 1

its parameter count and its multiply-adds per image, plus the totals. A stack that cannot work is
reported at the layer where it breaks, in words that say what to change, before PyTorch is asked to
build anything. The tests check every number here against real forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .architecture import Activation, Architecture, BatchNorm, Conv, Dropout, Layer, Linear, Pool
from .errors import ArchitectureError

MAX_PARAMETERS = 50_000_000  # far beyond anything a CPU trains in a demo; stops typos like 1024x1024


def output_size(in_size: int, kernel: int, stride: int, padding: int) -> int:
    """The tutorial's formula for one spatial dimension."""
    return (in_size - kernel + 2 * padding) // stride + 1


def formula_text(in_size: int, kernel: int, stride: int, padding: int) -> str:
    """The formula with the numbers filled in, as the Architecture page shows it."""
    out = output_size(in_size, kernel, stride, padding)
    return f"({in_size} - {kernel} + 2*{padding}) // {stride} + 1 = {out}"


@dataclass(frozen=True)
class LayerShape:
    """One row of the shape table. Shapes leave out the batch dimension."""

    index: int  # 1-based, as people count layers
    description: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    parameters: int
    mult_adds: int  # per image; only convolutions and linear layers count
    formula: str | None = None  # filled for layers that change the image size


@dataclass(frozen=True)
class ShapeReport:
    """Every layer that could be sized, and the first problem found (None if the stack works)."""

    input_shape: tuple[int, ...]
    rows: tuple[LayerShape, ...]
    error: ArchitectureError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def parameters(self) -> int:
        return sum(row.parameters for row in self.rows)

    @property
    def mult_adds(self) -> int:
        return sum(row.mult_adds for row in self.rows)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def activation_values(self) -> int:
        """Values stored per image for the backward pass (inputs plus every layer output)."""
        total = _count(self.input_shape)
        return total + sum(_count(row.output_shape) for row in self.rows)

    def raise_if_invalid(self) -> None:
        if self.error is not None:
            raise self.error


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def infer_shapes(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> ShapeReport:
    """Size every layer of `arch` for images of `input_shape` (channels, height, width)."""
    rows: list[LayerShape] = []
    shape: tuple[int, ...] = tuple(input_shape)
    for index, layer in enumerate(arch.layers, start=1):
        try:
            row = _size_layer(index, layer, shape)
        except ArchitectureError as error:
            return ShapeReport(tuple(input_shape), tuple(rows), error)
        rows.append(row)
        shape = row.output_shape
    return ShapeReport(tuple(input_shape), tuple(rows), _check_whole(arch, rows, num_classes))


def _size_layer(index: int, layer: Layer, shape: tuple[int, ...]) -> LayerShape:
    description = layer.describe()

    def fail(message: str) -> ArchitectureError:
        return ArchitectureError(index, description, message)

    if isinstance(layer, (Conv, Pool)):
        if len(shape) != 3:
            what = "a convolution" if isinstance(layer, Conv) else "pooling"
            raise fail(
                f"{what} needs an image, but its input is a flat list of {shape[0]} numbers from a "
                "linear layer; move it above the first linear layer"
            )
        channels, height, width = shape
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        if min(height, width) + 2 * p < k:
            fix = (
                "use a smaller kernel, add padding, or remove a pooling layer above it"
                if isinstance(layer, Conv)
                else "remove a pooling layer or lower the stride"
            )
            raise fail(
                f"its input is only {height}x{width} pixels"
                + (f" (plus {p} padding)" if p else "")
                + f", smaller than its {k}x{k} window; {fix}"
            )
        out_h, out_w = output_size(height, k, s, p), output_size(width, k, s, p)
        formula = formula_text(height, k, s, p)
        if isinstance(layer, Conv):
            out_channels = layer.out_channels
            params = out_channels * channels * k * k + out_channels
            mult_adds = out_channels * out_h * out_w * channels * k * k
            return LayerShape(index, description, shape, (out_channels, out_h, out_w), params, mult_adds, formula)
        return LayerShape(index, description, shape, (channels, out_h, out_w), 0, 0, formula)

    if isinstance(layer, Linear):
        in_features = _count(shape)  # the flatten before the first linear layer is implied
        params = in_features * layer.out_features + layer.out_features
        return LayerShape(index, description, shape, (layer.out_features,), params, in_features * layer.out_features)

    if isinstance(layer, BatchNorm):
        return LayerShape(index, description, shape, shape, 2 * shape[0], 0)

    if isinstance(layer, (Activation, Dropout)):
        return LayerShape(index, description, shape, shape, 0, 0)

    raise fail("is not a layer this app knows")  # unreachable: Architecture checks layer types


def _check_whole(arch: Architecture, rows: list[LayerShape], num_classes: int) -> ArchitectureError | None:
    last = arch.layers[-1]
    index = len(arch.layers)
    if not isinstance(last, Linear):
        return ArchitectureError(
            index,
            last.describe(),
            f"the last layer must be a linear layer with one output per class ({num_classes}); add one at the end",
        )
    if last.out_features != num_classes:
        return ArchitectureError(
            index,
            last.describe(),
            f"the last layer needs one output per class: set its outputs to {num_classes}",
        )
    total = sum(row.parameters for row in rows)
    if total > MAX_PARAMETERS:
        return ArchitectureError(
            0,
            "the network",
            f"has {total:,} parameters, more than the {MAX_PARAMETERS:,} this app trains; use fewer "
            "channels or outputs, or add pooling before the first linear layer",
        )
    return None


def check(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> ShapeReport:
    """`infer_shapes`, raising the first problem as an ArchitectureError."""
    report = infer_shapes(arch, input_shape, num_classes)
    report.raise_if_invalid()
    return report
