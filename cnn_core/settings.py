"""Training settings: one frozen dataclass, validated on creation, round-tripping to JSON.

Every setting is declared once, in SCHEMA: its kind, default, bounds or choices, unit, one-line
help, widget label and whether a sweep can vary it. The TrainSettings dataclass, its checks, the
command line's options (cli.py), the Train page's widgets (pages/common/settings_widgets.py) and
the README's table (`python -m cnn_core settings`) are all made from it.

The defaults are the tutorial's: batch 32, 5 epochs, Adam at learning rate 0.001, seed 42, and
20,000 / 5,000 / 5,000 images for training, validation and test.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from . import fields

OPTIMIZERS = ("adam", "sgd", "adamw")
SCHEDULES = ("constant", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "float32", "bfloat16")
MAX_SAMPLES = 10_000_000
INT, FLOAT, CHOICE, FLAG = "int", "float", "choice", "flag"


@dataclass(frozen=True)
class Setting:
    """One training setting, declared once: the dataclass field, its check, the command-line
    option, the Train page's widget, the sweep's range and the docs' table all come from this."""

    name: str
    kind: str  # INT, FLOAT, CHOICE or FLAG
    default: Any
    label: str  # the widget's label
    help: str  # one line, for --help, the widget and the docs
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)  # choice -> words for people
    steps: tuple[float, ...] = ()  # values a slider offers (a typed value outside them is kept)
    unit: str = ""
    sweep: str | None = None  # how a sweep varies it: "log", "linear" or "list"; None: not swept
    option: str = ""  # the command-line option when not --<name-with-dashes>
    metavar: str = "N"
    more: bool = False  # under "More settings" on the Train page
    short: str = ""  # in a run's name ("lr {}"; a flag's word, "no " + word when off); "": never named

    def named(self, value: Any) -> str:
        """The setting in a run's name: "lr 0.01", "batch 128", "AdamW", "augment", "20,000 images"."""
        if self.kind == FLAG:
            return self.short if value else f"no {self.short}"
        if self.kind == CHOICE:
            return self.short.format(self.names.get(value, value))
        if self.kind == INT and value == 1 and self.short.endswith("s"):
            return self.short[:-1].format(value)  # "1 epoch", "1 image"
        return self.short.format(
            f"{value:.3g}" if self.kind == FLOAT else f"{value:,}"
        )  # a sweep's 0.00504, not 0.00503835

    @property
    def cli_option(self) -> str:
        return self.option or "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """`value` normalised, or a ConfigError naming the field and what is allowed."""
        if self.kind == INT:
            return fields.whole_number(self.name, value, int(self.low), int(self.high))
        if self.kind == FLOAT:
            return fields.real_number(
                self.name,
                value,
                self.low,
                self.high,
                low_inclusive=self.low_inclusive,
                high_inclusive=self.high_inclusive,
            )
        if self.kind == CHOICE:
            return fields.choice(self.name, value, self.choices)
        return fields.flag(self.name, value)

    def show(self, value: Any) -> str:
        """A value as people read it: "0.001", "20,000 images", "on", "SGD with momentum"."""
        if self.kind == FLAG:
            return "on" if value else "off"
        if self.kind == CHOICE:
            return self.names.get(value, str(value))
        text = f"{value:g}" if self.kind == FLOAT else f"{value:,}"
        return f"{text} {self.unit}" if self.unit else text

    def allowed(self) -> str:
        """What is allowed, in words, for the docs table."""
        if self.kind == CHOICE:
            return ", ".join(self.choices)
        if self.kind == FLAG:
            return "true or false"
        number = (lambda v: f"{int(v):,}") if self.kind == INT else (lambda v: f"{v:g}")
        low = number(self.low) if self.low_inclusive else f"more than {number(self.low)}"
        if self.high == float("inf"):
            return f"{low} or more" if self.low_inclusive else low
        high = number(self.high) if self.high_inclusive else f"below {number(self.high)}"
        return f"{low} to {high}"


SCHEMA: tuple[Setting, ...] = (
    Setting("batch_size", INT, 32, "Batch size",
            "Images per training step. Bigger batches run faster per image but update the weights less often.",
            1, 4096, steps=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096), unit="images", sweep="list",
            short="batch {}"),
    Setting("epochs", INT, 5, "Epochs", "How many times training goes through all the training images.",
            1, 1000, sweep="linear", short="{} epochs"),
    # No upper bound: a huge rate is a lesson (the loss explodes), not an input error.
    Setting("learning_rate", FLOAT, 0.001, "Learning rate",
            "How big a step the optimizer takes. Too high and the loss explodes; too low and it barely moves.",
            0.0, float("inf"), low_inclusive=False,
            steps=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.2, 0.3, 1.0, 10.0, 1e6),
            sweep="log", option="--lr", metavar="LR", short="lr {}"),
    Setting("optimizer", CHOICE, "adam", "Optimizer",
            "The rule that updates the weights: Adam (the tutorial's), SGD with momentum, or AdamW.",
            choices=OPTIMIZERS, names={"adam": "Adam", "sgd": "SGD with momentum", "adamw": "AdamW"},
            sweep="list", metavar="NAME", short="{}"),
    Setting("momentum", FLOAT, 0.9, "Momentum (SGD)",
            "For SGD only: how much of the previous step carries into the next (0.9 is usual).",
            0.0, 1.0, high_inclusive=False, metavar="M", more=True),
    Setting("nesterov", FLAG, False, "Nesterov momentum (SGD)",
            "For SGD with momentum only: measure the slope where the momentum is about to carry the weights, "
            "not where they are (usually learns a little faster in short runs).", more=True, short="Nesterov"),
    Setting("weight_decay", FLOAT, 0.0, "Weight decay",
            "Pulls weights towards zero every step to reduce overfitting (0 turns it off).",
            0.0, 1.0, sweep="log", metavar="WD", more=True, short="weight decay {}"),
    Setting("seed", INT, 42, "Random seed", "Starting point of all randomness: the same seed gives the same run again.",
            0, 2**32 - 1, more=True),
    Setting("train_samples", INT, 20_000, "Training images", "Training images used (the tutorial uses 20,000).",
            1, MAX_SAMPLES, unit="images", more=True, short="{} images"),
    Setting("val_samples", INT, 5_000, "Validation images",
            "Images held out from training to check the model after every epoch (0 skips it).",
            0, MAX_SAMPLES, unit="images", more=True),
    Setting("test_samples", INT, 5_000, "Test images", "Images from the separate test set used for the final accuracy.",
            1, MAX_SAMPLES, unit="images", more=True),
    Setting("augment", FLAG, False, "Augment",
            "Randomly shift and mirror training images so the network sees more variety.", sweep="list",
            short="augment"),
    Setting("augment_shift", INT, 4, "Largest shift (augment)",
            "How many pixels augmentation may move a picture each way: 4 is usual for long training, "
            "2 suits a few epochs (less to unlearn).", 0, 16, unit="pixels", metavar="PIXELS", more=True,
            sweep="list", short="shift {}"),
    Setting("schedule", CHOICE, "constant", "Learning-rate schedule",
            "Keep the learning rate constant, or warm it up and then lower it (one-cycle).",
            choices=SCHEDULES, names={"constant": "constant", "onecycle": "one-cycle"}, sweep="list", metavar="NAME",
            short="{}"),
    Setting("label_smoothing", FLOAT, 0.0, "Label smoothing",
            "Asks the network to be a little less certain (0 turns it off; 0.1 is common).",
            0.0, 1.0, high_inclusive=False, sweep="linear", metavar="EPS", more=True,
            short="label smoothing {}"),
    Setting("device", CHOICE, "auto", "Device",
            "Where to train: auto picks a CUDA GPU, then an Apple GPU, then the CPU.",
            choices=DEVICES, metavar="NAME", more=True),
    Setting("logs_per_epoch", INT, 10, "Loss reports per epoch",
            "How many times per epoch the training loss is reported (the tutorial: every 10%).", 1, 100, more=True),
    Setting("test_flip", FLAG, False, "Test with mirrored pictures too",
            "Also show the network each test picture mirrored and average the two answers (a little more "
            "accurate, twice the test time).", more=True),
    Setting("test_shifts", FLAG, False, "Test with shifted pictures too",
            "Also show the network each test picture moved by one pixel, up-left and down-right, and "
            "average the answers (with mirroring: six views; a little more accurate, three times the test time).",
            more=True),
    Setting("whiten", FLAG, False, "Whiten the first layer",
            "Start the first convolution's filters from the training pictures' own patch statistics and keep "
            "them fixed, so every pattern reaches the next layer equally strong from the first step (learns "
            "faster; needs a conv as the first layer).", more=True, short="whitened"),
    Setting("whiten_bias_epochs", INT, 1000, "Whitened layer learns (epochs)",
            "With whitening: the epochs in which the whitened first layer's bias (its only learning part) still "
            "learns; after them it is frozen too, which saves work in every later step (1,000 keeps it learning).",
            0, 1000, unit="epochs", more=True),
    Setting("precision", CHOICE, "auto", "Number format",
            "Number format for the heavy arithmetic: auto uses bfloat16 where the processor has it "
            "(several times faster here), else float32.", choices=PRECISIONS, metavar="NAME", more=True),
)  # fmt: skip
SETTINGS = {setting.name: setting for setting in SCHEMA}
HELP = {setting.name: setting.help for setting in SCHEMA}


class _Settings:
    """What every TrainSettings does; its fields are made from SCHEMA below."""

    def __post_init__(self):
        for setting in SCHEMA:
            object.__setattr__(self, setting.name, setting.check(getattr(self, setting.name)))

    def replace(self, **changes: Any) -> TrainSettings:
        """A copy with some fields changed; unknown names are refused like in from_dict."""
        fields.only_known_keys("settings", changes, self.field_names())
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(SETTINGS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> TrainSettings:
        """Missing keys take their defaults; unknown keys are refused by name."""
        return cls(**fields.only_known_keys("settings", data, cls.field_names()))

    @classmethod
    def from_json(cls, text: str) -> TrainSettings:
        return cls.from_dict(fields.parse_json("settings", text))


_TYPES = {INT: int, FLOAT: float, CHOICE: str, FLAG: bool}
# The frozen dataclass of the settings, one field per Setting, in SCHEMA's order.
TrainSettings = dataclasses.make_dataclass(
    "TrainSettings",
    [(s.name, _TYPES[s.kind], dataclasses.field(default=s.default)) for s in SCHEMA],
    bases=(_Settings,),
    frozen=True,
)
TrainSettings.__module__ = __name__
TrainSettings.__doc__ = "The training settings: one field per entry of SCHEMA, checked on creation."


def markdown_table() -> str:
    """The settings as a Markdown table, for the README (a test keeps the two the same)."""
    rows = ["| setting | command line | default | allowed | swept | what it does |", "|---|---|---|---|---|---|"]
    for s in SCHEMA:
        default = f"{s.default:g}" if s.kind == FLOAT else f"{s.default:,}" if s.kind == INT else str(s.default).lower()
        rows.append(f"| {s.label} | `{s.cli_option}` | {default} | {s.allowed()} | {s.sweep or '-'} | {s.help} |")
    return "\n".join(rows) + "\n"
