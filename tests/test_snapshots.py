"""Snapshots of a run as it learns: kept at the start, every tenth of the first epoch and every
epoch's end, small, matching the network they were taken from, cut back on resume, and a damaged
one named."""

import pytest
import torch

from cnn_core.errors import RunStoreError
from cnn_core.inspection import class_probabilities
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.snapshots import FOLDER
from cnn_core.training import Trainer

SETTINGS = TrainSettings(epochs=3, train_samples=600, val_samples=100, test_samples=200, batch_size=32)


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = Trainer(PRESETS["tutorial"].architecture, SETTINGS, tiny_data, store=store, preset="tutorial").run()
    return store.get(result.run_dir.rsplit("/", 1)[-1])


def test_the_filters_are_kept_at_the_start_each_tenth_of_the_first_epoch_and_each_epoch_end(trained, tiny_data):
    kept = trained.snapshots()
    batches = next(row["batches"] for row in trained.history() if row["kind"] == "batch")  # per epoch
    tenths = sorted({max(1, batches * k // 10) for k in range(1, 11)})
    assert [s.step for s in kept] == [0, *tenths, 2 * batches, 3 * batches]
    assert [round(s.epoch_progress, 3) for s in kept][-3:] == [1.0, 2.0, 3.0] and kept[0].epoch_progress == 0
    model = trained.load_model()
    assert kept[-1].filters == pytest.approx(model.layers[0].weight.detach(), abs=2e-3)  # stored as float16
    assert not torch.allclose(kept[0].filters, kept[-1].filters, atol=1e-2)  # they changed as it learned
    # The strip's guesses are the saved network's own answers for those pictures.
    for index, guess in zip(kept[-1].index, kept[-1].guess, strict=True):
        assert int(class_probabilities(model, tiny_data.test_images[index]).argmax()) == int(guess)
    size = sum(p.stat().st_size for p in (trained.path / FOLDER).iterdir())
    assert size < 100_000, f"{size:,} bytes"


def test_a_damaged_snapshot_is_named(trained, tmp_path):
    import shutil

    copy = tmp_path / trained.path.name
    shutil.copytree(trained.path, copy)
    first = sorted((copy / FOLDER).iterdir())[0]
    first.write_bytes(b"not a safetensors file")
    with pytest.raises(RunStoreError, match=first.name):
        RunStore(tmp_path).get(copy.name).snapshots()


def test_a_run_from_before_snapshots_has_none(tmp_path, tiny_data):
    store = RunStore(tmp_path)
    result = Trainer(PRESETS["tutorial"].architecture, SETTINGS.replace(epochs=1), tiny_data, store=store).run()
    run = store.get(result.run_dir.rsplit("/", 1)[-1])
    import shutil

    shutil.rmtree(run.path / FOLDER)
    assert run.snapshots() == []


def test_a_resumed_run_forgets_the_snapshots_it_trains_again(trained, tmp_path):
    import shutil

    from cnn_core.snapshots import forget_after, read

    copy = tmp_path / "copy"
    shutil.copytree(trained.path, copy)
    steps = [s.step for s in read(copy)]
    forget_after(copy, steps[-2])  # resumed from the checkpoint before the last epoch
    assert [s.step for s in read(copy)] == steps[:-1]
