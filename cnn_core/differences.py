"""What differs between two runs, in words: "learning rate 0.001 -> 0.01", "conv filters 18 -> 32 at
layer 1", "added conv 3x3 (32 filters) + ReLU + max pool 2x2 at layers 4 to 6".

Runs, and a run started from another (a ghost on its chart), say what changed this way instead of
as a table of raw keys.
"""

from __future__ import annotations

import difflib
from dataclasses import fields

from .architecture import Activation, Architecture, Conv, Dropout, Layer, Linear, Pool
from .settings import SCHEMA, TrainSettings

# A layer field's name in a sentence, and how to write its value.
_FIELD_WORDS = {
    "out_channels": ("filters", str),
    "out_features": ("outputs", str),
    "kernel_size": ("kernel", lambda k: f"{k}x{k}"),
    "stride": ("stride", str),
    "padding": ("padding", str),
    "p": ("dropout", lambda p: f"{p:g}"),
}


def setting_changes(before: TrainSettings, after: TrainSettings) -> list[str]:
    """One phrase per setting that differs, in the schema's order."""
    return [
        f"{s.label[:1].lower()}{s.label[1:]} {s.show(getattr(before, s.name))} -> {s.show(getattr(after, s.name))}"
        for s in SCHEMA
        if getattr(before, s.name) != getattr(after, s.name)
    ]


def _name(layer: Layer) -> str:
    return layer.describe().split(",")[0]  # "conv 3x3", "max pool 2x2", "ReLU", "linear"


def _short(layer: Layer) -> str:
    """A layer in a few words: "conv 3x3 (32 filters)", "ReLU", "max pool 2x2", "linear (64 outputs)"."""
    if isinstance(layer, Conv):
        return f"{_name(layer)} ({layer.out_channels} filters)"
    if isinstance(layer, Linear):
        return f"linear ({layer.out_features} outputs)"
    return _name(layer)


def _layers(layers: list[Layer]) -> str:
    return " + ".join(_short(layer) for layer in layers)


def _slide(seq: list[Layer], start: int, end: int) -> tuple[int, int]:
    """A run of added (or removed) layers moved as late as it can go and mean the same change:
    [conv, ReLU, pool] + [conv, ReLU, pool] reads as a block added after the first, not as
    "ReLU, pool, conv" added inside it."""
    while end < len(seq) and seq[start] == seq[end]:
        start, end = start + 1, end + 1
    return start, end


def _layer_change(before: Layer, after: Layer, number: int) -> list[str]:
    if type(before) is not type(after):
        return [f"layer {number}: {before.describe()} -> {after.describe()}"]
    if isinstance(before, Activation | Pool) and before.kind != after.kind:
        return [f"{_name(before)} -> {_name(after)} at layer {number}"]
    out = []
    for f in fields(before):
        if f.name in _FIELD_WORDS and getattr(before, f.name) != getattr(after, f.name):
            word, show = _FIELD_WORDS[f.name]
            kind = "conv" if isinstance(before, Conv) else "linear" if isinstance(before, Linear) else _name(before)
            if isinstance(before, Dropout):
                out.append(f"dropout {show(before.p)} -> {show(after.p)} at layer {number}")
            else:
                out.append(
                    f"{kind} {word} {show(getattr(before, f.name))} -> {show(getattr(after, f.name))} at layer {number}"
                )
    return out


def architecture_changes(before: Architecture, after: Architecture) -> list[str]:
    """Layers changed, added or removed, numbered as in the network they are found in."""
    a, b = list(before.layers), list(after.layers)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                out += _layer_change(a[i1 + k], b[j1 + k], j1 + k + 1)
        elif op == "replace":
            out.append(f"removed {_layers(a[i1:i2])} ({_span(i1, i2)})")
            out.append(f"added {_layers(b[j1:j2])} at {_span(j1, j2)}")
        elif op == "insert":
            j1, j2 = _slide(b, j1, j2)
            out.append(f"added {_layers(b[j1:j2])} at {_span(j1, j2)}")
        elif op == "delete":
            i1, i2 = _slide(a, i1, i2)
            out.append(f"removed {_layers(a[i1:i2])} ({_span(i1, i2)})")
    return out


def _span(start: int, end: int) -> str:
    return f"layer {start + 1}" if end - start == 1 else f"layers {start + 1} to {end}"


def changes(
    before: tuple[Architecture, TrainSettings, str], after: tuple[Architecture, TrainSettings, str]
) -> list[str]:
    """Everything that differs from `before` to `after` (network, settings, data set name), in words."""
    out = architecture_changes(before[0], after[0]) + setting_changes(before[1], after[1])
    if before[2] != after[2]:
        out.append(f"data set {before[2]} -> {after[2]}")
    return out
