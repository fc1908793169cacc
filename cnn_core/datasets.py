"""Where data sets come from: a name (or, later, a path) in, a `Dataset` out.

Built-in names:
    synthetic   generated striped patterns, 3,000 training and 1,000 test images (no files needed)
"""

from __future__ import annotations

from collections.abc import Callable

from .data import Dataset, make_synthetic
from .errors import DataError

BUILTIN: dict[str, tuple[str, Callable[[], Dataset]]] = {
    "synthetic": ("Generated striped patterns in 10 classes (no download, no files)", make_synthetic),
}
DEFAULT = "synthetic"


def load_dataset(name: str = DEFAULT) -> Dataset:
    if name in BUILTIN:
        return BUILTIN[name][1]()
    raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(BUILTIN)}")
