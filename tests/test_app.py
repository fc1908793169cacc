"""Every page under Streamlit's AppTest: on a fresh start, and with a finished run."""

from __future__ import annotations

import base64
import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core.runs import control_hash

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SVG = "{http://www.w3.org/2000/svg}"
PAGES = ["home", "train", "sweep", "architecture", "inside", "metrics", "convolution", "runs"]


def page(name: str) -> str:
    return f"pages/views/{name}.py"


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def assert_clean(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {[e.message for e in at.exception]}"


def live_charts(at: AppTest) -> dict[str, ET.Element]:
    """The Train page's live charts (SVG pictures while a run trains), by title: the accuracy as a
    picture, the loss in the live_chart component that plays it in."""
    pictures = [
        base64.b64decode(url.split(",", 1)[1])
        for element in at.get("image")
        for url in element.value
        if url.startswith("data:image/svg+xml;base64,")
    ]
    pictures += [json.loads(e.proto.json)["svg"] for e in at.get("bidi_component")]
    roots = [ET.fromstring(svg) for svg in pictures]
    return {root.find(f"{SVG}title").text: root for root in roots}


CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def image_captions(at: AppTest) -> list[str | None]:
    return [picture.caption for element in at.get("image") for picture in element.proto.imgs]


def train_one_epoch(at: AppTest) -> None:
    at.switch_page(page("train")).run()
    at.number_input(key="w_epochs").set_value(1).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert_clean(at, "start")
    deadline = time.monotonic() + 120
    while not at.success and time.monotonic() < deadline:  # the page polls the background job
        time.sleep(0.5)
        at.run()
    assert_clean(at, "after training")


def test_every_page_renders_on_a_fresh_start(app):
    for name in PAGES:
        app.switch_page(page(name)).run()
        assert_clean(app, name)
        assert app.title, f"{name} has no title"


def test_main_controls_are_present(app):
    app.switch_page(page("train")).run()
    labels = {w.label for w in [*app.selectbox, *app.number_input, *app.select_slider, *app.toggle, *app.button]}
    for label in (
        "Data set",
        "Starting point",
        "Epochs",
        "Batch size",
        "Learning rate",
        "Optimizer",
        "Learning-rate schedule",
        "Start training",
    ):
        assert label in labels, label
    helped = [
        w for w in [*app.selectbox, *app.number_input, *app.select_slider] if w.label != "Run shown on every page"
    ]
    assert all(w.help for w in helped), [w.label for w in helped if not w.help]
    app.switch_page(page("architecture")).run()
    assert app.dataframe and app.metric[0].value == "296,130"
    app.switch_page(page("convolution")).run()
    assert {"Kernel", "Class"} <= {s.label for s in app.selectbox}


def test_train_runs_a_one_epoch_run_and_every_page_shows_it(app):
    train_one_epoch(app)
    assert "Run completed" in app.success[0].value
    # A finished run's curves are interactive charts, no longer pictures.
    run_charts = [c for c in app.get("plotly_chart") if c.key.startswith(("loss_", "acc_"))]
    assert len(run_charts) == 2 and not live_charts(app)
    metric = {m.label: m.value for m in app.metric}
    assert metric["Test accuracy"].endswith("%") and float(metric["Test accuracy"][:-1]) > 20
    for name in PAGES:
        app.switch_page(page(name)).run()
        assert_clean(app, name)
    app.switch_page(page("metrics")).run()
    assert {m.label for m in app.metric} >= {"Validation accuracy", "Test accuracy"}
    assert len(app.get("plotly_chart")) >= 4  # curves, per-class bars, confusion matrix
    app.switch_page(page("inside")).run()
    charts = {chart.key.split("_")[0]: json.loads(chart.proto.spec) for chart in app.get("plotly_chart")}
    assert set(charts) == {"forming", "probabilities", "worked"}  # filters forming, the answer, a map to click
    frames = charts["forming"]["frames"]  # the start, every tenth of the one epoch, its end
    assert len(frames) == 11 and len(charts["forming"]["layout"]["sliders"][0]["steps"]) == 11
    assert len(app.get("image")) >= 3  # filters, the picture, feature maps
    # One output number worked out: the sum and the bias land on what the network computed.
    app.number_input(key="w_worked_channel").set_value(5).run()
    app.number_input(key="w_worked_row").set_value(7).run()
    worked = next(c.value for c in app.code if "the network computed" in c.value)
    summed = float(re.search(r"\+ bias -?[\d.]+ = (-?[\d.]+)", worked).group(1))
    assert float(re.search(r"the network computed (-?[\d.]+)", worked).group(1)) == pytest.approx(summed, abs=2e-4)
    assert "sum of the 27 products" in worked  # a 3x3 kernel over 3 colour channels
    # Where it looked: every method, for its answer and for another class.
    answer = app.selectbox(key="w_inside_why").value
    for method in ("gradcam", "integrated_gradients", "occlusion"):
        app.radio(key="w_inside_method").set_value(method).run()
        assert_clean(app, method)
        assert any(f"for {CLASSES[answer]}: red to yellow" in (c or "") for c in image_captions(app))
    app.selectbox(key="w_inside_why").set_value((answer + 1) % 10).run()
    assert any(f"for {CLASSES[(answer + 1) % 10]}:" in (c or "") for c in image_captions(app))
    app.switch_page(page("metrics")).run()
    app.toggle(key="w_cm_looked").set_value(True).run()
    assert_clean(app, "metrics, where it looked")
    # Mistakes worth looking at: the class it gets right least often first, its surest wrong answers.
    recall = {row["class"]: row["recall"] for _, row in app.dataframe[0].value.iterrows()}
    assert app.selectbox(key="w_mistakes_class").value == min(recall, key=recall.get)
    sure = [float(c.split()[-1][:-1]) for c in image_captions(app) if c and c.startswith("said ")]
    assert sure and sure == sorted(sure, reverse=True)


def test_settings_survive_a_page_switch(app):
    app.switch_page(page("train")).run()
    app.number_input(key="w_epochs").set_value(7).run()
    app.switch_page(page("metrics")).run()
    app.switch_page(page("train")).run()
    assert app.number_input(key="w_epochs").value == 7


def test_a_bad_layer_stack_is_explained_at_the_layer(app):
    app.switch_page(page("architecture")).run()
    rows = app.session_state["arch_rows"]
    app.session_state["arch_rows"] = [
        {"type": "pool", "size": None, "kernel": 32, "stride": 1, "padding": 0, "kind": "max", "p": None},
        *rows,
    ]
    app.session_state["arch_version"] = app.session_state["arch_version"] + 1
    app.run()
    assert_clean(app, "architecture")
    # A 32x32 pool leaves 1x1 pixels, so the seed network's own pooling layer (now layer 4) breaks.
    assert any(e.value.startswith("layer 4 (max pool 2x2, stride 2): its input is only 1x1 pixels") for e in app.error)


def test_a_preset_chosen_on_train_shows_on_the_architecture_page(app):
    app.switch_page(page("architecture")).run()
    assert app.metric[0].value == "296,130"
    app.switch_page(page("train")).run()
    app.selectbox(key="w_preset").select("tutorial-2conv").run()
    app.switch_page(page("architecture")).run()
    assert_clean(app, "architecture")
    assert app.metric[0].value == "154,542"


def test_a_reloaded_tab_finds_its_running_job_from_the_url(app, tmp_path):
    app.switch_page(page("train")).run()
    app.number_input(key="w_epochs").set_value(200).run()
    next(b for b in app.button if b.label == "Start training").click().run()
    job_id = app.session_state["job_id"]
    assert app.query_params["job"] == [job_id] or app.query_params["job"] == job_id
    # While this tab's run trains, Start is disabled (AppTest, like a browser, cannot click it).
    start = next(b for b in app.button if b.label == "Start training")
    assert start.disabled and "still training" in start.help
    # A new session (the reloaded tab) with the same URL.
    reloaded = AppTest.from_file(APP, default_timeout=120)
    reloaded.query_params["job"] = job_id
    reloaded.run()
    reloaded.switch_page(page("train")).run()
    assert_clean(reloaded, "reloaded train page")
    stop = [b for b in reloaded.button if b.label == "Stop"]
    assert stop, "the reloaded tab does not show the running job"
    # While it trains: the loss and accuracy curves as pictures, which fill in as the run goes.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        charts = live_charts(reloaded)
        if charts and charts["Loss"].find(f".//{SVG}polyline") is not None:
            break
        time.sleep(0.5)
        reloaded.run()
    assert {"Loss", "Accuracy"} <= set(charts)
    assert not [c for c in reloaded.get("plotly_chart") if c.key != "time_to_accuracy"]  # live: pictures, not Plotly
    assert charts["Loss"].find(f".//{SVG}polyline") is not None, "no loss curve within a minute"
    # Beside the curves: the network's current guesses for the picture strip, and its filters.
    assert any(m.value.startswith("**What it says now**") for m in reloaded.markdown)
    stop[0].click().run()
    deadline = time.monotonic() + 60
    while not reloaded.warning and time.monotonic() < deadline:
        time.sleep(0.5)
        reloaded.run()
    assert "Run stopped" in reloaded.warning[0].value


def test_a_network_edited_before_the_first_train_visit_is_kept(app):
    app.switch_page(page("architecture")).run()
    app.selectbox(key="w_arch_preset").select("tutorial-2conv").run()
    next(b for b in app.button if b.label == "Load it").click().run()
    app.switch_page(page("train")).run()
    assert_clean(app, "train")
    assert any("154,542 parameters" in c.value for c in app.caption)


def test_the_unchanged_tutorial_network_stays_the_tutorial_preset(app):
    """A visit to Architecture, or loading a preset there, leaves a preset's network named as that
    preset on Train (and in its runs), not as "custom"; an edit makes it custom."""
    app.switch_page(page("architecture")).run()
    next(b for b in app.button if b.label == "Load it").click().run()
    app.switch_page(page("train")).run()
    assert app.selectbox(key="w_preset").value == "tutorial"
    app.switch_page(page("architecture")).run()
    rows = app.session_state["arch_rows"]
    app.session_state["arch_rows"] = [{**rows[0], "size": 24}, *rows[1:]]
    app.session_state["arch_version"] = app.session_state["arch_version"] + 1
    app.run()
    app.switch_page(page("train")).run()
    assert app.selectbox(key="w_preset").value == "custom"


def test_train_previews_the_data_set(app):
    app.switch_page(page("train")).run()
    assert any("airplane: 1,000" in c.value for c in app.caption)  # class counts of the sample
    assert len(app.get("image")) == 1  # ten pictures of every class


def test_pages_revisited_give_widgets_one_value_source(app):
    # A widget given both a default and a kept session value makes Streamlit log a warning on
    # every visit (and the default would silently lose): every kept setting is set through the
    # session only.
    import logging

    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("streamlit.elements.lib.policies")  # Streamlit loggers do not propagate
    logger.addHandler(handler)
    try:
        for _ in range(2):
            for name in PAGES:
                app.switch_page(page(name)).run()
                assert_clean(app, name)
    finally:
        logger.removeHandler(handler)
    assert not [m for m in seen if "created with a default value" in m]


# --- the user's own images on the Train page ------------------------------------------------------------
def import_archive(at: AppTest, filename: str, data: bytes) -> None:
    """Upload an archive on Train, press Import, and wait for the background import to finish."""
    at.switch_page(page("train")).run()
    at.file_uploader(key="upload_archive").upload(filename, data, "application/zip").run()
    next(b for b in at.button if b.label == "Import these images").click().run()
    deadline = time.monotonic() + 60
    while "data_job" in at.session_state and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert_clean(at, f"import {filename}")


def test_two_archives_with_one_name_stay_two_data_sets_across_sessions_and_restarts(tmp_path, monkeypatch):
    from test_datasets import class_files, make_zip, png

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    three = make_zip(tmp_path / "a.zip", {**class_files(per_class=6), "red/broken.png": b"not a picture"})
    four = make_zip(
        tmp_path / "b.zip", {**class_files(per_class=9), **{f"grey/{i}.png": png((9, 9, 9)) for i in range(9)}}
    )

    first = AppTest.from_file(APP, default_timeout=120)
    first.run()
    import_archive(first, "pets.zip", three.read_bytes())
    text = " ".join(e.value for e in [*first.success, *first.caption])
    assert "Imported pets.zip" in text and "in 3 classes" in text
    # The import's notes stay on the page after the rerun that selects the new data set.
    assert "could not be read as a picture" in text and "red/broken.png" in text
    first.run()
    assert "red/broken.png" in " ".join(e.value for e in first.caption)

    second = AppTest.from_file(APP, default_timeout=120)  # another browser tab, same server
    second.run()
    import_archive(second, "pets.zip", four.read_bytes())
    assert "in 4 classes" in " ".join(e.value for e in second.success)
    import_archive(second, "pets.zip", three.read_bytes())  # already imported: found by its content
    assert "in 3 classes" in " ".join(e.value for e in second.success)
    # A third archive of that name with as many pictures as the first: still a choice of its own.
    twin = make_zip(tmp_path / "c.zip", {**class_files(per_class=6), "red/other.png": b"not a picture either"})
    import_archive(second, "pets.zip", twin.read_bytes())
    picker = second.selectbox(key="w_dataset")
    ours = [o for o in picker.options if o.startswith("Your images: pets")]
    assert len(ours) == len(set(ours)) == 3
    assert sum("(18 pictures" in o for o in ours) == 2  # two labels that would read the same

    import streamlit as st

    st.cache_resource.clear()  # a server restart forgets what it loaded, not what was imported
    after = AppTest.from_file(APP, default_timeout=120)
    after.run()
    after.switch_page(page("train")).run()
    options = after.selectbox(key="w_dataset").options
    ours = [o for o in options if o.startswith("Your images: pets")]
    assert len(ours) == 3 and any("(36 pictures" in o for o in ours) and any("(18 pictures" in o for o in ours), options


def test_a_run_shows_exactly_its_own_imported_data_and_says_when_it_is_gone(tmp_path, monkeypatch):
    """A run trained on one 'pets.zip' never shows another 'pets.zip''s pictures, and once its
    import is removed the pages say so instead of failing."""
    from test_datasets import class_files, make_zip, png

    from cnn_core import datasets
    from cnn_core.presets import PRESETS
    from cnn_core.runs import RunStore
    from cnn_core.settings import TrainSettings
    from cnn_core.training import Trainer

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    ours = datasets.import_upload(
        make_zip(tmp_path / "a.zip", class_files(per_class=8)).read_bytes(), "pets.zip", folder=tmp_path / "data"
    )
    Trainer(
        PRESETS["tutorial"].architecture.with_num_classes(3),
        TrainSettings(epochs=1),
        ours,
        store=RunStore(tmp_path / "runs"),
    ).run()
    other = {f"{c}/{i}.png": png((i, i, i)) for c in ("ant", "bee", "cow", "dog") for i in range(9)}
    datasets.import_upload(make_zip(tmp_path / "b.zip", other).read_bytes(), "pets.zip", folder=tmp_path / "data")

    config = RunStore(tmp_path / "runs").runs()[0].config()
    assert config["dataset"]["source"] == ours.source  # the run names its data by content
    assert datasets.load_dataset(ours.source, folder=tmp_path / "data").num_classes == 3

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page("metrics")).run()
    assert_clean(at, "metrics")
    assert at.selectbox(key="w_cm_true").options == ["blue", "green", "red"]  # the run's own classes
    assert "your images: pets (from pets.zip)" in " ".join(c.value for c in at.sidebar.caption)

    datasets.remove_import(ours.source, tmp_path / "data")
    import streamlit as st

    st.cache_resource.clear()
    for name in ("metrics", "inside", "runs"):
        at.switch_page(page(name)).run()
        assert_clean(at, name)
    at.switch_page(page("metrics")).run()
    said = " ".join(e.value for e in [*at.info, *at.caption])
    assert "no longer in the data folder" in said and "pets.zip" in said


def test_on_a_shared_server_only_the_control_link_stops_a_run(tmp_path, monkeypatch):
    from pages import common

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(common, "shared", lambda: True)  # as with --server.address 0.0.0.0

    starter = AppTest.from_file(APP, default_timeout=120)
    starter.run()
    starter.switch_page(page("train")).run()
    starter.number_input(key="w_epochs").set_value(200).run()
    next(b for b in starter.button if b.label == "Start training").click().run()
    job_id, token = starter.session_state["job_id"], starter.session_state["control"]
    assert any(b.label == "Stop" for b in starter.button)

    def tab(**params):
        at = AppTest.from_file(APP, default_timeout=120)
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        at.switch_page(page("train")).run()
        assert_clean(at, f"tab {params}")
        return at

    visitor = tab(job=job_id)  # another browser, following the same run
    assert not any(b.label == "Stop" for b in visitor.button)
    assert "only the tab that started it" in " ".join(c.value for c in visitor.caption)
    handed_on = tab(job=job_id, control=token)  # the control link, handed on
    assert any(b.label == "Stop" for b in handed_on.button)

    next(b for b in starter.button if b.label == "Stop").click().run()
    deadline = time.monotonic() + 60
    while common.registry().get(job_id).running and time.monotonic() < deadline:
        time.sleep(0.3)
    run = common.store().runs()[0]
    assert run.owner() == control_hash(token) and run.owner() != token  # the folder keeps a hash only


def test_runs_past_the_memory_limit_are_refused_in_words(tiny_data, tmp_path):
    from cnn_core.errors import CnnCoreError
    from cnn_core.jobs import JobRegistry
    from cnn_core.presets import PRESETS
    from cnn_core.runs import RunStore
    from cnn_core.settings import TrainSettings

    registry = JobRegistry(max_training=1)
    first = registry.start_training(
        PRESETS["tutorial"].architecture, TrainSettings(epochs=50), tiny_data, RunStore(tmp_path)
    )
    try:
        with pytest.raises(CnnCoreError, match="1 run is training already, the most this machine's memory allows"):
            registry.start_training(
                PRESETS["tutorial"].architecture, TrainSettings(epochs=1), tiny_data, RunStore(tmp_path)
            )
    finally:
        first.stop()
        first.thread.join(timeout=60)


def test_every_page_shows_the_live_run_and_keeps_it_in_the_address(app):
    app.switch_page(page("train")).run()
    app.select_slider(key="w_pace").set_value(5).run()  # slow enough to still be training below
    next(b for b in app.button if b.label == "Start training").click().run()
    job_id = app.session_state["job_id"]
    app.switch_page(page("metrics")).run()
    assert_clean(app, "metrics while training")
    assert app.query_params["job"] in (job_id, [job_id])
    side = {b.label: b for b in app.sidebar.button}
    assert {"Pause", "Stop"} <= set(side)
    side["Pause"].click().run()
    deadline = time.monotonic() + 30
    while "Resume" not in {b.label for b in app.sidebar.button} and time.monotonic() < deadline:
        time.sleep(0.2)
        app.run()
    assert "Resume" in {b.label for b in app.sidebar.button}, "the sidebar did not show the pause"
    {b.label: b for b in app.sidebar.button}["Stop"].click().run()


def test_a_link_reproduces_the_view_and_presenter_mode(app):
    """The page's choices follow the address, a link with them opens the same view, and the link
    to copy carries them (never a control token)."""
    app.switch_page(page("convolution")).run()
    app.selectbox(key="w_conv_kernel").set_value("blur").run()
    app.selectbox(key="w_conv_class").set_value("cat").run()
    app.select_slider(key="w_conv_stride").set_value(2).run()
    assert_clean(app, "convolution")
    params = {k: v[0] if isinstance(v, list) else v for k, v in app.query_params.items()}
    assert {"kernel": "blur", "class": "cat", "stride": "2"}.items() <= params.items()
    link = next(c.value for c in app.code if "kernel=blur" in c.value)
    assert "class=cat" in link and "control" not in link
    # The link in a new tab: the same kernel, picture and stride; presenter mode from ?present=1.
    other = AppTest.from_file(APP, default_timeout=120)
    for key, value in {**params, "present": "1"}.items():
        other.query_params[key] = value
    other.run()
    other.switch_page(page("convolution")).run()
    assert_clean(other, "the linked view")
    assert other.selectbox(key="w_conv_kernel").value == "blur"
    assert other.selectbox(key="w_conv_class").value == "cat"
    assert other.select_slider(key="w_conv_stride").value == 2
    assert other.toggle(key="w_present").value is True
    # A value the page cannot show is ignored, not an error.
    broken = AppTest.from_file(APP, default_timeout=120)
    broken.query_params.update({"kernel": "no such kernel", "stride": "seven", "class": "unicorn"})
    broken.run()
    broken.switch_page(page("convolution")).run()
    assert_clean(broken, "a broken link")
    assert broken.select_slider(key="w_conv_stride").value == 1


def test_runs_read_like_a_lab_notebook(tiny_data, tmp_path, monkeypatch):
    """Runs by readable name, each in one colour on every chart; a link opens the same comparison,
    with what differs in words; one run can be named and tagged, and tags filter the table."""
    from cnn_core.presets import PRESETS
    from cnn_core.runs import RunStore
    from cnn_core.settings import TrainSettings
    from cnn_core.training import Trainer
    from pages import common

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    store = RunStore(tmp_path / "runs")
    for lr in (0.001, 0.003):
        Trainer(PRESETS["tutorial"].architecture, TrainSettings(epochs=2, learning_rate=lr), tiny_data,
                store=store, preset="tutorial").run()  # fmt: skip
    older, newer = sorted(store.list(), key=lambda info: info.created)

    def runs_page(**params):
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params.update(params)
        at.run()
        at.switch_page(page("runs")).run()
        assert_clean(at, f"runs {params}")
        return at

    at = runs_page(compare=f"{older.id},{newer.id}", smooth="0.9")
    said = " ".join(m.value for m in at.markdown)
    assert "tutorial CNN · lr 0.003 · 2 epochs" in said and "learning rate 0.001 -> 0.003" in said
    assert at.select_slider(key="w_runs_smooth").value == 0.9
    colours = common.run_colours(store.list())
    assert colours[older.id] != colours[newer.id]
    for chart in at.get("plotly_chart"):
        drawn = json.loads(chart.proto.spec)["data"]
        named = {trace["name"]: trace["line"]["color"] for trace in drawn if trace.get("showlegend", True)}
        assert named == {older.name: colours[older.id], newer.name: colours[newer.id]}, named
    table = at.dataframe[0].value
    assert list(table.columns[:4]) == ["", "name", "test accuracy %", "seconds"]

    at = runs_page(compare=older.id)  # one run: name and tag it
    next(t for t in at.text_input if t.label == "Name").set_value("baseline for the talk")
    next(m for m in at.multiselect if m.label == "Tags").set_value(["demo"])
    next(b for b in at.button if b.label == "Save name and tags").click().run()
    assert_clean(at, "runs after naming")
    assert (store.get(older.id).name(), store.get(older.id).notes().tags) == ("baseline for the talk", ("demo",))
    assert "baseline for the talk" in list(at.dataframe[0].value["name"])
    at.multiselect(key="w_runs_tags").set_value(["demo"]).run()  # only the tagged run is listed
    assert list(at.dataframe[0].value["name"]) == ["baseline for the talk"]


def test_a_sweep_started_on_its_page_trains_its_trials_as_runs_and_says_what_mattered(app, tmp_path):
    """From Train's settings: vary the learning rate, start, watch the trials come in; then the
    best one, what mattered, its runs on Runs, and the best trained for longer on Train."""
    from cnn_core.runs import RunStore

    app.switch_page(page("train")).run()
    app.number_input(key="w_epochs").set_value(2).run()
    for key, value in (("w_train_samples", 400), ("w_val_samples", 200), ("w_test_samples", 200)):
        app.session_state[key] = value
    app.switch_page(page("sweep")).run()
    assert_clean(app, "sweep")
    app.multiselect(key="w_sweep_vary").set_value(["learning_rate", "augment"]).run()
    app.radio(key="w_sweep_strategy").set_value("random").run()
    app.number_input(key="w_sweep_trials").set_value(3).run()
    next(b for b in app.button if b.label == "Start the sweep").click().run()
    assert_clean(app, "sweep started")
    deadline = time.monotonic() + 240
    while not any("Done:" in m.value for m in app.markdown) and time.monotonic() < deadline:
        time.sleep(1)
        app.run()
    assert_clean(app, "sweep done")
    said = " ".join(m.value for m in app.markdown)
    assert "3 of 3 trials finished" in said, said
    table = app.dataframe[0].value
    assert list(table["trial"]) == [0, 1, 2] and table["values"].str.startswith("lr ").all()
    assert any("Best so far: trial" in s.value for s in app.success)
    assert any(m.value == "**What mattered**" for m in app.markdown)
    runs = RunStore(tmp_path / "runs").list()
    assert len(runs) == 3 and all(info.tags[-1] == "sweep" for info in runs)
    store = RunStore(tmp_path / "runs")  # each trial trained with Train's settings and its own learning rate
    configs = [store.get(info.id).config()["settings"] for info in runs]
    assert {c["train_samples"] for c in configs} == {400} and len({c["learning_rate"] for c in configs}) == 3

    next(b for b in app.button if b.label == "Train the best for longer").click().run()
    assert_clean(app, "train the best for longer")
    assert app.number_input(key="w_epochs").value == 4


def test_a_diagnosis_offers_one_change_and_the_new_run_is_drawn_over_its_parent(tiny_data, tmp_path, monkeypatch):
    """Runs says an overfitting run overfits, with its numbers; Try this opens Train with only
    augmentation turned on, and the run started there shows its parent's curves, faded, with the
    change in the chart's title."""
    from cnn_core.presets import PRESETS
    from cnn_core.runs import RunStore
    from cnn_core.settings import TrainSettings
    from cnn_core.training import Trainer

    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
    overfits = TrainSettings(learning_rate=0.003, epochs=12, train_samples=60, val_samples=200, batch_size=16)
    Trainer(PRESETS["tutorial"].architecture, overfits, tiny_data, store=RunStore(tmp_path / "runs"),
            preset="tutorial").run()  # fmt: skip
    (parent,) = RunStore(tmp_path / "runs").list()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["compare"] = parent.id
    at.run()
    at.switch_page(page("runs")).run()
    assert_clean(at, "runs")
    said = " ".join(m.value for m in at.markdown)
    assert "**Overfitting.** Validation loss rose from" in said and "while training loss kept falling" in said
    next(b for b in at.button if b.label == "Try this: augment off -> on").click().run()
    assert_clean(at, "try this")
    assert at.toggle(key="w_augment").value is True
    assert at.number_input(key="w_epochs").value == 12 and at.select_slider(key="w_learning_rate").value == 0.003
    at.switch_page(page("train"))  # AppTest stays on the page it was told, whatever the app switched to
    at.number_input(key="w_epochs").set_value(2).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    deadline = time.monotonic() + 120
    while not at.success and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert_clean(at, "the child run")
    loss = json.loads(next(c for c in at.get("plotly_chart") if c.key.startswith("loss_")).proto.spec)
    assert loss["layout"]["title"]["text"] == "Loss · augment off -> on"
    ghosts = [t for t in loss["data"] if t["name"].startswith("before")]
    assert {t["name"] for t in ghosts} == {"before: training", "before: validation"}
    assert all(t["opacity"] < 1 and t["line"]["dash"] == "dash" for t in ghosts)
    assert max(ghosts[0]["x"]) == 12  # the parent's whole run, under the new one's two epochs
    # Try this on Train itself, where the settings' widgets are already drawn in the same run.
    offers = [b for b in at.button if b.label.startswith("Try this: ")]
    assert offers, [m.value for m in at.markdown]
    offers[0].click().run()
    assert_clean(at, "try this on Train")
    assert at.session_state["ghost_parent"][1] == offers[0].label.removeprefix("Try this: ")


def test_a_conv_block_goes_in_the_middle_in_two_clicks_and_an_incomplete_row_hides_nothing(app):
    def shapes(at):  # the computed table under the one being edited
        return next(d.value for d in at.dataframe if "output shape" in d.value.columns)

    app.switch_page(page("architecture")).run()
    app.number_input(key="w_move_layer").set_value(3).run()  # after the tutorial's pool
    next(b for b in app.button if b.label == "+ conv block after it").click().run()
    assert_clean(app, "conv block")
    # By hand: the block's conv adds 18*18*9 + 18 weights; its pool quarters the first linear layer's input.
    assert app.metric[0].value == f"{296_130 + (18 * 18 * 9 + 18) - (18 * 16 * 16 - 18 * 8 * 8) * 64:,}"
    layers = list(shapes(app)["layer"])
    assert layers[3:6] == ["conv 3x3, 18 channels, stride 1, padding 1", "ReLU", "max pool 2x2, stride 2"]
    # A new conv row with no size yet: it says what to fill in, and the shapes stay in view.
    rows = app.session_state["arch_rows"]
    app.session_state["arch_rows"] = [*rows[:2], {"type": "conv"}, *rows[2:]]
    app.session_state["arch_version"] = app.session_state["arch_version"] + 1
    app.run()
    assert_clean(app, "incomplete row")
    assert [w.value for w in app.warning] == ["Row 3: set the number of filters (size)."]
    assert len(shapes(app)) == 9 and app.metric  # the complete rows, still sized
    # Remove it: every other row stays, in order.
    app.number_input(key="w_move_layer").set_value(3).run()
    next(b for b in app.button if b.label == "Remove").click().run()
    assert not app.warning and list(shapes(app)["layer"])[3:6] == layers[3:6]


def test_a_starting_point_says_what_to_expect_and_a_run_how_it_compared(app, tmp_path, monkeypatch):
    from cnn_core import expectations
    from cnn_core.expectations import Expected
    from cnn_core.presets import PRESETS

    monkeypatch.setattr(expectations, "FIGURES", tmp_path / "figures.json")
    # Recorded with one epoch (the preset trains five), on the sample's sizes.
    one = PRESETS["tutorial"].settings.replace(epochs=1, train_samples=8000, val_samples=2000, test_samples=2000)
    recorded = Expected("tutorial", "sample", 3.2, 0.5, 1, 9000.0, one.to_dict(), ((1, 3.2, 0.5),), "", "")
    quick = Expected(**{**vars(recorded), "preset": "quick", "train_seconds": 95.0})
    expectations.record([recorded, quick], "cpu X, torch 2", "d")
    app.switch_page(page("train")).run()
    said = " ".join(m.value for m in app.markdown)
    assert (
        "**Expected:** about 3 s of training and 50% test accuracy (measured on cpu X) with its own settings " in said
    )
    assert "(yours differ in epochs)." in said
    app.selectbox(key="w_preset").select("quick").run()
    assert "about 1 min 35 s of training" in " ".join(m.value for m in app.markdown)
    app.selectbox(key="w_preset").select("strong").run()
    assert any("No recorded time and accuracy" in c.value for c in app.caption)  # strong: none on the sample
    app.selectbox(key="w_preset").select("tutorial").run()
    train_one_epoch(app)  # now the recorded settings exactly
    assert "**Expected:** about 3 s of training and 50% test accuracy (measured on cpu X)." in " ".join(
        m.value for m in app.markdown
    )
    compared = next(c.value for c in app.caption if c.value.startswith("This run:"))
    assert "; the recorded run: 50.0% in 3 s (" in compared
