"""The speed benchmark: the tutorial's own pipeline against cnn_core's trainer, in one process.

The reference is the tutorial's code path, rewritten here only to run on our images: a map-style
data set that turns each uint8 image into a PIL image and applies ToTensor and Normalize(0.5, 0.5)
per image, a DataLoader with a SubsetRandomSampler and two worker processes (batch 32 for training,
128 for validation, 4 for the test, as the tutorial wrote), the tutorial's SimpleCNN class, Adam,
and a Python loop that reads the loss every batch. Both pipelines train on the same seeded split of
the same images, with the same seed, model and hyperparameters, and they alternate: reference then
cnn_core at batch 32, repeated for a number of rounds, then the same at batch 128.

Images per second are for the training loop only (from the first batch to the last, data loading
included), the median over epochs. The speed ratio is the median over rounds of cnn_core's speed
over the reference's in the same round: on a shared virtual machine the speed of both drifts by 20%
over minutes, and a pair of runs minutes apart measures the drift as much as the pipelines. Peak
memory is the largest resident set of this process and its DataLoader workers during the run,
above what it was before.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .data import Dataset, plan_split
from .events import EPOCH
from .expectations import Expected, as_run, key_of
from .presets import PRESETS
from .runs import proc_stat
from .settings import TrainSettings
from .training import Plan, Trainer, evaluate
from .tuned import Tuning


class TutorialSimpleCNN(torch.nn.Module):
    """The tutorial's network, as it wrote it."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 18, kernel_size=3, stride=1, padding=1)
        self.pool = torch.nn.MaxPool2d(kernel_size=2, stride=2, padding=0)
        self.fc1 = torch.nn.Linear(18 * 16 * 16, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = x.view(-1, 18 * 16 * 16)
        return self.fc2(F.relu(self.fc1(x)))


class _PILImages(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does per item: array -> PIL image -> transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        import torchvision.transforms as transforms

        self.images = images.permute(0, 2, 3, 1).numpy()  # (N, H, W, C), as CIFAR10.data
        self.labels = labels.tolist()
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


@dataclass
class Result:
    pipeline: str
    batch_size: int
    images_per_second: float  # median over epochs
    epoch_speeds: list[float]
    val_accuracy: float
    test_accuracy: float
    peak_memory_mb: float
    seconds: float


class _PeakMemory:
    """Samples the resident memory of this process and its children (the DataLoader workers)."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self.baseline = self._rss()

    @staticmethod
    def _rss() -> int:
        total, me = 0, os.getpid()
        page = os.sysconf("SC_PAGE_SIZE")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = proc_stat(int(entry)) or []
                if int(entry) == me or (fields and int(fields[1]) == me):  # fields[1] is the parent pid
                    with open(f"/proc/{entry}/statm") as f:
                        total += int(f.read().split()[1]) * page
            except (OSError, IndexError, ValueError):
                continue
        return total

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def megabytes(self) -> float:
        return max(0, self.peak - self.baseline) / 2**20


def run_reference(dataset: Dataset, settings: TrainSettings, workers: int = 2) -> Result:
    split = plan_split(dataset, settings)
    pool = _PILImages(dataset.train_images, dataset.train_labels)
    test_set = _PILImages(dataset.test_images, dataset.test_labels)
    sampler = torch.utils.data.SubsetRandomSampler
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    train_loader = torch.utils.data.DataLoader(
        pool, batch_size=settings.batch_size, sampler=sampler(split.train.tolist()), num_workers=workers
    )
    val_loader = torch.utils.data.DataLoader(
        pool, batch_size=128, sampler=sampler(split.val.tolist()), num_workers=workers
    )
    test_loader = torch.utils.data.DataLoader(
        test_set, batch_size=4, sampler=sampler(split.test.tolist()), num_workers=workers
    )
    net = TutorialSimpleCNN()
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    speeds = []
    start = time.perf_counter()
    with _PeakMemory() as memory:
        for _ in range(settings.epochs):
            net.train()
            t0, seen, running = time.perf_counter(), 0, 0.0
            for inputs, labels in train_loader:
                optimizer.zero_grad()
                loss = loss_fn(net(inputs), labels)
                loss.backward()
                optimizer.step()
                running += loss.item()  # the tutorial reads the loss every batch for its log
                seen += len(labels)
            speeds.append(seen / (time.perf_counter() - t0))
            val_accuracy = _accuracy(net, val_loader)
        test_accuracy = _accuracy(net, test_loader)
    return Result(
        "tutorial (PIL + DataLoader)",
        settings.batch_size,
        statistics.median(speeds),
        speeds,
        val_accuracy,
        test_accuracy,
        memory.megabytes,
        time.perf_counter() - start,
    )


def _accuracy(net: torch.nn.Module, loader) -> float:
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for inputs, labels in loader:
            correct += int((net(inputs).argmax(1) == labels).sum())
            total += len(labels)
    net.train()
    return correct / max(1, total)


def run_cnn_core(
    dataset: Dataset, settings: TrainSettings, tuning: Tuning | None = None, label: str = "cnn_core"
) -> Result:
    start = time.perf_counter()
    with _PeakMemory() as memory:
        result = Trainer(PRESETS["tutorial"].architecture, settings, dataset, tuning=tuning).run()
    speeds = [row["epoch_images_per_second"] for row in result.history if row["kind"] == EPOCH]
    return Result(
        label,
        settings.batch_size,
        statistics.median(speeds),
        speeds,
        result.val_accuracy or 0.0,
        result.test_accuracy or 0.0,
        memory.megabytes,
        time.perf_counter() - start,
    )


def run(
    dataset: Dataset,
    epochs: int = 5,
    batch_sizes: tuple[int, ...] = (32, 128),
    seed: int = 42,
    rounds: int = 1,
    report=print,
) -> list[Result]:
    """Alternate the two pipelines at each batch size, `rounds` times; `report` gets a line as each
    run ends. Returns every run, in the order they ran."""
    results = []
    for batch_size in batch_sizes:
        settings = TrainSettings(batch_size=batch_size, epochs=epochs, seed=seed)
        for _ in range(rounds):
            for runner in (run_reference, run_cnn_core):
                result = runner(dataset, settings)
                results.append(result)
                report(format_row(result))
    return results


HEADER = f"{'pipeline':<28} {'batch':>5} {'images/s':>9} {'val acc':>8} {'test acc':>8} {'peak MB':>8} {'seconds':>8}"


def format_row(r: Result) -> str:
    return (
        f"{r.pipeline:<28} {r.batch_size:>5} {r.images_per_second:>9,.0f} {100 * r.val_accuracy:>7.2f}% "
        f"{100 * r.test_accuracy:>7.2f}% {r.peak_memory_mb:>8,.0f} {r.seconds:>8.1f}"
    )


def round_ratios(results: list[Result]) -> dict[int, list[float]]:
    """Per batch size, cnn_core's images per second over the reference's in each round (a
    reference run and the cnn_core run right after it)."""
    out: dict[int, list[float]] = {}
    for batch_size in sorted({r.batch_size for r in results}):
        refs = [r for r in results if r.batch_size == batch_size and r.pipeline != "cnn_core"]
        ours = [r for r in results if r.batch_size == batch_size and r.pipeline == "cnn_core"]
        out[batch_size] = [o.images_per_second / r.images_per_second for r, o in zip(refs, ours, strict=True)]
    return out


def ratios(results: list[Result]) -> dict[int, float]:
    """The speed ratio per batch size: the median of the rounds' ratios."""
    return {batch_size: statistics.median(values) for batch_size, values in round_ratios(results).items()}


NOTHING = Tuning(
    channels_last=False,
    fused_optimizer=False,
    hwc_flatten=False,
    prepared_inputs=False,
    swap_relu_pool=False,
    pairwise_pool=False,
)
ABLATIONS = {
    "cnn_core, float32": ({"precision": "float32"}, Tuning()),
    "cnn_core, no channels-last": ({}, Tuning(channels_last=False)),
    "cnn_core, no HWC flatten": ({}, Tuning(hwc_flatten=False)),
    "cnn_core, no prepared inputs": ({}, Tuning(prepared_inputs=False)),
    "cnn_core, no pool/ReLU swap": ({}, Tuning(swap_relu_pool=False)),
    "cnn_core, no pairwise pool": ({}, Tuning(pairwise_pool=False)),
    "cnn_core, no fused optimizer": ({}, Tuning(fused_optimizer=False)),
    "cnn_core, float32, nothing": ({"precision": "float32"}, NOTHING),
}


def ablation(
    dataset: Dataset, epochs: int = 5, batch_sizes: tuple[int, ...] = (32, 128), seed: int = 42, report=print
) -> list[Result]:
    """cnn_core with each speed technique switched off in turn, beside the full trainer."""
    results = []
    for batch_size in batch_sizes:
        settings = TrainSettings(batch_size=batch_size, epochs=epochs, seed=seed)
        result = run_cnn_core(dataset, settings)
        results.append(result)
        report(format_row(result))
        for label, (changes, tuning) in ABLATIONS.items():
            result = run_cnn_core(dataset, settings.replace(**changes), tuning, label)
            results.append(result)
            report(format_row(result))
    return results


# --- time to accuracy ------------------------------------------------------------------------------------
TIME_TO_ACCURACY_PRESETS = ("tutorial", "tutorial-2conv", "quick", "strong")


class _EpochTests:
    """The trainer's between-epochs call: the run's test split after every epoch, with flips (and
    shifts, where the preset tests with them)."""

    def __init__(self, name: str, plan: Plan, report):
        self.name, self.report = name, report
        self.images = plan.dataset.test_images[plan.split.test].to(plan.device)
        self.labels = plan.dataset.test_labels[plan.split.test].to(plan.device)
        self.dtype, self.shifts = plan.dtype, plan.settings.test_shifts
        self.points: list[tuple[int, float, float]] = []

    def __call__(self, epoch: int, seconds: float, net: torch.nn.Module) -> None:
        _, accuracy, _ = evaluate(net, self.images, self.labels, self.dtype, flip=True, shifts=self.shifts)
        self.points.append((epoch, seconds, accuracy))
        views = "flips and shifts" if self.shifts else "flips"
        self.report(f"{self.name:<15} epoch {epoch:>3}  {seconds:>7.1f} s  {100 * accuracy:6.2f}% (with {views})")


def time_to_accuracy(
    dataset: Dataset, presets: tuple[str, ...] = TIME_TO_ACCURACY_PRESETS, report=print
) -> list[Expected]:
    """Train each preset with its own settings and test it after every epoch, off the clock, with
    test-time flips: test accuracy against training seconds. `report` gets a line per epoch."""
    key = key_of(dataset)
    out = []
    for name in presets:
        preset = PRESETS[name]
        trainer = Trainer(preset.architecture, preset.settings, dataset, preset=name)
        tests = _EpochTests(name, trainer.plan, report)
        trainer.between_epochs = tests
        result = trainer.run()
        report(
            f"{name:<15} {result.status}: {100 * (result.test_accuracy or 0):.2f}% test accuracy after "
            f"{result.train_seconds:.1f} s of training ({result.images_per_second:,.0f} images/s)"
        )
        out.append(
            Expected(
                preset=name,
                data=key,
                train_seconds=result.train_seconds,
                test_accuracy=result.test_accuracy or 0.0,
                epochs=result.epochs_completed,
                images_per_second=result.images_per_second,
                settings=as_run(preset.settings, dataset),
                points=tuple(tests.points),
            )
        )
    return out


def time_to_accuracy_table(entries: list[Expected]) -> str:
    """A Markdown table: each preset's test accuracy with flips after each epoch, and its end."""
    rows = ["| preset | epoch | training seconds | test accuracy (flips) |", "|---|---:|---:|---:|"]
    for e in entries:
        for epoch, seconds, accuracy in e.points:
            rows.append(f"| {e.preset} | {epoch} | {seconds:.1f} | {100 * accuracy:.2f}% |")
    rows += ["", "| preset | epochs | training time | images/s | test accuracy |", "|---|---:|---:|---:|---:|"]
    for e in entries:
        rows.append(
            f"| {e.preset} | {e.epochs} | {e.train_seconds:.1f} s | {e.images_per_second:,.0f} | "
            f"{100 * e.test_accuracy:.2f}% |"
        )
    return "\n".join(rows)


def machine() -> str:
    """The processor, its cores and torch's version: what the recorded figures were measured on."""
    name = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}"
