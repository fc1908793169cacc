"""One writer per run folder: resume and delete are refused while a run trains; a dead or silent
writer's lock is taken over, and its run reads as interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli

from cnn_core import run_lock
from cnn_core.errors import RunStoreError
from cnn_core.presets import PRESETS
from cnn_core.runs import INTERRUPTED, RUNNING, RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer


@pytest.fixture(scope="module")
def stopped_run(tiny_data, tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    trainer = Trainer(PRESETS["tutorial"].architecture, TrainSettings(epochs=2), tiny_data, store=store)
    trainer.on_event = lambda event: trainer.stop() if event.get("kind") == "epoch" else None
    result = trainer.run()
    assert result.status == "stopped"
    return store, Path(result.run_dir).name


def test_a_second_writer_is_refused_and_the_first_release_lets_it_in(stopped_run):
    store, run_id = stopped_run
    first = store.get(run_id).take_lock()
    try:
        with pytest.raises(RunStoreError, match=r"this run is still training \(pid \d+ on this machine\)"):
            store.get(run_id).take_lock()
        with pytest.raises(RunStoreError, match="still training"):
            store.delete(run_id)
    finally:
        first.release()
    store.get(run_id).take_lock().release()


def write_foreign(run, beat_age: float) -> None:
    """The folder as another machine left it: its status running, its lock's heartbeat `beat_age` old."""
    status = json.loads((run.path / "status.json").read_text())
    status.update(status=RUNNING, host="lab-2", pid=4242)
    (run.path / "status.json").write_text(json.dumps(status))
    record = {"host": "lab-2", "pid": 4242, "heartbeat": time.time() - beat_age}
    (run.path / run_lock.FILENAME).write_text(json.dumps(record))


def test_a_run_written_on_another_host_is_interrupted_once_its_heartbeat_is_stale(stopped_run, tmp_path):
    import shutil

    store, run_id = stopped_run
    shutil.copytree(store.root / run_id, tmp_path / run_id)
    run = RunStore(tmp_path).get(run_id)
    write_foreign(run, beat_age=5)
    assert run.status()["status"] == RUNNING  # it may well still be training over there
    with pytest.raises(RunStoreError, match="pid 4242 on host lab-2, last heard 5 s ago"):
        run.take_lock()
    write_foreign(run, beat_age=run_lock.STALE_SECONDS + 60)
    assert run.status()["status"] == INTERRUPTED
    assert "lab-2" in run.status()["message"]
    run.take_lock().release()  # taken over
    RunStore(tmp_path).delete(run_id)


# Many short epochs: long enough to be caught training, short to resume to the end.
SMALL = ["--epochs", "60", "--train-samples", "64", "--val-samples", "32", "--test-samples", "32"]


def test_resuming_a_run_that_is_still_training_exits_2(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_core", "train", "--dataset", "synthetic", "--runs-dir", str(runs), *SMALL],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = RunStore(runs).runs()
            if found and found[0].has_checkpoint():
                break
            time.sleep(0.1)
        run_id = found[0].id
        out = cli("train", "--resume", run_id, "--runs-dir", str(runs))
        assert out.returncode == 2, out.stderr
        assert f"this run is still training (pid {proc.pid} on this machine)" in out.stderr
        assert "Traceback" not in out.stderr
        history = (runs / run_id / "history.jsonl").read_text()
        proc.send_signal(signal.SIGKILL)  # a crash: the kernel releases the lock
        proc.wait(timeout=30)
        assert RunStore(runs).get(run_id).status()["status"] == INTERRUPTED
        assert (runs / run_id / "history.jsonl").read_text().startswith(history[: len(history) // 2])
        out = cli("train", "--resume", run_id, "--runs-dir", str(runs), "--json")
        assert out.returncode == 0, out.stderr
        epochs = [
            json.loads(line)["epoch"]
            for line in (runs / run_id / "history.jsonl").read_text().splitlines()
            if json.loads(line)["kind"] == "epoch"
        ]
        assert epochs == sorted(set(epochs))  # no epoch twice
    finally:
        proc.kill()
        proc.wait(timeout=30)
