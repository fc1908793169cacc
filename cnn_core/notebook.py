"""Runs as a lab notebook: each run's readable name and its tags.

A run is named by what sets it apart from where it started: its network ("tutorial CNN", or
"custom CNN (2 conv, 2 linear)" once its layers differ from every preset), then the learning rate,
every other setting that differs from its preset's (each setting's `short` in settings.SCHEMA
says how, or that it is never named), and the epochs: "tutorial CNN · lr 0.01 · 5 epochs".

A person can give it another name and tags (notes.json in the run folder, read and checked by
`Notes.from_dict`); clearing the name brings the made one back.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from . import fields
from .architecture import Architecture, Conv, Linear
from .errors import ConfigError
from .presets import PRESETS, preset_for
from .settings import SCHEMA, SETTINGS, TrainSettings

SEPARATOR = " · "
NAME_CHARS = 80  # a name fits a legend and a table cell
TAG_CHARS = 24
MAX_TAGS = 12
ALWAYS = ("learning_rate", "epochs")  # named even when they are the preset's: what people compare first


def made_name(architecture: Architecture, settings: TrainSettings, preset: str | None = None) -> str:
    """The name a run gets from what it is (see the module's docstring). `preset` is the one it
    started from; a network with exactly a preset's layers is that preset's whatever it was called."""
    key = preset_for(architecture, preset)
    if key is not None:
        network = PRESETS[key].short
    else:
        convs = sum(isinstance(layer, Conv) for layer in architecture.layers)
        linears = sum(isinstance(layer, Linear) for layer in architecture.layers)
        network = f"custom CNN ({convs} conv, {linears} linear)"
    started = PRESETS.get(key or preset)
    baseline = started.settings if started is not None else TrainSettings()
    parts = [network]
    for setting in SCHEMA:  # the schema's order, epochs moved last
        if setting.short and setting.name != "epochs":
            value = getattr(settings, setting.name)
            if setting.name in ALWAYS or value != getattr(baseline, setting.name):
                parts.append(setting.named(value))
    parts.append(SETTINGS["epochs"].named(settings.epochs))
    return SEPARATOR.join(parts)


def _text(field: str, value: Any, limit: int) -> str:
    """`value` as one line of printable text, trimmed, at most `limit` characters; else ConfigError."""
    if not isinstance(value, str):
        raise ConfigError(field, f"must be text (got {type(value).__name__})")
    text = " ".join(value.split())  # newlines and runs of spaces become one space
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ConfigError(field, "must not hold control characters")
    if len(text) > limit:
        raise ConfigError(field, f"must be at most {limit} characters (got {len(text)})")
    return text


@dataclass(frozen=True)
class Notes:
    """What a person wrote about a run: a name ("" keeps the made one) and tags."""

    name: str = ""
    tags: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "name", _text("name", self.name, NAME_CHARS))
        if isinstance(self.tags, str) or not isinstance(self.tags, list | tuple):
            raise ConfigError("tags", f"must be a list of words (got {type(self.tags).__name__})")
        tags: list[str] = []
        for tag in self.tags:
            tag = _text("tags", tag, TAG_CHARS)
            if tag and tag.casefold() not in {t.casefold() for t in tags}:  # "Demo" and "demo" are one tag
                tags.append(tag)
        if len(tags) > MAX_TAGS:
            raise ConfigError("tags", f"must be at most {MAX_TAGS} (got {len(tags)})")
        object.__setattr__(self, "tags", tuple(tags))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tags": list(self.tags)}

    @classmethod
    def from_dict(cls, data: Any) -> Notes:
        data = fields.only_known_keys("notes", data, ("name", "tags"))
        return cls(name=data.get("name") or "", tags=data.get("tags") or ())
