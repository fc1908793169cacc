"""Named starting points: an architecture together with the training settings it was made for.

- `tutorial`: the tutorial's SimpleCNN exactly (296,130 parameters on 3x32x32 images) and its settings.
- `tutorial-2conv`: the deeper variant the tutorial suggests, a second convolution and pooling block.

The first two were called `seed` and `seed-2conv`, a name easily taken for the random seed; the
old names still work (ALIASES), so old commands and runs keep theirs.
- `strong`: the most accurate small network we train on 2 CPU cores in about 10 minutes; it
  brings its own recipe (batch norm, augmentation, label smoothing, one-cycle schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

from .architecture import Activation, Architecture, BatchNorm, Conv, Linear, Pool
from .errors import ConfigError
from .settings import TrainSettings


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    short: str  # the network in a run's name ("tutorial CNN · lr 0.01 · 5 epochs")
    description: str
    architecture: Architecture
    settings: TrainSettings


def _conv_block(channels: int) -> tuple:
    return (Conv(channels, 3, 1, 1), BatchNorm(), Activation("relu"))


ALIASES = {"seed": "tutorial", "seed-2conv": "tutorial-2conv"}  # old name -> name


class _Presets(dict):
    """The presets by name; an old name (ALIASES) finds its preset too, but is not listed."""

    def __getitem__(self, name: str) -> Preset:
        return super().__getitem__(ALIASES.get(name, name))

    def __contains__(self, name: object) -> bool:
        return super().__contains__(ALIASES.get(name, name) if isinstance(name, str) else name)

    def get(self, name, default=None):
        return self[name] if name in self else default


PRESETS: dict[str, Preset] = _Presets(
    (preset.name, preset)
    for preset in (
        Preset(
            name="tutorial",
            title="Tutorial SimpleCNN",
            short="tutorial CNN",
            description="One convolution (18 filters of 3x3), ReLU, 2x2 max pooling, then two linear "
            "layers: the network from the tutorial, trained with its settings.",
            architecture=Architecture(
                (
                    Conv(18, 3, 1, 1),
                    Activation("relu"),
                    Pool("max", 2, 2, 0),
                    Linear(64),
                    Activation("relu"),
                    Linear(10),
                ),
                name="tutorial",
            ),
            settings=TrainSettings(),
        ),
        Preset(
            name="tutorial-2conv",
            title="Tutorial CNN with a second conv block",
            short="tutorial CNN, 2 conv",
            description="The tutorial's suggestion for more accuracy: a second convolution and pooling "
            "block before the linear layers, so the network sees larger patterns.",
            architecture=Architecture(
                (
                    Conv(18, 3, 1, 1),
                    Activation("relu"),
                    Pool("max", 2, 2, 0),
                    Conv(36, 3, 1, 1),
                    Activation("relu"),
                    Pool("max", 2, 2, 0),
                    Linear(64),
                    Activation("relu"),
                    Linear(10),
                ),
                name="tutorial-2conv",
            ),
            settings=TrainSettings(),
        ),
        Preset(
            name="strong",
            title="Strong small CNN",
            short="strong CNN",
            description="Four conv blocks with batch norm, trained with augmentation, label smoothing "
            "and a one-cycle schedule on the whole training set: the accuracy a CPU can reach in minutes.",
            architecture=Architecture(
                (
                    *_conv_block(32),
                    *_conv_block(64),
                    Pool("max", 2, 2, 0),
                    *_conv_block(128),
                    Pool("max", 2, 2, 0),
                    *_conv_block(256),
                    Pool("max", 2, 2, 0),
                    Pool("max", 2, 2, 0),
                    Linear(10),
                ),
                name="strong",
            ),
            settings=TrainSettings(
                batch_size=128,
                epochs=15,
                learning_rate=0.1,
                optimizer="sgd",
                momentum=0.9,
                weight_decay=5e-4,
                train_samples=50_000,
                val_samples=0,
                test_samples=10_000,
                augment=True,
                schedule="onecycle",
                label_smoothing=0.1,
                test_flip=True,
            ),
        ),
    )
)


def preset_for(architecture: Architecture, named: str | None = None) -> str | None:
    """Which preset `architecture` is: `named` (an old name is read as today's) if it has exactly
    its layers, else the first preset that does, else None. A network is its layers, not its name."""
    named = canonical(named)
    if named in PRESETS and PRESETS[named].architecture.layers == architecture.layers:
        return named
    return next((key for key, p in PRESETS.items() if p.architecture.layers == architecture.layers), None)


def canonical(name: str | None) -> str | None:
    """A preset's current name, for an old one (`seed` -> `tutorial`); other names unchanged."""
    return ALIASES.get(name, name) if name is not None else None


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError("preset", f"must be one of {', '.join(PRESETS)} (got {name!r})")
    return PRESETS[name]
