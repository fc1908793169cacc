"""Shared fixtures: small generated data sets, so every test runs on a fresh machine offline."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnn_core.data import make_synthetic
from cnn_core.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m cnn_core ARGS` from the repository, as a user runs it; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "cnn_core", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def cli_here(capsys, *args: str) -> subprocess.CompletedProcess:
    """`cli` without starting Python again: cnn_core.cli.main as `python -m cnn_core` calls it, for
    the many cases where only the output and the exit status matter (a new process costs ~3 s
    importing torch). Tests that need the real process use `cli`."""
    from cnn_core.cli import main

    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["python", "-m", "cnn_core", *args], code, out.out, out.err)


def train_then_kill(args: list[str], runs_dir: Path, ready, timeout: float = 120) -> None:
    """Start `python -m cnn_core train ARGS --runs-dir RUNS_DIR`, wait until `ready(run)` holds for
    its run, then kill it with SIGKILL, as a crash or a power cut would."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_core", "train", *args, "--runs-dir", str(runs_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = RunStore(runs_dir).runs()
            if runs and ready(runs[0]):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def tiny_data():
    """600 training and 200 test images in 10 classes: enough to learn, fast to train."""
    return make_synthetic(train_per_class=60, test_per_class=20, seed=1)


@pytest.fixture(autouse=True)
def _single_thread_determinism():
    torch.manual_seed(0)
    yield
