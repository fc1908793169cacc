"""The command line as a user runs it: a real subprocess, real exit codes, real output."""

import json
from pathlib import Path

import pytest
from conftest import cli, cli_here

from cnn_core.cli import build_parser, option_name
from cnn_core.runs import RunStore
from cnn_core.settings import TrainSettings

ROOT = Path(__file__).resolve().parent.parent
JSON_KEYS = {
    "status",
    "epochs_completed",
    "parameters",
    "train_seconds",
    "images_per_second",
    "val_accuracy",
    "test_accuracy",
    "run_dir",
    "dataset",
}


def test_train_json_reports_every_key(tmp_path):
    out = cli("train", "--preset", "tutorial", "--epochs", "1", "--json", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert JSON_KEYS <= set(result)
    assert result["status"] == "completed" and result["epochs_completed"] == 1
    assert result["parameters"] == 296_130
    assert 0 <= result["val_accuracy"] <= 1 and 0 <= result["test_accuracy"] <= 1
    assert Path(result["run_dir"]).is_dir() and Path(result["run_dir"]).parent == tmp_path


def test_train_log_has_the_tutorials_shape(tmp_path):
    out = cli("train", "--epochs", "2", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "===== HYPERPARAMETERS ====="
    assert "batch_size= 32" in lines and "epochs= 2" in lines and "learning_rate= 0.001" in lines
    assert sum("train_loss:" in line and "took:" in line for line in lines) == 20  # every 10%, 2 epochs
    assert sum(line.startswith("Validation loss = ") for line in lines) == 2
    assert any(line.startswith("Training finished, took") for line in lines)
    assert any(line.startswith("Test accuracy = ") for line in lines)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--lr", "-1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "fast"], "--lr"),
        (["--epochs", "0"], "--epochs"),
        (["--optimizer", "rmsprop"], "--optimizer"),
        (["--val-samples", "1000000"], "--val-samples"),
        (["--preset", "resnet"], "--preset"),
        (["--dataset", "imagenet"], "imagenet"),
        (["--bogus"], "--bogus"),
    ],
)
def test_invalid_input_exits_2_with_one_line_naming_the_option(args, named, tmp_path, capsys):
    out = cli_here(capsys, "train", *args, "--runs-dir", str(tmp_path))
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert named in out.stderr
    assert "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())  # nothing was started


def test_a_refusal_exits_2_from_a_real_process(tmp_path):
    out = cli("train", "--lr", "fast", "--runs-dir", str(tmp_path), timeout=60)
    assert (out.returncode, out.stdout) == (2, "") and out.stderr.count("\n") == 1 and "--lr" in out.stderr


def test_huge_learning_rate_diverges_with_exit_3(tmp_path):
    out = cli("train", "--lr", "1e6", "--json", "--runs-dir", str(tmp_path))
    assert out.returncode == 3, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "diverged"
    assert "lower the learning rate" in result["message"]
    # The run's folder keeps every loss up to and including the one that exploded.
    history = RunStore(tmp_path).get(Path(result["run_dir"]).name).history()
    rows = [row for row in history if row["kind"] == "batch"]
    assert rows and rows[-1].get("exploded") is True
    losses = [v for row in rows for v in row["losses"]]
    assert len(losses) == rows[-1]["step"] + 1  # every step taken, and the batch that exploded
    last = losses[-1]
    assert last is None or last > 10 * losses[0]  # not a number, or far beyond where it started


def test_arch_file_is_used_and_a_broken_one_is_explained(tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text(
        json.dumps(
            {
                "name": "mine",
                "layers": [
                    {"type": "conv", "out_channels": 4, "kernel_size": 5, "stride": 2, "padding": 0},
                    {"type": "activation", "kind": "tanh"},
                    {"type": "linear", "out_features": 10},
                ],
            }
        )
    )
    out = cli("train", "--arch", str(arch), "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["parameters"] == (4 * 3 * 25 + 4) + (4 * 14 * 14 * 10 + 10)
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps({"layers": [{"type": "pool", "kernel_size": 64}, {"type": "linear", "out_features": 10}]})
    )
    out = cli("train", "--arch", str(broken), "--dry-run")
    assert out.returncode == 2 and "layer 1" in out.stderr and "--arch" in out.stderr


def test_help_documents_every_option():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    helps = {opt: action.help for action in train._actions for opt in action.option_strings}
    for field in TrainSettings.field_names():
        assert helps.get(option_name(field)), f"{option_name(field)} has no help"
    for name in ("--preset", "--arch", "--dataset", "--runs-dir", "--json", "--dry-run", "--no-save"):
        assert helps.get(name), f"{name} has no help"
    out = cli("train", "--help", timeout=60)
    assert out.returncode == 0 and "--lr LR" in out.stdout


def test_shapes_prints_the_table_and_explains_a_broken_stack(tmp_path):
    out = cli("shapes", "--preset", "tutorial", timeout=60)
    assert out.returncode == 0
    assert "18x16x16" in out.stdout and "296,130" in out.stdout
