"""Train: pick data, network and settings, start a run in the background, watch it live."""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st
import torch

from cnn_core import events, expectations
from cnn_core.curves import curves
from cnn_core.data import plan_split
from cnn_core.datasets import (
    DESCRIPTIONS,
    IMPORTED,
    catalog,
    data_dir,
    import_upload,
    list_imports,
    load_dataset,
    remove_import,
)
from cnn_core.diagnosis import diagnose
from cnn_core.errors import ArchitectureError, CnnCoreError
from cnn_core.inspection import filter_grid
from cnn_core.presets import PRESETS
from cnn_core.previews import class_counts, image_grid, samples_per_class
from cnn_core.settings import SCHEMA, TrainSettings
from cnn_core.shapes import infer_shapes
from cnn_core.textlog import event_lines, header_lines
from pages import common
from pages.common import advice, present, state
from pages.common.live_chart import live_chart
from pages.common.settings_widgets import settings_widgets

# While a run trains free, the live view redraws every LIVE_SECONDS, and the loss curve is played
# in between, five frames a second, by the browser (live_chart). On a 2-core machine each
# redraw through Streamlit costs the browser ~40 ms, which stalls both training threads:
# four a second took 45% of the run's speed, one every 2 s about 3 points more than one every 3 s
# (scripts/app_speed.py, docs/benchmarks.md).
LIVE_SECONDS = 3.0
DEMO_SECONDS = 0.25  # at a demo pace the run waits anyway: redraw four times a second
# Speeds a presenter can pick, slowest first, in batches a second; FREE trains as fast as it goes.
FREE = 0
PACES = [2, 5, 10, 20, 50, FREE]
SAMPLE_SIZES = ("train_samples", "val_samples", "test_samples")
FEW = ("learning_rate", "epochs")  # in presenter mode, in view beside the starting point and the speed
NO_PROGRESS_SLIDE = "[data-testid='stProgress'], [data-testid='stProgress'] * {transition: none !important}"


def apply_preset(name: str) -> None:
    """Load a preset's network and its training settings into the widgets."""
    state.use_network(PRESETS[name].architecture, name)
    state.use_settings(PRESETS[name].settings)


def on_preset_change() -> None:
    if st.session_state["w_preset"] in PRESETS:
        apply_preset(st.session_state["w_preset"])


def on_dataset_change() -> None:
    state.choose_dataset(st.session_state["w_dataset"])
    reset_sample_sizes()


def reset_sample_sizes() -> None:
    """The preset's sample sizes again: another data set's clamped sizes mean nothing for this one."""
    preset = PRESETS.get(state.preset())
    defaults = (preset.settings if preset else TrainSettings()).to_dict()
    for field in SAMPLE_SIZES:
        st.session_state[state.widget_key(field)] = defaults[field]


# --- which job does this tab follow? The session's, or the one in the URL after a reload -------------
registry = common.registry()
job = registry.get(state.followed_job_id())
if job is not None:
    state.follow_job(job.id)  # back in the address after a visit to another page
lost_job = job is None and bool(st.query_params.get("job"))  # a reopened tab whose run this server lost
if lost_job:
    state.forget_lost_job()
if "w_preset" not in st.session_state:
    # First visit: the tutorial's settings, but keep a network already chosen on the Architecture page.
    for field, value in PRESETS["tutorial"].settings.to_dict().items():
        st.session_state.setdefault(state.widget_key(field), value)
    st.session_state["w_preset"] = state.preset() or state.use_network(state.architecture(), "tutorial")

st.title("Train a network")
if lost_job:
    st.info(
        "The run this tab was following is not training on this server any more (the app restarted, or the run "
        "ended): find it on **Runs**, where an interrupted run can be resumed.",
        icon=":material/info:",
    )
presenting = present.on()
if presenting:
    # For a room: the few settings that matter, then the buttons, then the live view, on one screen;
    # the rest folded below.
    few = st.columns(4)
    buttons = st.columns(5)
    live = st.container()
    setup = st.expander("Data, network and every setting")
else:
    setup, live = st.columns([2, 3], gap="large")
    few = buttons = None


# --- 1. data ------------------------------------------------------------------------------------------
def import_summary(dataset) -> str:
    facts = dataset.describe()
    val = f", {facts['val_images']:,} validation" if facts["val_images"] else ""
    return (
        f"{facts['train_images']:,} training{val} and {facts['test_images']:,} test pictures in "
        f"{dataset.num_classes} classes"
    )


def show_import_notes(dataset) -> None:
    """What the import did with every file: its notes, and the names behind each skipped count."""
    for note in dataset.notes:
        st.caption(note[:1].upper() + note[1:])
    if dataset.skipped:
        with st.expander(f"Files not imported ({sum(v['count'] for v in dataset.skipped.values()):,})"):
            for reason, info in dataset.skipped.items():
                more = (
                    f" (and {info['count'] - len(info['files']):,} more)" if info["count"] > len(info["files"]) else ""
                )
                st.markdown(f"**{SKIP_TITLES.get(reason, reason)}: {info['count']:,}**{more}")
                # A list that wraps long names, rather than a code block that cuts them at the edge.
                st.markdown("\n".join(f"- {common.plain_markdown(name)}" for name in info["files"]))


SKIP_TITLES = {
    "not_image": "Not pictures",
    "hidden": "Hidden files",
    "unreadable": "Could not be read",
    "other_format": "Picture formats this app cannot read",
    "too_large": "Too large",
    "damaged": "Damaged in the archive",
    "encrypted": "Password-protected",
    "link": "Links not followed",
    "outside_classes": "Not in a class folder",
    "outside_splits": "Beside the train/test folders",
    "empty_class": "Folders with no readable pictures",
}


# --- what to expect -------------------------------------------------------------------------------------
def widget_settings(dataset) -> dict | None:
    try:
        return expectations.as_run(state.settings_from_widgets(), dataset)
    except CnnCoreError:
        return None  # a value being typed; the settings section says what is wrong with it


def draw_expected(preset: str | None, dataset) -> None:
    """What the chosen starting point reached when it was measured on this data set, and every
    starting point's figures in a list: from the recorded benchmark figures (cnn_core.expectations)."""
    if preset not in PRESETS:
        return
    recorded = expectations.load().get(expectations.key_of(dataset), {})
    chosen = recorded.get(preset)
    if chosen is None:
        st.caption(
            "No recorded time and accuracy for this starting point on this data set "
            "(`python -m cnn_core bench --time-to-accuracy --record` measures them)."
        )
        return
    st.markdown(f"**Expected:** {chosen.expect(widget_settings(dataset))}.")
    with st.expander("What each starting point reaches"):
        st.markdown(
            "\n".join(
                f"- **{PRESETS[name].title}**: {expectations.duration(e.train_seconds)}, {100 * e.test_accuracy:.0f}%"
                for name, e in recorded.items()
                if name in PRESETS
            )
        )
        st.caption(f"Measured {chosen.measured} by `python -m cnn_core bench --time-to-accuracy`.")


def draw_expected_chart(preset: str | None, dataset) -> None:
    """Before a run, where its curves will be: the recorded test accuracy of every starting point
    after each epoch against training time, the chosen one thicker."""
    recorded = expectations.load().get(expectations.key_of(dataset), {})
    entries = [recorded[name] for name in PRESETS if name in recorded]
    if not entries:
        return
    titles = {name: p.title for name, p in PRESETS.items()}
    st.plotly_chart(common.time_to_accuracy_figure(entries, titles, preset), key="time_to_accuracy")
    st.caption(
        f"What each starting point reached on this data set, measured on {entries[0].processor} "
        "(test accuracy after each epoch, with test-time flips)."
    )


def draw_against_expected(current, end: dict) -> None:
    """After a run: how it did against the recorded run of its starting point, if comparable."""
    plan = current.plan
    if plan is None or end.get("test_accuracy") is None or end["status"] != "completed":
        return
    chosen = expectations.expected(plan.preset, expectations.key_of(plan.dataset))
    if chosen is None:
        return
    settings = expectations.as_run(plan.settings, plan.dataset)
    st.caption(chosen.against(settings, end["train_seconds"], end["test_accuracy"]))


with setup:
    st.subheader("1. Data")
    # A finished import selects its data set from the next run on: the selectbox below may
    # already be drawn in this one, and a drawn widget's value cannot change.
    if (chosen := state.take_next_dataset()) is not None:
        st.session_state["w_dataset"] = chosen
        reset_sample_sizes()
    entries = {entry.key: entry for entry in catalog()}
    imports = {info.source: info for info in list_imports()}
    options = [*entries, *imports]

    def base_label(key: str) -> str:
        if key in entries:
            return entries[key].title + (" (download first)" if entries[key].needs_download else "")
        info = imports[key]
        return f"Your images: {info.name} ({info.images:,} pictures)"

    labels = common.distinct({key: base_label(key) for key in options})
    label = labels.get

    st.session_state.setdefault("w_dataset", state.dataset_name())
    if st.session_state["w_dataset"] not in options:
        st.session_state["w_dataset"] = "sample"
    name = st.selectbox(
        "Data set",
        options,
        format_func=label,
        key="w_dataset",
        on_change=on_dataset_change,
        help="The pictures the network learns from. The bundled CIFAR-10 sample works offline; your own "
        "imports stay listed until you remove them.",
    )
    state.choose_dataset(name)
    if name in entries and entries[name].state not in ("ready", "download on first use"):
        st.warning(entries[name].state, icon=":material/warning:")
    elif name in DESCRIPTIONS and not common.dataset_ready(name):
        st.caption(DESCRIPTIONS[name][1])
    if name in imports:
        info = imports[name]
        st.caption(
            f"Imported from **{info.origin}** on {info.imported_at[:16].replace('T', ' ')} UTC · "
            f"{info.bytes / 2**20:,.1f} MB kept in the data folder"
        )

    data_job = registry.get(st.session_state.get("data_job"))
    ready = common.dataset_ready(name)
    if not ready and name in entries:
        if st.button(f"Download {DESCRIPTIONS[name][0]}", icon=":material/download:"):
            loader = functools.partial(load_dataset, name, folder=data_dir())
            st.session_state["data_job"] = registry.start_loading(name, loader).id
            st.rerun()

    with st.expander("Use your own images"):
        st.markdown(
            "A `.zip` or `.tar.gz` with **one folder per class** (`cats/1.jpg`, `dogs/2.png`, ...). Folders named "
            "like `train`, `test` and `val` (also `training_set`, `test_set`, `validation`, ...) are kept as the "
            "training, test and validation pictures. Every picture becomes a 32x32 colour image; files that are "
            "not imported are listed with the reason."
        )
        upload = st.file_uploader(
            "Image archive",
            type=["zip", "gz", "tgz", "tar", "bz2", "xz"],
            key="upload_archive",
            help="The limits: the upload size set for this server, 200,000 files, "
            "40 megapixels per picture, at least 5 pictures per class.",
        )
        if upload is not None and st.button("Import these images", icon=":material/upload:"):
            data, filename = upload.getvalue(), upload.name
            st.session_state.pop("import_done", None)
            st.session_state["data_job"] = registry.start_loading(
                filename,
                lambda progress, should_stop: import_upload(data, filename, folder=data_dir(), progress=progress),
            ).id
            st.rerun()

    if data_job is not None:

        @st.fragment(run_every=1.0 if data_job.running else None)
        def data_progress():
            job_now = registry.get(st.session_state.get("data_job"))
            if job_now is None:
                return
            p = job_now.progress
            if job_now.running:
                if p.get("phase") == "download" and p.get("total"):
                    st.progress(
                        min(1.0, p["done"] / p["total"]),
                        text=f"Downloading {job_now.title}: {p['done'] / 2**20:.0f} of {p['total'] / 2**20:.0f} MB",
                    )
                else:
                    st.progress(0.0, text=f"Reading {Path(job_now.title).name}: {p.get('done', 0):,} files so far")
                if st.button("Cancel", key="cancel_data"):
                    job_now.stop()
            elif job_now.status == "failed":
                st.error(job_now.error)
                if st.button("Dismiss", key="dismiss_data"):
                    del st.session_state["data_job"]
                    st.rerun(scope="app")
            else:  # done: select it, and keep what the import said on the page until the next import
                dataset = job_now.result
                source = dataset.source or job_now.title
                state.choose_dataset(source, picker_too=True)
                if source.startswith(IMPORTED):
                    st.session_state["import_done"] = {"source": source, "title": job_now.title}
                del st.session_state["data_job"]
                st.rerun(scope="app")

        data_progress()

    dataset = None
    if common.dataset_ready(name):
        try:
            dataset = common.get_dataset(name)
        except CnnCoreError as error:
            common.error_box(error)
    if dataset is not None:
        done = st.session_state.get("import_done")
        if done and done["source"] == name:
            st.success(f"Imported {done['title']}: {import_summary(dataset)}.", icon=":material/check_circle:")
        st.caption(f"{import_summary(dataset)} · {'x'.join(map(str, dataset.input_shape))} pixels")
        if name in imports:
            show_import_notes(dataset)
            if st.button(
                "Remove from the list",
                key="remove_import",
                help="Deletes the imported pictures from the data folder. Runs trained on them keep their results.",
            ):
                remove_import(name, data_dir())
                common.forget_dataset()
                state.choose_dataset("sample", picker_too=True)
                st.rerun()
        with st.expander("See the pictures"):
            counts = class_counts(dataset)
            st.caption(" · ".join(f"{name}: {count:,}" for name, count in counts))
            grid = image_grid(samples_per_class(dataset, per_class=10))
            st.image(
                common.to_image(common.enlarge(grid, 2)),
                caption="Ten training pictures of every class, one class per row (in the order above)",
                width="stretch",
            )


# --- 2. network -----------------------------------------------------------------------------------------
with setup:
    st.subheader("2. Network")
    preset_options = list(PRESETS)
    if state.preset() == state.CUSTOM:
        preset_options.append(state.CUSTOM)
        st.session_state["w_preset"] = state.CUSTOM
    with few[0] if presenting else st.container():
        st.selectbox(
            "Starting point",
            preset_options,
            key="w_preset",
            on_change=on_preset_change,
            format_func=lambda key: PRESETS[key].title if key in PRESETS else "Your network from the Architecture page",
            help="A ready-made network with the settings it was made for. Choosing one resets the settings below.",
        )
    architecture = state.architecture()
    if dataset is not None:
        architecture = architecture.with_num_classes(dataset.num_classes)
        report = infer_shapes(architecture, dataset.input_shape, dataset.num_classes)
        if report.ok:
            st.caption(
                f"{architecture.name}: {len(architecture.layers)} layers, {report.parameters:,} parameters, "
                f"{report.mult_adds / 1e6:,.1f} million multiply-adds per image"
            )
        else:
            st.error(f"This network does not fit the data: {report.error}")
        draw_expected(state.preset(), dataset)
    st.page_link(common.PAGES["architecture"], label="Change the layers", icon=":material/account_tree:")

# --- 3. settings ----------------------------------------------------------------------------------------
with setup:
    st.subheader("3. Settings")
    settings_widgets([s for s in SCHEMA if not s.more and not (presenting and s.name in FEW)])
    if presenting:
        for column, name in zip(few[1:3], FEW, strict=True):
            with column:
                settings_widgets([s for s in SCHEMA if s.name == name])
    with st.expander("More settings"):
        highs = {}
        if dataset is not None:
            # Sizes this data set cannot supply: the same clamping as the command line, with its note.
            sizes = {f: st.session_state[state.widget_key(f)] for f in SAMPLE_SIZES}
            split = plan_split(dataset, TrainSettings(**sizes))
            fits = {"train_samples": len(split.train), "val_samples": len(split.val), "test_samples": len(split.test)}
            if fits != sizes:
                st.session_state.update({state.widget_key(f): n for f, n in fits.items()})
                for note in split.notes:
                    st.caption(note)
            facts = dataset.describe()
            own_val = facts["val_images"]
            highs = {
                "train_samples": facts["train_images"],
                "val_samples": own_val or facts["train_images"] - 1,
                "test_samples": facts["test_images"],
            }
        settings_widgets([s for s in SCHEMA if s.more], highs)

running = job is not None and job.running
# At the top of the live column, not under the settings: the page stays where the curves appear.
with buttons[0] if presenting else live:
    if not presenting:
        st.subheader("4. Train and watch")
    start = st.button(
        "Start" if presenting else "Start training",
        type="primary",
        icon=":material/play_arrow:",
        disabled=dataset is None or running,
        width="stretch",
        help="This tab's run is still training: stop it, or wait for it to end, to start another."
        if running
        else "Trains in the background: you can switch pages while it runs.",
    )
    # A second click that arrives before the page redraws with the button disabled starts nothing.
    if start and dataset is not None and not running:
        try:
            settings = state.settings_from_widgets()
            preset = state.preset()
            new_job = registry.start_training(
                architecture,
                settings,
                dataset,
                common.store(),
                preset=preset if preset in PRESETS else None,
                owner=common.owner(),
                pace=st.session_state.get("w_pace") or None,
            )
        except ArchitectureError as error:
            st.error(f"The network cannot train on this data: {error}. Fix it on the Architecture page.")
        except CnnCoreError as error:
            common.error_box(error)
        else:
            advice.adopt_parent(new_job.id)  # a run from Try this or Train again: its parent's ghost curves
            state.follow_job(new_job.id)
            st.rerun()


# --- live view --------------------------------------------------------------------------------------------
def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes else f"{secs} s"


def draw_progress() -> None:
    """While the run trains: how far it is (redrawn every LIVE_SECONDS). Once it has ended: the
    whole page again, showing the new run everywhere."""
    current = registry.get(state.followed_job_id())
    if current is None:
        return
    if current.running:
        plan, p = current.plan, current.progress
        where = (
            f"Epoch {p.get('epoch', 1)} of {p.get('epochs', plan.settings.epochs)} · batch {p.get('batch', 0)} of "
            f"{p.get('batches', plan.batches_per_epoch)}"
        )
        if current.paused:
            text = f"Paused after {where.lower()}: press Resume, or Step to go on one batch at a time"
        elif p.get("status") == "running":
            text = (
                f"{where} · {p.get('images_per_second', 0):,.0f} images/s · "
                f"elapsed {fmt_seconds(p.get('elapsed'))} · about {fmt_seconds(p.get('eta'))} left"
            )
        else:
            text = "Starting..."
        st.progress(min(1.0, p.get("fraction", 0.0)), text=text)
    elif st.session_state.get("following") == current.id:
        del st.session_state["following"]  # finished since the last poll: stop polling
        if current.run_id is not None:
            state.show_run(current.run_id)
        st.rerun(scope="app")


def followed_run():
    """The followed job and what it has reported so far, with its curves; None when there is none."""
    current = registry.get(state.followed_job_id())
    if current is None:
        return None, [], None
    reported = current.events_since(0)
    return current, reported, curves([e for e in reported if e["kind"] in events.HISTORY_KINDS], live=reported)


def draw_live() -> None:
    """While the run trains: progress, the loss curve (played in by live_chart), the picture
    strip, the accuracy curve and the log; redrawn every LIVE_SECONDS (DEMO_SECONDS at a demo pace)."""
    draw_progress()
    current, reported, c = followed_run()
    if current is None or not current.running:
        return
    epochs = current.plan.settings.epochs
    draw_notes(c)
    ghost, loss_title, accuracy_title = advice.ghost(current.id)
    # For a room, the pictures beside the curve: both on one screen at 1024x768.
    chart, strip = st.columns([3, 2]) if presenting else (st.container(), st.container())
    with chart:
        live_chart(common.live_loss_chart(c, epochs, ghost, loss_title), current.id, key=f"live_loss_{current.id}")
    with strip:
        draw_snapshot(current.plan, reported)
    st.image(common.live_accuracy_chart(c, epochs, ghost, accuracy_title), width="stretch")
    draw_diagnoses(current, reported, offer=False)  # while it trains: what the curves say so far
    draw_log(current, reported)


def draw_diagnoses(current, reported: list[dict], offer: bool = True) -> None:
    """What the curves say, with Try this once the run has ended."""
    plan = current.plan
    history = [e for e in reported if e["kind"] in events.HISTORY_KINDS]
    found = diagnose(history, plan.settings, plan.dataset.num_classes)
    if found:
        advice.diagnoses(found, plan.architecture, plan.settings, plan.preset, current.run_id, f"diag_{current.id}",
                         offer=offer and current.run_id is not None)  # fmt: skip


def draw_notes(c) -> None:
    for note in c.notes:  # "the network is not learning: ..."
        st.warning(note[:1].upper() + note[1:], icon=":material/warning:")


def draw_outcome(current) -> None:
    """How a run that has ended went, with links to look at it."""
    end = next((e for e in current.events_since(0) if e["kind"] == events.END), None)
    if end is not None:
        status = end["status"]
        message = {"completed": st.success, "stopped": st.warning, "diverged": st.error}.get(status, st.error)
        message(f"Run {status}: {end['message']}.")
        # Two by two and the links one under another: in the live column at 1024 px, three in a
        # row cut the labels to "Validation ac..." and "Metr...".
        (m1, m2), (m3, _) = st.columns(2), st.columns(2)
        m1.metric(
            "Validation accuracy", f"{100 * end['val_accuracy']:.1f}%" if end.get("val_accuracy") is not None else "-"
        )
        m2.metric(
            "Test accuracy", f"{100 * end['test_accuracy']:.1f}%" if end.get("test_accuracy") is not None else "-"
        )
        m3.metric("Training time", fmt_seconds(end.get("train_seconds")))
        draw_against_expected(current, end)
        st.page_link(common.PAGES["metrics"], label="Metrics for this run", icon=":material/analytics:")
        st.page_link(common.PAGES["inside"], label="Filters and feature maps", icon=":material/grid_view:")
        st.page_link(common.PAGES["runs"], label="Compare runs", icon=":material/compare_arrows:")
    elif current.status == "failed":
        st.error(f"The run failed: {current.error}")


def draw_snapshot(plan, reported: list[dict]) -> None:
    """The network now: its guesses for a fixed strip of test pictures, and its first filters."""
    snapshot = next((e for e in reversed(reported) if e["kind"] == events.SNAPSHOT), None)
    if snapshot is None:
        return
    right = sum(g["guess"] == g["label"] for g in snapshot["strip"])
    st.markdown(f"**What it says now** · {right} of {len(snapshot['strip'])} right")
    st.image(common.guess_strip(plan.dataset, snapshot), width="stretch")
    if snapshot["filters"] is not None:
        filters = filter_grid(torch.tensor(snapshot["filters"]), scale=6)
        st.image(common.to_image(filters), caption="The first layer's filters, learning", width="stretch")


def draw_ended(current) -> None:
    """A run that has ended: its interactive curves and its log."""
    _, reported, c = followed_run()
    draw_notes(c)
    ghost, loss_title, accuracy_title = advice.ghost(current.id)
    st.plotly_chart(common.loss_figure(c, loss_title, ghost), key=f"loss_{current.id}")
    if c.epoch_x:
        st.plotly_chart(common.accuracy_figure(c, accuracy_title, ghost), key=f"acc_{current.id}")
    else:
        st.caption("No epoch ended, so there is no accuracy to draw.")
    draw_diagnoses(current, reported)
    draw_log(current, reported)


def draw_log(current, reported: list[dict]) -> None:
    with st.expander("Training log (the tutorial's format)"):
        lines = [line for e in reported if e["kind"] != events.LOSS for line in event_lines(e)]
        if current.running and len(lines) > 30:  # while it runs, the latest lines: cheap to redraw
            lines = ["...", *lines[-30:]]
        st.code("\n".join(header_lines(current.plan.settings, current.plan.log_info()) + lines), language=None)


def pace_label(pace: int) -> str:
    return "as fast as it goes" if pace == FREE else f"{pace} batches a second"


def on_pace_change(job) -> None:
    if job is not None and job.running:
        pace = st.session_state["w_pace"]
        job.control("pace off" if pace == FREE else f"pace {pace}")


def pace_controls(job) -> None:
    """Pause or resume, step one batch or one epoch, stop: beside the chart they act on."""
    # Two by two in the live column: four in a row are cut to their first letter at 1024 px. In
    # presenter mode, in the row of buttons beside Start.
    a, b, c, d = buttons[1:] if presenting else (*st.columns(2), *st.columns(2))
    if job.paused:
        a.button("Resume", icon=":material/play_arrow:", on_click=job.control, args=("resume", common.CLICK_WAIT),
                 key=f"resume_{job.id}",
                 help="Train on from here, at the speed chosen above.", width="stretch")  # fmt: skip
    else:
        a.button("Pause", icon=":material/pause:", on_click=job.control, args=("pause", common.CLICK_WAIT),
                 key=f"pause_{job.id}",
                 help="Hold the run after this batch; nothing is lost.", width="stretch")  # fmt: skip
    b.button("Step", icon=":material/skip_next:", on_click=job.control, args=("step 1",), key=f"step_{job.id}",
             help="Train one batch, then pause.", width="stretch")  # fmt: skip
    c.button("Epoch", icon=":material/fast_forward:", on_click=job.control, args=("step epoch",),
             key=f"epoch_{job.id}", help="Train to the end of this epoch, then pause.", width="stretch")  # fmt: skip
    d.button("Stop", icon=":material/stop:", on_click=job.stop, key=f"stop_{job.id}",
             help="Ends the run after the current batch and keeps what it learned.", width="stretch")  # fmt: skip


with live:
    st.session_state.setdefault("w_pace", FREE)
    (few[3] if presenting else st.container()).select_slider(
        "Speed",
        PACES,
        key="w_pace",
        format_func=pace_label,
        on_change=on_pace_change,
        args=(job,),
        help="A demo pace lets a room watch the network learn: a 3-epoch run on the sample takes a minute at "
        "10 batches a second. The result is the same at every speed.",
    )
    if job is None:
        start_word = "Start" if presenting else "Start training"
        st.info(f"Press **{start_word}**: the loss curves appear here within seconds.", icon=":material/monitoring:")
        if dataset is not None and not presenting:
            draw_expected_chart(state.preset(), dataset)
        # A tab that lost its session (closed and reopened) can pick up a run that is still going.
        for other in [j for j in registry.jobs("train") if j.running]:
            if st.button(
                f"Follow the run training now: {other.title}", key=f"follow_{other.id}", icon=":material/visibility:"
            ):
                state.follow_job(other.id)
                st.rerun()
    else:
        if job.running:
            st.session_state["following"] = job.id
            # The bar jumps instead of sliding: in a browser without a GPU the slide repaints for
            # a second after every update and took half the browser's share of the CPU.
            st.html(f"<style>{NO_PROGRESS_SLIDE}</style>")
            if common.can_control(job.owner):
                pace_controls(job)
            else:
                st.caption(common.WATCH_ONLY)
        for note in job.plan.split.notes:
            st.caption(note)
        if job.running:
            # Only what changes is in the fragment: the less each redraw touches, the less CPU
            # the browser takes from the run.
            demo = st.session_state.get("w_pace", FREE) != FREE or job.paused
            st.fragment(run_every=DEMO_SECONDS if demo else LIVE_SECONDS)(draw_live)()
        else:
            draw_progress()
            draw_outcome(job)
            draw_ended(job)
