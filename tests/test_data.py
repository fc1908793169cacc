"""The data set shape, the generated data, seeded splits and batched augmentation."""

import pytest
import torch

from cnn_core.augment import random_crop_flip
from cnn_core.data import Dataset, channel_stats, make_synthetic, plan_split
from cnn_core.errors import ConfigError, DataError
from cnn_core.settings import TrainSettings


def test_synthetic_data_is_balanced_uint8_images(tiny_data):
    assert tiny_data.train_images.dtype == torch.uint8
    assert tiny_data.input_shape == (3, 32, 32)
    assert torch.bincount(tiny_data.train_labels).tolist() == [60] * 10
    assert torch.bincount(tiny_data.test_labels).tolist() == [20] * 10
    again = make_synthetic(train_per_class=60, test_per_class=20, seed=1)
    assert torch.equal(again.train_images, tiny_data.train_images)


def test_channel_stats_match_torch():
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = channel_stats(images, chunk=7)
    x = images.double() / 255
    assert torch.allclose(torch.tensor(mean, dtype=torch.float64), x.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(
        torch.tensor(std, dtype=torch.float64),
        x.permute(1, 0, 2, 3).reshape(3, -1).std(dim=1, unbiased=False),
        atol=1e-5,
    )


def test_dataset_refuses_mismatched_labels():
    with pytest.raises(DataError):
        Dataset(
            "x",
            ("a",),
            torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
            torch.zeros(3, dtype=torch.long),
            torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
            torch.zeros(2, dtype=torch.long),
        )


def test_split_is_seeded_disjoint_and_of_the_asked_size(tiny_data):
    settings = TrainSettings(train_samples=400, val_samples=100, test_samples=150, seed=7)
    a, b = plan_split(tiny_data, settings), plan_split(tiny_data, settings)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert (len(a.train), len(a.val), len(a.test)) == (400, 100, 150)
    assert not set(a.train.tolist()) & set(a.val.tolist())
    other = plan_split(tiny_data, settings.replace(seed=8))
    assert not torch.equal(a.train, other.train)
    assert a.notes == ()


def test_default_sizes_are_clamped_with_a_note(tiny_data):
    split = plan_split(tiny_data, TrainSettings())  # 20,000 / 5,000 / 5,000 asked of 600 / 200
    assert (len(split.train), len(split.val), len(split.test)) == (480, 120, 200)
    assert any("600 training images" in note for note in split.notes)
    assert any("200 test images" in note for note in split.notes)


def test_sizes_a_user_typed_are_refused_not_clamped(tiny_data):
    with pytest.raises(ConfigError) as info:
        plan_split(tiny_data, TrainSettings(val_samples=5000), strict={"val_samples"})
    assert info.value.field == "val_samples" and "599" in str(info.value)
    with pytest.raises(ConfigError) as info:
        plan_split(tiny_data, TrainSettings(test_samples=201), strict={"test_samples"})
    assert info.value.field == "test_samples" and "200" in str(info.value)
    # The other, untyped size gives way to the typed one.
    split = plan_split(tiny_data, TrainSettings(train_samples=550), strict={"train_samples"})
    assert (len(split.train), len(split.val)) == (550, 50)


def test_crop_and_flip_move_pixels_exactly_like_slicing():
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (16, 3, 10, 10), dtype=torch.uint8)
    out = random_crop_flip(images, g, padding=2)
    # Oracle: every output is some flipped-or-not crop of the zero-padded image.
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(16):
        candidates = [
            view[:, dy : dy + 10, dx : dx + 10]
            for view in (padded[i], padded[i].flip(2))
            for dy in range(5)
            for dx in range(5)
        ]
        assert any(torch.equal(out[i], c) for c in candidates)
    assert not torch.equal(out, images)  # something moved
    assert out.dtype == torch.uint8 and out.shape == images.shape


def test_training_moves_pictures_by_at_most_the_shift_it_was_given(tiny_data, monkeypatch):
    from cnn_core import training
    from cnn_core.presets import PRESETS

    largest = []

    def watched(images, generator, padding=4):
        largest.append(padding)
        return random_crop_flip(images, generator, padding)

    monkeypatch.setattr(training, "random_crop_flip", watched)
    settings = TrainSettings(epochs=1, batch_size=100, train_samples=300, val_samples=0, augment=True, augment_shift=1)
    training.Trainer(PRESETS["tutorial"].architecture, settings, tiny_data).run()
    assert largest and set(largest) == {1}
