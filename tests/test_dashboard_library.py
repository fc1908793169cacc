"""The library pieces behind the dashboard: jobs, the convolution lesson, the layer table, tiles."""

import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cnn_core.architecture import Activation, Architecture, Conv, Linear, Pool, from_rows, to_rows
from cnn_core.convolution import KERNELS, apply_kernel
from cnn_core.curves import curves
from cnn_core.errors import ArchitectureError
from cnn_core.inspection import channel_grid, filter_grid, tile
from cnn_core.jobs import JobRegistry
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings


def wait(job, seconds=120):
    job.thread.join(timeout=seconds)
    assert not job.thread.is_alive()


def test_two_jobs_train_at_once_without_disturbing_each_other(tiny_data, tmp_path):
    registry, store = JobRegistry(), RunStore(tmp_path)
    long = registry.start_training(
        PRESETS["tutorial"].architecture, TrainSettings(epochs=100, batch_size=8), tiny_data, store
    )
    short = registry.start_training(PRESETS["tutorial-2conv"].architecture, TrainSettings(epochs=1), tiny_data, store)
    wait(short)
    assert short.status == "done" and short.result.status == "completed"
    assert long.running  # still going
    long.stop()
    wait(long)
    assert long.result.status == "stopped"
    assert {registry.get(long.id), registry.get(short.id)} == {long, short}
    runs = store.list()
    assert len(runs) == 2 and len({info.path for info in runs}) == 2  # one folder per job
    assert {info.status for info in runs} == {"completed", "stopped"}
    kinds = [e["kind"] for e in short.events_since(0)]
    assert kinds[0] == "start" and kinds[-1] == "end"
    # The job view the page reads, filled the same way as in process mode (the test below).
    assert short.plan.architecture.name == PRESETS["tutorial-2conv"].architecture.name
    assert short.run_id == Path(short.result.run_dir).name and short.progress["status"] == "completed"


def test_a_training_job_refuses_bad_input_in_the_callers_thread(tiny_data, tmp_path):
    arch = Architecture((Pool(),) * 6 + (Linear(10),))
    with pytest.raises(ArchitectureError, match="layer 6"):
        JobRegistry().start_training(arch, TrainSettings(), tiny_data, RunStore(tmp_path))


def test_a_failing_data_job_reports_its_message():
    registry = JobRegistry()

    def load(progress, should_stop):
        progress("download", 5, 10)
        raise ValueError("could not download X: no network")

    job = registry.start_loading("x", load)
    wait(job)
    assert job.status == "failed" and job.error == "could not download X: no network"
    assert job.progress == {"phase": "download", "done": 5, "total": 10}


def test_old_finished_jobs_are_forgotten():
    registry = JobRegistry(keep_finished=2)
    jobs = [registry.start_loading(str(i), lambda progress, should_stop: None) for i in range(4)]
    for job in jobs:
        wait(job)
        time.sleep(0.01)
    registry.start_loading("last", lambda progress, should_stop: None)
    assert registry.get(jobs[0].id) is None and registry.get(jobs[-1].id) is not None


def test_the_convolution_lesson_matches_pytorch():
    image = torch.randint(0, 256, (3, 20, 20), dtype=torch.uint8)
    steps = apply_kernel(image, KERNELS["edge detection"], stride=2, padding=1)
    grey = image.float().mean(0) / 255
    expected = F.conv2d(
        grey[None, None], torch.tensor(KERNELS["edge detection"], dtype=torch.float32)[None, None], stride=2, padding=1
    )[0, 0]
    assert torch.allclose(steps.filtered, expected, atol=1e-6)
    assert torch.allclose(steps.activated, expected.clamp_min(0), atol=1e-6)
    assert steps.pooled.shape == (5, 5) and steps.formula == "(20 - 3 + 2*1) // 2 + 1 = 10"
    identity = apply_kernel(image, KERNELS["identity"], 1, 1)
    assert torch.allclose(identity.filtered, grey, atol=1e-6)
    with pytest.raises(ValueError, match="finite"):
        apply_kernel(image, [[float("nan")] * 3] * 3)


def test_layer_table_round_trip_and_errors_by_row():
    for preset in PRESETS.values():
        assert from_rows(to_rows(preset.architecture), name=preset.architecture.name) == preset.architecture
    rows = to_rows(PRESETS["tutorial"].architecture)
    rows[0]["size"] = 8.0  # the table gives floats
    rows.append({"type": None, "size": None})  # an empty row from the editor is ignored
    assert from_rows(rows).layers[0] == Conv(8, 3, 1, 1)
    with pytest.raises(ArchitectureError, match="layer 2"):
        from_rows([{"type": "conv", "size": 4}, {"type": "activation", "kind": "swish"}, {"type": "linear", "size": 3}])
    with pytest.raises(ArchitectureError, match=r"layer 1 .*needs out_channels"):
        from_rows([{"type": "conv"}])
    assert from_rows([{"type": "activation"}, {"type": "linear", "size": 2}]).layers[0] == Activation("relu")


def test_tiles_and_grids_have_the_promised_layout():
    grid = tile([torch.zeros(4, 5, dtype=torch.uint8)] * 5, columns=3, gap=1, scale=2)
    assert grid.shape == (2 * 8 + 1, 3 * 10 + 2)
    assert (grid[8] == 255).all()  # the gap between rows is white
    first = filter_grid(torch.randn(18, 3, 3, 3), scale=4)
    assert first.shape[0] == 3  # the first layer's filters are in colour
    deeper = filter_grid(torch.randn(6, 12, 3, 3), scale=1)
    assert deeper.dim() == 2 and deeper.shape[1] == 8 * 3 + 7 * 2  # first 8 inputs per filter
    assert channel_grid(torch.randn(40, 8, 8), max_channels=16, columns=8, scale=1).shape == (2 * 8 + 2, 8 * 8 + 7 * 2)


def test_curves_follow_the_history():
    history = [
        {"kind": "batch", "epoch_progress": 0.5, "train_loss": 2.0},
        {"kind": "batch", "epoch_progress": 1.0, "train_loss": 1.5},
        {
            "kind": "epoch",
            "epoch_progress": 1.0,
            "train_loss": 1.7,
            "val_loss": 1.6,
            "train_accuracy": 0.3,
            "val_accuracy": 0.4,
        },
        {"kind": "batch", "epoch_progress": 1.5, "train_loss": None},  # a diverged step is not drawn
    ]
    c = curves(history)
    assert c.batch_x == [0.5, 1.0] and c.batch_loss == [2.0, 1.5]
    assert c.epoch_x == [1.0] and c.val_accuracy == [0.4]


def test_training_in_a_process_of_its_own_relays_events_and_stops(tmp_path):
    from cnn_core.datasets import load_dataset

    data = load_dataset("synthetic")  # a data set the child process can load again by name
    registry, store = JobRegistry(processes=True), RunStore(tmp_path)
    done = registry.start_training(PRESETS["tutorial"].architecture, TrainSettings(epochs=1), data, store)
    wait(done)
    assert done.status == "done" and done.result.status == "completed"
    kinds = [e["kind"] for e in done.events_since(0)]
    assert kinds[0] == "start" and kinds[-1] == "end" and "epoch" in kinds
    # The same view of the job as in thread mode: its plan, its run, its progress, a TrainResult.
    assert done.plan.settings.epochs == 1 and done.plan.batches_per_epoch > 0
    assert done.run_id == Path(done.result.run_dir).name and store.get(done.run_id).status()["status"] == "completed"
    assert done.progress["status"] == "completed"
    long = registry.start_training(
        PRESETS["tutorial"].architecture, TrainSettings(epochs=500, batch_size=4), data, store
    )
    deadline = time.monotonic() + 60
    while not any(e["kind"] == "batch" for e in long.events_since(0)) and time.monotonic() < deadline:
        time.sleep(0.1)
    long.stop()
    wait(long)
    assert long.result.status == "stopped"
    assert sorted(info.status for info in store.list()) == ["completed", "stopped"]
    registry.close()


def test_a_run_takes_the_training_process_waiting_for_it(tmp_path):
    """The app keeps one training process ready; a run uses it, and the next one is started when
    that run ends, never while a run trains (it would take a core from it)."""
    from cnn_core.datasets import load_dataset

    data = load_dataset("synthetic")
    registry, store = JobRegistry(processes=True), RunStore(tmp_path)
    try:
        registry.warm_worker()
        spare = registry._spare
        assert spare is not None and spare.poll() is None
        registry.warm_worker()
        assert registry._spare is spare  # one is enough
        job = registry.start_training(
            PRESETS["tutorial"].architecture, TrainSettings(epochs=200, batch_size=4), data, store
        )
        assert registry._spare is None
        deadline = time.monotonic() + 60
        while not any(e["kind"] == "batch" for e in job.events_since(0)) and time.monotonic() < deadline:
            time.sleep(0.05)
        registry.warm_worker()  # a page asks while the run trains
        assert registry._spare is None
        job.stop()
        wait(job)
        assert job.result.status == "stopped"
        assert spare.wait(timeout=30) == 0  # the waiting process was the one that trained
        assert registry._spare is not None and registry._spare is not spare  # ready for the next run
    finally:
        registry.close()
    assert registry._spare is None


def test_a_waiting_training_process_ends_quietly_when_the_app_goes_away():
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-m", "cnn_core.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = child.communicate("", timeout=60)
    assert child.returncode == 0
    assert out == "" and "Traceback" not in err
