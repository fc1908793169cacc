"""Checks for single configuration values, shared by every frozen dataclass in cnn_core.

Each check returns the value (normalised, e.g. "Adam" -> "adam") or raises `ConfigError` naming
the field and what is allowed, in words a non-programmer can act on. Values that arrive from JSON,
a form or the command line may be the wrong type (text, NaN, booleans), so nothing is assumed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError


def whole_number(field: str, value: Any, low: int, high: int) -> int:
    """An int in [low, high]; floats equal to an integer (e.g. 32.0 from JSON) are accepted."""
    if isinstance(value, bool):
        raise ConfigError(field, f"must be a whole number from {low:,} to {high:,}, not {value}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ConfigError(field, f"must be a whole number from {low:,} to {high:,} (got {value!r})")
    if not low <= value <= high:
        raise ConfigError(field, f"must be a whole number from {low:,} to {high:,} (got {value:,})")
    return value


def real_number(
    field: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """A finite float within the bounds; the message spells the bounds out."""
    lower = f"at least {low:g}" if low_inclusive else f"greater than {low:g}"
    if math.isinf(high):
        allowed = f"a number {lower}"
    else:
        upper = f"at most {high:g}" if high_inclusive else f"less than {high:g}"
        allowed = f"a number {lower} and {upper}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, f"must be {allowed} (got {value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(field, f"must be {allowed} (got {value})")
    too_low = value < low if low_inclusive else value <= low
    too_high = value > high if high_inclusive else value >= high
    if too_low or too_high:
        raise ConfigError(field, f"must be {allowed} (got {value:g})")
    return value


def choice(field: str, value: Any, allowed: Iterable[str]) -> str:
    """One of `allowed`, compared without case."""
    allowed = tuple(allowed)
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    raise ConfigError(field, f"must be one of {', '.join(allowed)} (got {value!r})")


def flag(field: str, value: Any) -> bool:
    """A true/false value; JSON gives real booleans, so nothing else is accepted."""
    if not isinstance(value, bool):
        raise ConfigError(field, f"must be true or false (got {value!r})")
    return value


def only_known_keys(where: str, data: Any, known: Iterable[str]) -> Mapping[str, Any]:
    """Refuse a mapping with keys we do not know: a typo must not be silently ignored."""
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"must be a JSON object (got {type(data).__name__})")
    known = tuple(known)
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}",
            f"is not a known setting; allowed: {', '.join(known)}",
        )
    return data


MAX_JSON_DEPTH = 16  # an architecture nests three levels; anything deeper is not one


def json_depth(text: str) -> int:
    """How deeply `text` nests brackets, outside strings (counted before parsing, so a file of
    100,000 '[' cannot exhaust the parser's recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json(where: str, text: str) -> Any:
    """JSON text -> Python, or a ConfigError that says where the text is broken."""
    import json

    if json_depth(text) > MAX_JSON_DEPTH:
        raise ConfigError(where, f"nests deeper than {MAX_JSON_DEPTH} levels; it is not an architecture")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(where, f"is not valid JSON ({error.msg}, line {error.lineno})") from None
    except RecursionError:
        raise ConfigError(where, "nests too deeply to read") from None
