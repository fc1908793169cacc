"""Training settings: one frozen dataclass, validated on creation, round-tripping to JSON.

The defaults are the tutorial's: batch 32, 5 epochs, Adam at learning rate 0.001, seed 42, and
20,000 / 5,000 / 5,000 images for training, validation and test. Every field has a one-line
explanation in HELP, which the command line's --help and the app's widgets both show.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from . import fields

OPTIMIZERS = ("adam", "sgd", "adamw")
SCHEDULES = ("constant", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "float32", "bfloat16")
MAX_SAMPLES = 10_000_000

HELP = {
    "batch_size": "Images per training step. Bigger batches run faster per image but update the weights less often.",
    "epochs": "How many times training goes through all the training images.",
    "learning_rate": "How big a step the optimizer takes. Too high and the loss explodes; too low and it barely moves.",
    "optimizer": "The rule that updates the weights: Adam (the tutorial's), SGD with momentum, or AdamW.",
    "momentum": "For SGD only: how much of the previous step carries into the next (0.9 is usual).",
    "weight_decay": "Pulls weights towards zero every step to reduce overfitting (0 turns it off).",
    "seed": "Starting point of all randomness: the same seed gives the same run again.",
    "train_samples": "Training images used (the tutorial uses 20,000).",
    "val_samples": "Images held out from training to check the model after every epoch (0 skips it).",
    "test_samples": "Images from the separate test set used for the final accuracy.",
    "augment": "Randomly shift and mirror training images so the network sees more variety.",
    "schedule": "Keep the learning rate constant, or warm it up and then lower it (one-cycle).",
    "label_smoothing": "Asks the network to be a little less certain (0 turns it off; 0.1 is common).",
    "device": "Where to train: auto picks a CUDA GPU, then an Apple GPU, then the CPU.",
    "logs_per_epoch": "How many times per epoch the training loss is reported (the tutorial: every 10%).",
    "test_flip": "Also show the network each test picture mirrored and average the two answers (a little more "
    "accurate, twice the test time).",
    "precision": "Number format for the heavy arithmetic: auto uses bfloat16 where the processor has it "
    "(several times faster here), else float32.",
}


@dataclass(frozen=True)
class TrainSettings:
    batch_size: int = 32
    epochs: int = 5
    learning_rate: float = 0.001
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 42
    train_samples: int = 20_000
    val_samples: int = 5_000
    test_samples: int = 5_000
    augment: bool = False
    schedule: str = "constant"
    label_smoothing: float = 0.0
    device: str = "auto"
    logs_per_epoch: int = 10
    test_flip: bool = False
    precision: str = "auto"

    def __post_init__(self):
        checked = {
            "batch_size": fields.whole_number("batch_size", self.batch_size, 1, 4096),
            "epochs": fields.whole_number("epochs", self.epochs, 1, 1000),
            # No upper bound: a huge rate is a lesson (the loss explodes), not an input error.
            "learning_rate": fields.real_number(
                "learning_rate", self.learning_rate, 0.0, float("inf"), low_inclusive=False
            ),
            "optimizer": fields.choice("optimizer", self.optimizer, OPTIMIZERS),
            "momentum": fields.real_number("momentum", self.momentum, 0.0, 1.0, high_inclusive=False),
            "weight_decay": fields.real_number("weight_decay", self.weight_decay, 0.0, 1.0),
            "seed": fields.whole_number("seed", self.seed, 0, 2**32 - 1),
            "train_samples": fields.whole_number("train_samples", self.train_samples, 1, MAX_SAMPLES),
            "val_samples": fields.whole_number("val_samples", self.val_samples, 0, MAX_SAMPLES),
            "test_samples": fields.whole_number("test_samples", self.test_samples, 1, MAX_SAMPLES),
            "augment": fields.flag("augment", self.augment),
            "schedule": fields.choice("schedule", self.schedule, SCHEDULES),
            "label_smoothing": fields.real_number(
                "label_smoothing", self.label_smoothing, 0.0, 1.0, high_inclusive=False
            ),
            "device": fields.choice("device", self.device, DEVICES),
            "logs_per_epoch": fields.whole_number("logs_per_epoch", self.logs_per_epoch, 1, 100),
            "test_flip": fields.flag("test_flip", self.test_flip),
            "precision": fields.choice("precision", self.precision, PRECISIONS),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> TrainSettings:
        """A copy with some fields changed; unknown names are refused like in from_dict."""
        fields.only_known_keys("settings", changes, self.field_names())
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

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
