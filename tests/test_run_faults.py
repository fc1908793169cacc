"""The run store under faults: a full or read-only disk, SIGTERM, a killed save's leftovers,
hostile --arch files. Each ends in one plain sentence (exit 2) or a resumable run, never a
traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli, cli_here

from cnn_core.runs import INTERRUPTED, RunStore

SMALL = ["--dataset", "synthetic", "--train-samples", "64", "--val-samples", "32", "--test-samples", "32"]


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs: room for a run's config and status, not for its 3.5 MB checkpoint."""
    where = tmp_path / "small-disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
    yield where
    subprocess.run(["umount", str(where)], check=False)


def test_a_full_disk_is_one_sentence_and_exit_2(full_disk):
    out = cli("train", *SMALL, "--epochs", "2", "--runs-dir", str(full_disk / "runs"))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "Saved to" not in out.stdout
    assert f"error: cannot write to {full_disk / 'runs'}/: the disk is full" in out.stderr
    [run] = RunStore(full_disk / "runs").list()
    assert run.status in ("failed", "interrupted")  # its status says so, where there was room to write it


def test_a_folder_that_cannot_be_written_is_one_sentence_and_exit_2():
    out = cli("train", *SMALL, "--epochs", "1", "--runs-dir", "/sys/cnn-runs")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == "error: cannot write to /sys/cnn-runs/: permission denied"


def test_sigterm_saves_like_stop_and_the_run_resumes(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_core", "train", *SMALL, "--epochs", "100", "--runs-dir", str(runs)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(r.has_checkpoint() for r in RunStore(runs).runs()):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "Saved to" in stdout
    [run] = RunStore(runs).runs()
    status = run.status()
    assert status["status"] == INTERRUPTED and "asked to end" in status["message"]
    assert run.has_weights() and run.metrics()["status"] == INTERRUPTED
    assert cli("train", "--resume", run.id, "--runs-dir", str(runs), "--json").returncode == 0


def test_a_killed_saves_leftovers_are_swept_when_the_store_opens(tmp_path):
    out = cli("train", *SMALL, "--epochs", "1", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    [run] = RunStore(tmp_path).runs()
    leftover = run.path / ".checkpoint.safetensors.0123456789ab.tmp"
    leftover.write_bytes(b"\0" * 1000)
    RunStore(tmp_path).list()
    assert not leftover.exists()
    held = run.take_lock()  # while a writer is at work, its files are left alone
    try:
        leftover.write_bytes(b"\0")
        RunStore(tmp_path).list()
        assert leftover.exists()
    finally:
        held.release()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests deeper than 16 levels"),
        ('{"name": "x", "layers": ' + "[" * 50 + "]" * 50 + "}", "nests deeper than 16 levels"),
    ],
    ids=["100000-brackets", "layers-50-deep"],  # an id holding the content would not fit in the environment
)
def test_a_deeply_nested_arch_is_refused_with_exit_2(content, words, tmp_path, capsys):
    path = tmp_path / "arch.json"
    path.write_text(content)
    out = cli_here(capsys, "train", "--arch", str(path), "--dry-run", "--dataset", "synthetic")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and words in out.stderr


def test_an_endless_arch_file_is_read_only_to_its_limit():
    started = time.monotonic()
    out = cli("train", "--arch", "/dev/zero", "--dry-run", "--dataset", "synthetic")
    assert out.returncode == 2 and "larger than" in out.stderr, out.stderr
    assert time.monotonic() - started < 60  # it did not read on for gigabytes


def test_the_json_of_a_run_reports_where_it_saved_only_when_it_did(tmp_path):
    out = cli("train", *SMALL, "--epochs", "1", "--json", "--runs-dir", str(tmp_path))
    assert out.returncode == 0
    assert Path(json.loads(out.stdout)["run_dir"]).is_dir()


def test_when_the_app_goes_away_its_run_is_interrupted_not_stopped_by_the_user(tmp_path):
    """The app's end (a crash, Ctrl-C on the server) closes the training process's stdin: the run
    saves, ends as interrupted and resumable, and the process writes no traceback."""
    from cnn_core.presets import PRESETS
    from cnn_core.settings import TrainSettings

    spec = {
        "architecture": PRESETS["tutorial"].architecture.to_dict(),
        "settings": TrainSettings(epochs=100, train_samples=64, val_samples=32, test_samples=32).to_dict(),
        "dataset": "synthetic",
        "runs_dir": str(tmp_path),
        "preset": "tutorial",
        "resume": None,
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "cnn_core.worker"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child.stdin.write(json.dumps(spec) + "\n")
    child.stdin.flush()
    for line in child.stdout:  # until the first epoch is done
        if '"kind": "epoch"' in line:
            break
    child.stdin.close()
    child.stdout.close()  # and nobody reads its answers any more
    child.wait(timeout=60)
    stderr = child.stderr.read()
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    [run] = RunStore(tmp_path).runs()
    status = run.status()
    assert status["status"] == INTERRUPTED and "the app stopped" in status["message"], status
    assert run.has_checkpoint()
