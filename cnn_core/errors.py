"""The errors cnn_core raises for things a user can fix.

Every refusal is a `CnnCoreError` with a message written for a person who does not read
tracebacks: it names what is wrong (a settings field, a layer, a file) and what is allowed.
Pages show `str(error)`; the command line prints it on one line and exits with code 2.
"""

from __future__ import annotations


class CnnCoreError(Exception):
    """Base class: something the user can fix by changing an input."""


class ConfigError(CnnCoreError, ValueError):
    """A configuration value is not allowed. `field` names it, as the dataclass spells it.

    Messages read as a sentence after the field name: "batch_size must be a whole number ...".
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field} {message}")


class ArchitectureError(CnnCoreError, ValueError):
    """A layer stack cannot work. `layer` is the 1-based layer number (0 for the whole stack)."""

    def __init__(self, layer: int, description: str, message: str):
        self.layer = layer
        self.description = description
        self.message = message
        where = f"layer {layer} ({description})" if layer else description
        super().__init__(f"{where}: {message}")


class RunStoreError(CnnCoreError):
    """A saved run is missing, damaged or does not fit the model it is loaded into."""


class DataError(CnnCoreError, ValueError):
    """A data set cannot be loaded or does not hold what was asked of it."""
