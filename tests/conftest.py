"""Shared fixtures: small generated data sets, so every test runs on a fresh machine offline."""

import pytest
import torch

from cnn_core.data import make_synthetic


@pytest.fixture(scope="session")
def tiny_data():
    """600 training and 200 test images in 10 classes: enough to learn, fast to train."""
    return make_synthetic(train_per_class=60, test_per_class=20, seed=1)


@pytest.fixture(autouse=True)
def _single_thread_determinism():
    torch.manual_seed(0)
    yield
