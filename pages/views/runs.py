"""Runs: every saved run in one table; compare, download, delete, or train again from one."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cnn_core.curves import curves
from cnn_core.errors import CnnCoreError
from cnn_core.runs import DAMAGED
from pages import common
from pages.common import state

st.title("Runs")
store = common.store()
infos = store.list()
if not infos:
    st.info(
        "No runs yet. Every training run is saved here, with its settings, curves and weights.", icon=":material/info:"
    )
    st.page_link(common.PAGES["train"], label="Train a network", icon=":material/play_circle:")
    st.stop()


def pct(value):
    return None if value is None else 100 * value


table = pd.DataFrame(
    [
        {
            "started": info.created[:16].replace("T", " "),
            # The numbers people compare first, before the settings: in view without scrolling at 1024x768.
            "test accuracy %": pct(info.test_accuracy),
            "seconds": info.train_seconds,
            "status": info.status,
            "data set": info.dataset,
            "network": info.architecture,
            "parameters": info.parameters,
            "epochs": info.epochs_completed,
            "batch": info.settings.get("batch_size"),
            "learning rate": info.settings.get("learning_rate"),
            "optimizer": info.settings.get("optimizer"),
            "augment": info.settings.get("augment"),
            "val accuracy %": pct(info.val_accuracy),
        }
        for info in infos
    ]
)
st.caption("Select rows to compare their curves (two or more) or to act on one run.")
# Every setting of every run: wider than a screen, so the numbers compared first come first and
# the rest scroll into view (the one table allowed to; see tests/test_browser.py).
event = st.container(key="wide_table").dataframe(
    table,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key="runs_table",
    column_config={
        "val accuracy %": st.column_config.NumberColumn(format="%.1f"),
        "test accuracy %": st.column_config.NumberColumn(format="%.1f"),
        "seconds": st.column_config.NumberColumn(format="%.1f"),
        "learning rate": st.column_config.NumberColumn(format="%g"),
    },
)
rows = event.selection.rows if event is not None else []
chosen = [infos[i] for i in rows]
damaged = [info for info in infos if info.status == DAMAGED]
if damaged:
    with st.expander(f"{len(damaged)} damaged run{'s' if len(damaged) > 1 else ''}: why", icon=":material/warning:"):
        for info in damaged:
            st.markdown(f"- {common.plain_markdown(info.message)}")
if sum(info.status == DAMAGED for info in chosen) and len(chosen) >= 2:
    st.warning("A damaged run cannot be compared; untick it.", icon=":material/warning:")
    chosen = [info for info in chosen if info.status != DAMAGED]

if len(chosen) >= 2:
    st.subheader("Compare")
    comparison = store.compare([info.id for info in chosen])
    figure_loss, figure_acc = go.Figure(), go.Figure()
    for info in chosen:
        c = curves(comparison["histories"][info.id])
        label = f"{info.created[11:19]} {info.architecture}"
        figure_loss.add_scatter(x=c.batch_x, y=c.batch_loss, mode="lines", name=f"{label} train")
        if any(v is not None for v in c.val_loss):
            figure_loss.add_scatter(x=c.epoch_x, y=c.val_loss, mode="lines+markers", name=f"{label} validation")
        figure_acc.add_scatter(x=c.epoch_x, y=[pct(v) for v in c.val_accuracy], mode="lines+markers", name=label)
    for figure, title, y in ((figure_loss, "Loss", "loss"), (figure_acc, "Validation accuracy", "%")):
        common.style_figure(figure, title, "epoch", y, height=380)
    a, b = st.columns(2)
    a.plotly_chart(figure_loss, key="cmp_loss")
    b.plotly_chart(figure_acc, key="cmp_acc")
    differences = comparison["differences"]
    if differences:
        st.markdown("**What differs between them**")
        first = chosen[0]
        for info in chosen[1:]:
            said = comparison["changes"].get(info.id) or ["the same network, settings and data"]
            st.markdown(f"- **{info.created[11:19]}** against {first.created[11:19]}: " + "; ".join(said))
        with st.expander("Every differing value"):
            st.dataframe(
                pd.DataFrame(differences).rename(index={i.id: i.created[11:19] for i in chosen}).T.astype(str),
                width="stretch",
            )
    else:
        st.caption("These runs used the same settings.")

if len(chosen) == 1:
    info = chosen[0]
    try:
        run = store.get(info.id)
    except CnnCoreError as error:
        common.error_box(error)
        st.stop()
    st.subheader(f"Run {info.id}")
    if info.message:
        st.caption(info.message)
    a, b, c, d = st.columns(4)
    if run.has_weights():
        a.download_button(
            "Download weights",
            lambda: run.weights_path.read_bytes(),  # read when clicked, not on every draw
            file_name=f"{info.id}.safetensors",
            icon=":material/download:",
            help="The trained weights as safetensors (loading it can never run code).",
        )
    b.download_button(
        "Download configuration",
        lambda: run.config_path.read_bytes(),
        file_name=f"{info.id}.json",
        icon=":material/download:",
        help="The network and settings as JSON: enough to repeat this run.",
    )
    if c.button(
        "Train again from this", icon=":material/replay:", help="Loads this network and these settings into Train."
    ):
        try:
            setup = run.setup()
        except CnnCoreError as error:
            common.error_box(error)
        else:
            state.use_settings(setup.settings, state.use_network(setup.architecture, setup.preset))
            st.switch_page(common.PAGES["train"])
    in_control = common.can_control(run.owner())
    if not in_control:
        st.caption(common.WATCH_ONLY)
    if info.status in ("interrupted", "stopped") and run.has_checkpoint() and in_control:
        try:
            data, missing = common.run_dataset(run.setup().dataset)
        except CnnCoreError as error:
            data, missing = None, str(error)
        if st.button(
            "Resume training",
            icon=":material/resume:",
            disabled=data is None,
            help=missing or "Continues from the last completed epoch, with the same settings, in the same run.",
        ):
            try:
                job = common.registry().start_resume(run, data, owner=common.owner())
            except CnnCoreError as error:
                common.error_box(error)
            else:
                state.follow_job(job.id)
                st.switch_page(common.PAGES["train"])
    with d:
        confirm = st.checkbox("Yes, delete it", key=f"confirm_{info.id}", disabled=not in_control)
        # Checked again here, not only by disabling: a crafted request could press a disabled button.
        if st.button("Delete run", icon=":material/delete:", disabled=not (confirm and in_control)) and in_control:
            try:
                store.delete(info.id)
            except CnnCoreError as error:
                common.error_box(error)
            else:
                st.rerun()
