"""Damaged run folders beside a good one: the store lists the good run and names the damaged ones,
`python -m cnn_core runs` exits 0, and every page opens, whichever run is shown.

The damage is what a fault tester did by hand (wrong types, missing keys, bad rows, odd folder
names, a folder where a file should be, a 3 GB sparse weights file), and more, generated with
hypothesis."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from cnn_core.errors import RunStoreError
from cnn_core.presets import PRESETS
from cnn_core.runs import DAMAGED, RunStore
from cnn_core.settings import TrainSettings
from cnn_core.training import Trainer

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def edit_json(name: str, change):
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return damage


def write(name: str, text: str):
    return lambda folder: (folder / name).write_text(text)


def replace_with_folder(name: str):
    def damage(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return damage


def sparse_weights(folder: Path) -> None:
    with open(folder / "weights.safetensors", "ab") as f:
        f.truncate((folder / "weights.safetensors").stat().st_size + 3 * 2**30)


DAMAGE = {
    "status-42": write("status.json", "42"),
    "status-list": write("status.json", "[]"),
    "status-unknown": edit_json("status.json", lambda s: {**s, "status": "exploded"}),
    "config-list": write("config.json", "[]"),
    "config-arch-seed": edit_json("config.json", lambda c: {**c, "architecture": "seed"}),
    "config-no-arch": edit_json("config.json", lambda c: {k: v for k, v in c.items() if k != "architecture"}),
    "config-bad-layer": edit_json(
        "config.json", lambda c: {**c, "architecture": {**c["architecture"], "layers": [{"type": "warp"}]}}
    ),
    "config-classes": edit_json("config.json", lambda c: {**c, "num_classes": "ten"}),
    "metrics-many": edit_json("metrics.json", lambda m: {**m, "epochs_completed": "many"}),
    "metrics-empty": write("metrics.json", ""),
    "metrics-no-test": edit_json("metrics.json", lambda m: {**m, "test": None}),
    "history-two": lambda f: (f / "history.jsonl").open("a").write('{"kind": "epoch", "epoch": "two"}\n'),
    "history-list-row": lambda f: (f / "history.jsonl").open("a").write("[1, 2]\n"),
    "weights-folder": replace_with_folder("weights.safetensors"),
    "weights-sparse-3gb": sparse_weights,
    "weights-pickle": lambda f: (f / "weights.safetensors").write_bytes(b"\x80\x02}q\x00."),
    "weights-pickle-protocol-0": lambda f: (f / "weights.safetensors").write_bytes(b"(dp0\nS'a'\np1\nI1\ns."),
    "history-folder": replace_with_folder("history.jsonl"),
}


@pytest.fixture(scope="module")
def store_with_damage(tmp_path_factory, tiny_data):
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    good = Path(
        Trainer(PRESETS["tutorial"].architecture, TrainSettings(epochs=1), tiny_data, store=store).run().run_dir
    )
    for name, damage in DAMAGE.items():
        folder = root / f"20200101-000000-{name}"
        shutil.copytree(good, folder)
        damage(folder)
    for odd in (".hidden-run", "..evil"):
        shutil.copytree(good, root / odd)
    (root / "linked-run").symlink_to(root / f"20200101-000000-{next(iter(DAMAGE))}")
    return store, good.name


def test_every_damaged_run_lists_as_damaged_with_its_reason(store_with_damage):
    store, good = store_with_damage
    infos = {info.id: info for info in store.list()}
    assert infos[good].status == "completed"
    wrong_weights = {
        "weights-folder",
        "weights-sparse-3gb",
        "weights-pickle",
        "weights-pickle-protocol-0",
    }  # listed fine, refused when loaded
    for name in DAMAGE.keys() - wrong_weights:
        info = infos[f"20200101-000000-{name}"]
        assert info.status == DAMAGED, name
        assert info.message.startswith(f"run 20200101-000000-{name}:"), info.message
    assert (
        "status.json does not hold the named values it should (it holds 42)"
        in infos["20200101-000000-status-42"].message
    )
    assert "epoch is 'two', not a whole number" in infos["20200101-000000-history-two"].message
    assert infos[".hidden-run"].status == DAMAGED and infos["..evil"].status == DAMAGED


@pytest.mark.parametrize(
    "name", ["weights-folder", "weights-sparse-3gb", "weights-pickle", "weights-pickle-protocol-0"]
)
def test_bad_weights_are_refused_without_reading_them_whole(store_with_damage, name):
    import tracemalloc

    store, _ = store_with_damage
    run = store.get(f"20200101-000000-{name}")
    tracemalloc.start()
    with pytest.raises(RunStoreError, match=r"folder, not a file|damaged|pickle"):
        run.load_model()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50 * 2**20


def test_the_runs_command_exits_0_and_names_the_damaged(store_with_damage):
    store, good = store_with_damage
    out = cli("runs", "--runs-dir", str(store.root))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert good in out.stdout and "completed" in out.stdout
    assert "status.json does not hold the named values it should (it holds 42)" in out.stdout
    assert out.stdout.count(DAMAGED) >= len(DAMAGE) - 4


def test_a_damaged_run_can_be_deleted_and_a_linked_one_only_unlinks(store_with_damage, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(store_with_damage[0].root, root, symlinks=True)
    store = RunStore(root)
    target = (root / "linked-run").resolve()
    store.delete("linked-run")
    assert not (root / "linked-run").exists() and target.is_dir()
    store.delete("20200101-000000-status-42")
    assert not (root / "20200101-000000-status-42").exists()


def test_every_page_opens_whichever_run_is_shown(store_with_damage, monkeypatch, tmp_path):
    store, _ = store_with_damage
    monkeypatch.setenv("CNN_RUNS_DIR", str(store.root))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    # Every run can be picked: no two options of the picker read the same (Streamlit would fold them).
    picker = at.sidebar.selectbox(key="run_id")
    assert len(set(picker.options)) == len(picker.options) == len(store.list())
    for info in store.list():
        at.session_state["run_id"] = info.id
        for page in ("metrics", "inside", "runs", "train", "home"):
            at.switch_page(f"pages/views/{page}.py").run()
            assert not at.exception, (info.id, page, [e.message for e in at.exception])
            assert at.title, (info.id, page)


# --- generated damage ----------------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    file=st.sampled_from(["config.json", "status.json", "metrics.json", "history.jsonl"]),
    key=st.text(max_size=12) | st.sampled_from(["status", "architecture", "dataset", "test", "epoch", "num_classes"]),
    value=JSON,
    whole=st.booleans(),
)
def test_any_json_in_any_run_file_lists_or_is_named_damaged(
    store_with_damage, tmp_path_factory, file, key, value, whole
):
    store, good = store_with_damage
    root = tmp_path_factory.mktemp("gen")
    folder = root / good
    shutil.copytree(store.root / good, folder)
    path = folder / file
    if file == "history.jsonl":
        with open(path, "a") as f:
            f.write(json.dumps(value if whole else {"kind": "epoch", key: value}) + "\n")
    else:
        record = json.loads(path.read_text())
        path.write_text(json.dumps(value if whole else {**record, key: value}))
    [info] = RunStore(root).list()  # never raises
    assert info.status in {DAMAGED, "completed", "interrupted", "running", "stopped", "diverged", "failed"}
    run = RunStore(root).get(good)
    for read in (run.config, run.status, run.metrics, run.history):
        try:
            read()
        except RunStoreError:
            pass
    assert os.listdir(root) == [good]


def test_a_protocol_0_pickle_is_called_a_pickle(store_with_damage):
    store, _ = store_with_damage
    with pytest.raises(RunStoreError, match="it is a Python pickle"):
        store.get("20200101-000000-weights-pickle-protocol-0").load_model()
