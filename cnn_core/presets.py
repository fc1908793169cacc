"""Named starting points: an architecture together with the training settings it was made for.

- `tutorial`: the tutorial's SimpleCNN exactly (296,130 parameters on 3x32x32 images) and its settings.
- `tutorial-2conv`: the deeper variant the tutorial suggests, a second convolution and pooling block.

The first two were called `seed` and `seed-2conv`, a name easily taken for the random seed; the
old names still work (ALIASES), so old commands and runs keep theirs.
- `quick`: for a live demo, about 80% test accuracy on the full CIFAR-10 in under two minutes of
  training on 2 CPU cores.
- `strong`: the most accurate network we train on 2 CPU cores in under 10 minutes.

`quick` and `strong` follow the fast CIFAR-10 recipes (hlb-cifar10, airbench): a whitened first
convolution (whitening.py), blocks that pool right after their first convolution, batch norm,
SGD with Nesterov momentum on a one-cycle schedule, label smoothing, random crops and flips, and
test-time flips. The whitened layer's bias learns for the first epoch or two only: after that no
step computes a gradient for the network's largest map. What each reaches, and in how long, is in
cnn_core/recorded_figures.json (written by `python -m cnn_core bench --time-to-accuracy --record`)
and docs/benchmarks.md.
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


def _fast_block(channels: int) -> tuple:
    """Two convolutions with the pooling right after the first, as the fast CIFAR-10 recipes have it:
    the second convolution then works at a quarter of the positions."""
    return (
        Conv(channels, 3, 1, 1),
        Pool("max", 2, 2, 0),
        BatchNorm(),
        Activation("relu"),
        *_conv_block(channels),
    )


def _fast_network(widths: tuple[int, int, int], name: str) -> Architecture:
    """A whitened 2x2 first convolution (24 filters: 12 patch directions, both signs), three fast
    blocks, a last max pool over what is left (3x3 on CIFAR-10) and one linear layer."""
    return Architecture(
        (
            Conv(24, 2, 1, 0),
            Activation("relu"),
            *(layer for width in widths for layer in _fast_block(width)),
            Pool("max", 3, 3, 0),
            Linear(10),
        ),
        name=name,
    )


_FAST_SETTINGS = TrainSettings(
    batch_size=128,  # as fast per image as 256 on two cores, with twice the steps (docs/benchmarks.md)
    learning_rate=0.2,
    optimizer="sgd",
    momentum=0.9,
    nesterov=True,  # learns more in a few epochs than plain momentum (docs/benchmarks.md)
    weight_decay=5e-4,
    train_samples=50_000,
    val_samples=0,
    test_samples=10_000,
    augment=True,
    augment_shift=2,  # a few epochs learn more from pictures moved less (docs/benchmarks.md)
    schedule="onecycle",
    label_smoothing=0.2,
    test_flip=True,
    whiten=True,
)

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
            name="quick",
            title="Quick demo CNN",
            short="quick CNN",
            description="Made for a live demo: a whitened first layer and three small conv blocks, trained "
            "on all 50,000 pictures for 4 epochs; about 80% test accuracy in under two minutes on two CPU cores.",
            architecture=_fast_network((32, 64, 128), "quick"),
            settings=_FAST_SETTINGS.replace(epochs=4, whiten_bias_epochs=1),
        ),
        Preset(
            name="strong",
            title="Strong CNN",
            short="strong CNN",
            description="The quick demo network twice as wide (64, 128 and 256 filters), trained for 9 epochs and "
            "tested on shifted and mirrored copies of each picture: the accuracy two CPU cores reach in under "
            "ten minutes.",
            architecture=_fast_network((64, 128, 256), "strong"),
            settings=_FAST_SETTINGS.replace(epochs=9, whiten_bias_epochs=2, test_shifts=True),
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
