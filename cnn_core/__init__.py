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
    datasets      data sets by name or path; the data folder
    dataset_files one-file formats: the decoded cache and the bundled JPEG sample
    image_import  the user's own images from a folder, zip or tar.gz, with limits
    downloads     downloads with progress, checksum and no leftovers
    torchvision_sets  CIFAR-10, MNIST, Fashion-MNIST through torchvision, cached
    previews      class counts and sample images per class
    augment       batched random crop and flip
    devices       device and number format (bfloat16 where the hardware has it)
    training      the Trainer: events, stop, divergence, run saving, speed techniques
    jobs          background jobs (training, data loads) that pages poll
    metrics       accuracy, confusion matrix, per-class scores, top-k, most-confused pairs
    inspection    filters, feature maps, class probabilities for one image; tiles for display
    convolution   the tutorial's first lesson: one kernel, ReLU, pooling
    curves        the series a run's charts plot
    runs          the run store: one folder per run, atomic files, safetensors weights
    checkpoints   epoch checkpoints (weights, optimizer, schedule, random state) for resuming
    storage       atomic writes and append-only JSON lines
    fields        checks for single configuration values
    errors        the errors users can fix
    textlog       the tutorial-shaped training log
    bench         the benchmark against the tutorial's pipeline
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
