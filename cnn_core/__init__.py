"""cnn_core: a plain PyTorch library to describe, size, build, train, measure, inspect and save
small CNNs. The Streamlit app and the command line are thin layers over it; nothing here imports
streamlit.

Map of the modules:
    architecture  layer specs and the stack, frozen dataclasses that round-trip JSON
    shapes        output shape, parameters and multiply-adds of every layer; plain-word validation
    model         Architecture -> torch.nn.Module
    presets       seed (the tutorial's SimpleCNN), seed-2conv, strong
    settings      TrainSettings, the training hyperparameters
    data          the Dataset shape (uint8 tensors in memory), splits, a generated data set
    datasets      built-in data sets by name
    augment       batched random crop and flip
    training      the Trainer: events, stop, divergence, run saving
    metrics       accuracy, confusion matrix, per-class scores, top-k, most-confused pairs
    inspection    filters, feature maps, class probabilities for one image
    runs          the run store: one folder per run, atomic files, safetensors weights
    storage       atomic writes and append-only JSON lines
    textlog       the tutorial-shaped training log
    cli           python -m cnn_core
"""

from .architecture import Activation, Architecture, BatchNorm, Conv, Dropout, Linear, Pool
from .errors import ArchitectureError, CnnCoreError, ConfigError, DataError, RunStoreError
from .settings import TrainSettings

__all__ = [
    "Activation",
    "Architecture",
    "BatchNorm",
    "Conv",
    "Dropout",
    "Linear",
    "Pool",
    "ArchitectureError",
    "CnnCoreError",
    "ConfigError",
    "DataError",
    "RunStoreError",
    "TrainSettings",
]
