"""Pause, step and pace: a paced or paused run learns exactly what a free one does."""

import threading
import time

import pytest

from cnn_core.errors import ConfigError
from cnn_core.jobs import JobRegistry
from cnn_core.pacing import PAUSED, Pace
from cnn_core.presets import PRESETS
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer

SETTINGS = TrainSettings(epochs=2, batch_size=32, logs_per_epoch=4)


def losses(result) -> list:
    return [v for row in result.history if row["kind"] == "batch" for v in row["losses"]]


def wait_for(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_paused_and_stepped_run_gives_the_same_result_as_one_never_paused(tiny_data):
    free = Trainer(PRESETS["tutorial"].architecture, SETTINGS, tiny_data).run()
    seen = []
    trainer = Trainer(
        PRESETS["tutorial"].architecture, SETTINGS, tiny_data, on_event=seen.append, pace=Pace(paused=True)
    )
    thread = threading.Thread(target=trainer.run)
    thread.start()
    wait_for(lambda: trainer.progress.get("status") == PAUSED)
    assert not [e for e in seen if e["kind"] == "loss"]  # paused before the first batch
    trainer.control("step 3")
    wait_for(lambda: len([e for e in seen if e["kind"] == "loss"]) == 3 and trainer.progress["status"] == PAUSED)
    time.sleep(0.2)
    assert len([e for e in seen if e["kind"] == "loss"]) == 3  # and no more while paused
    trainer.control("step epoch")  # to the end of epoch 1, then paused again
    wait_for(lambda: any(e["kind"] == "epoch" for e in seen) and trainer.progress["status"] == PAUSED)
    assert [e["epoch"] for e in seen if e["kind"] == "epoch"] == [1]
    trainer.control("resume")
    thread.join(60)
    paused = trainer.history
    assert [e["kind"] for e in seen][-1] == "end"
    assert losses(free) == [v for row in paused if row["kind"] == "batch" for v in row["losses"]]
    assert free.test_accuracy == seen[-1]["test_accuracy"]


def test_a_demo_pace_spreads_the_batches_over_time(tiny_data):
    points = []
    trainer = Trainer(
        PRESETS["tutorial"].architecture,
        TrainSettings(epochs=1, batch_size=32),
        tiny_data,
        pace=Pace(40),
        on_event=lambda e: points.append(time.perf_counter()) if e["kind"] == "loss" else None,
    )
    batches = trainer.plan.batches_per_epoch
    started = time.perf_counter()
    assert trainer.run().status == "completed"
    assert len(points) == batches  # a live point for every batch at a demo pace
    assert points[-1] - started >= (batches - 1) / 40 * 0.9  # 40 batches a second at the most


def test_stop_ends_a_paused_run_and_keeps_what_it_learned(tiny_data, tmp_path):
    trainer = Trainer(
        PRESETS["tutorial"].architecture, SETTINGS, tiny_data, store=RunStore(tmp_path), pace=Pace(paused=True)
    )
    thread = threading.Thread(target=trainer.run)
    thread.start()
    trainer.control("step 2")
    wait_for(lambda: trainer.progress.get("status") == PAUSED and trainer.progress.get("batch") == 2)
    trainer.control("stop")
    thread.join(60)
    assert trainer.progress["status"] == "stopped"


@pytest.mark.parametrize("command", ["jump", "step -1", "step two", "pace 0", "pace -3", "pace fast", "pause now"])
def test_a_bad_command_is_refused_in_words(command):
    with pytest.raises(ConfigError) as error:
        Pace().command(command)
    assert error.value.field in ("command", "step", "pace")


def test_a_job_is_paced_from_the_page_in_a_thread(tiny_data, tmp_path):
    registry = JobRegistry()
    job = registry.start_training(
        PRESETS["tutorial"].architecture, TrainSettings(epochs=50), tiny_data, RunStore(tmp_path), pace=20
    )
    wait_for(lambda: job.progress.get("batch", 0) >= 2)
    job.control("pause")
    wait_for(lambda: job.paused)
    batch = job.progress["batch"]
    time.sleep(0.3)
    assert job.progress["batch"] == batch
    with pytest.raises(ConfigError):
        job.control("faster please")
    job.control("pace off")
    job.control("resume")
    wait_for(lambda: not job.paused)
    job.stop()
    job.thread.join(60)
    assert job.result.status == "stopped"


def test_pause_and_resume_can_wait_until_the_run_says_so(tiny_data, tmp_path):
    """A page redraws its Pause button right after the click: with `wait`, the job already
    reports the new state when control returns."""
    registry = JobRegistry()
    job = registry.start_training(
        PRESETS["tutorial"].architecture, TrainSettings(epochs=50), tiny_data, RunStore(tmp_path), pace=20
    )
    wait_for(lambda: job.progress.get("batch", 0) >= 2)
    job.control("pause", wait=5.0)
    assert job.paused
    job.control("resume", wait=5.0)
    assert not job.paused
    job.stop()
    job.thread.join(60)
