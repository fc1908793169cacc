"""Editing the layer table of the Architecture page: whole blocks inserted, a row removed,
duplicated or moved, each without touching any other row; and, while some rows are incomplete,
the network the complete rows make, with what each incomplete row needs said in plain words.

Rows are the table's (architecture.to_rows / from_rows), numbered from 1 as the table shows them,
blank rows included: an edit at row 3 acts on the third row on the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .architecture import ACTIVATIONS, ROW_COLUMNS, ROW_FIELDS, Architecture, _blank, from_rows
from .errors import ArchitectureError, ConfigError

# What a row needs, in words, by layer type and column: "set the number of filters (size)".
NEEDS = {
    ("conv", "size"): "set the number of filters (size)",
    ("linear", "size"): "set the number of outputs (size)",
    ("activation", "kind"): f"pick an activation (kind): {', '.join(ACTIVATIONS)}",
    ("pool", "kind"): "pick max or avg (kind)",
}
BLOCK_CHANNELS = 32  # a conv block's filters when no convolution comes before it


def row(**values: Any) -> dict[str, Any]:
    """A table row: the given columns, the others empty."""
    return {column: values.get(column) for column in ROW_COLUMNS}


def conv_block(channels: int = BLOCK_CHANNELS) -> list[dict[str, Any]]:
    """A convolution that keeps the picture's size (3x3, padding 1), ReLU, and a 2x2 max pool that
    halves it: the unit most CNNs are built from."""
    return [
        row(type="conv", size=channels, kernel=3, stride=1, padding=1),
        row(type="activation", kind="relu"),
        row(type="pool", kind="max", kernel=2, stride=2, padding=0),
    ]


def block_channels(rows: list[dict], after: int) -> int:
    """The filters for a block after row `after`: those of the last convolution above it."""
    for r in reversed(rows[:after]):
        if r.get("type") == "conv" and not _blank(r.get("size")):
            return int(r["size"])
    return BLOCK_CHANNELS


def _check(rows: list[dict], number: int) -> int:
    if not 1 <= number <= len(rows):
        raise ConfigError("row", f"must be a row of the table, 1 to {len(rows)} (got {number})")
    return number - 1


def insert(rows: list[dict], after: int, new: list[dict]) -> list[dict]:
    """`new` rows after row `after` (0: at the top)."""
    if not 0 <= after <= len(rows):
        raise ConfigError("row", f"must be from 0 (the top) to {len(rows)} (got {after})")
    return [*rows[:after], *(dict(r) for r in new), *rows[after:]]


def remove(rows: list[dict], number: int) -> list[dict]:
    i = _check(rows, number)
    return [*rows[:i], *rows[i + 1 :]]


def duplicate(rows: list[dict], number: int) -> list[dict]:
    """A copy of row `number` right under it."""
    i = _check(rows, number)
    return [*rows[: i + 1], dict(rows[i]), *rows[i + 1 :]]


def move(rows: list[dict], number: int, to: int) -> list[dict]:
    """Row `number` moved to position `to` (both as the table numbers them); the others keep their order."""
    i = _check(rows, number)
    j = _check(rows, to)
    rest = [*rows[:i], *rows[i + 1 :]]
    return [*rest[:j], rows[i], *rest[j:]]


@dataclass(frozen=True)
class RowProblem:
    row: int  # as the table numbers it
    needs: str  # in words: "set the number of filters (size)"


def complete_part(rows: list[dict]) -> tuple[Architecture | None, list[RowProblem]]:
    """The network the complete rows make (None if none is complete, or they do not make one), and
    what each incomplete or wrong row needs. A blank row is ignored; an incomplete row is left out
    of the network, so the rest can still be sized while the user fills it in."""
    problems, complete = [], []
    for number, r in enumerate(rows, start=1):
        if all(_blank(v) for v in r.values()):
            continue
        kind = r.get("type")
        if kind not in ROW_FIELDS:
            problems.append(RowProblem(number, f"pick a layer type: {', '.join(ROW_FIELDS)}"))
            continue
        missing = [NEEDS[(kind, c)] for c in ROW_FIELDS[kind] if (kind, c) in NEEDS and _blank(r.get(c))]
        if missing:
            problems.append(RowProblem(number, " and ".join(missing)))
            continue
        try:
            from_rows([r])
        except ArchitectureError as error:  # a value out of range, named by its column
            message = error.message
            for column, field_name in ROW_FIELDS[kind].items():
                message = message.replace(field_name, column)
            problems.append(RowProblem(number, message))
            continue
        except ConfigError as error:
            problems.append(RowProblem(number, str(error)))
            continue
        complete.append(r)
    try:
        return (from_rows(complete, name="custom") if complete else None), problems
    except (ArchitectureError, ConfigError):
        return None, problems
