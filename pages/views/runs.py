"""Runs, a lab notebook: every saved run by name, with its tags and colour; compare curves and what
differs; name, tag, download, delete, or train again from one."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cnn_core.curves import curves, smooth
from cnn_core.diagnosis import diagnose
from cnn_core.errors import CnnCoreError
from cnn_core.notebook import MAX_TAGS, NAME_CHARS, Notes
from cnn_core.runs import DAMAGED, RUNNING
from pages import common
from pages.common import advice, state

SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95)


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


colours = common.run_colours(infos)
tagged = sorted({tag for info in infos for tag in info.tags}, key=str.casefold)
if tagged:
    only = st.multiselect(
        "Only runs tagged",
        tagged,
        key="w_runs_tags",
        help="Show the runs with any of these tags.",
        # The table's ticks are row numbers: in a table of other rows they would tick other runs.
        on_change=lambda: st.session_state.pop("runs_table", None),
    )
    infos = [info for info in infos if not only or set(only) & set(info.tags)]

table = pd.DataFrame(
    [
        {
            "": "●",  # the run's colour on every chart
            "name": info.name,
            # The numbers people compare first, before the settings: in view without scrolling at 1024x768.
            "test accuracy %": pct(info.test_accuracy),
            "seconds": info.train_seconds,
            "status": info.status,
            "tags": ", ".join(info.tags),
            "data set": info.dataset,
            "started": info.created[:16].replace("T", " "),
            "epochs": info.epochs_completed,
            "batch": info.settings.get("batch_size"),
            "learning rate": info.settings.get("learning_rate"),
            "optimizer": info.settings.get("optimizer"),
            "augment": info.settings.get("augment"),
            "val accuracy %": pct(info.val_accuracy),
            "parameters": info.parameters,
            "network": info.architecture,
        }
        for info in infos
    ]
)
row_of = {info.id: row for row, info in enumerate(infos)}
# The runs ticked are in the address (?compare=id,id), so a link opens the same comparison.
state.linked(
    "compare",
    "runs_table",
    parse=lambda text: {"selection": {"rows": [row_of[i] for i in text.split(",") if i in row_of], "columns": []}},
    to_text=lambda value: ",".join(infos[r].id for r in value["selection"]["rows"] if r < len(infos)) or None,
)
st.caption("Tick rows to compare their curves (two or more), or one to name, tag, download or delete it.")
# Every setting of every run: wider than a screen, so the numbers compared first come first and
# the rest scroll into view (the one table allowed to; see tests/test_browser.py).
event = st.container(key="wide_table").dataframe(
    table.style.apply(lambda _: [f"color: {colours[info.id]}" for info in infos], subset=[""]),
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key="runs_table",
    column_config={
        "": st.column_config.TextColumn(width=28),
        "name": st.column_config.TextColumn(width="large"),
        "val accuracy %": st.column_config.NumberColumn(format="%.1f"),
        "test accuracy %": st.column_config.NumberColumn(format="%.1f"),
        "seconds": st.column_config.NumberColumn(format="%.1f"),
        "learning rate": st.column_config.NumberColumn(format="%g"),
    },
)
rows = event.selection.rows if event is not None else []
chosen = [infos[i] for i in rows if i < len(infos)]
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
    names = common.distinct({info.id: info.name for info in chosen})
    state.linked("smooth", "w_runs_smooth", parse=float, allowed=SMOOTHING_STEPS)
    weight = st.select_slider(
        "Smoothing",
        SMOOTHING_STEPS,
        value=0.6,
        key="w_runs_smooth",
        help="Averages each training-loss point with the ones before it, so the trend shows through the "
        "noise of single batches (the faint line is the loss as measured). 0 draws it as it is.",
    )
    figure_loss, figure_acc = go.Figure(), go.Figure()
    for info in chosen:
        c = curves(comparison["histories"][info.id])
        name, colour = html.escape(names[info.id]), colours[info.id]  # a name is the user's text

        def read_out(what: str, name: str = name) -> str:
            return f"<b>{name}</b><br>{what} %{{y:.3f}} at epoch %{{x:.2f}}<extra></extra>"

        if weight:  # the measured loss, faint, under its smoothed line
            figure_loss.add_scatter(
                x=c.batch_x, y=c.batch_loss, mode="lines", line={"color": colour, "width": 1},
                opacity=0.3, legendgroup=info.id, showlegend=False, hoverinfo="skip",
            )  # fmt: skip
        figure_loss.add_scatter(
            x=c.batch_x, y=smooth(c.batch_loss, weight), mode="lines", name=name, legendgroup=info.id,
            line={"color": colour, "width": 2.5}, hovertemplate=read_out("training loss"),
        )  # fmt: skip
        if any(v is not None for v in c.val_loss):
            figure_loss.add_scatter(
                x=c.epoch_x, y=c.val_loss, mode="lines+markers", name=f"{name} (validation)", legendgroup=info.id,
                line={"color": colour, "width": 2, "dash": "dot"}, showlegend=False,
                hovertemplate=read_out("validation loss"),
            )  # fmt: skip
        accuracy = c.val_accuracy if any(v is not None for v in c.val_accuracy) else c.train_accuracy
        figure_acc.add_scatter(
            x=c.epoch_x, y=[pct(v) for v in accuracy], mode="lines+markers", name=name,
            line={"color": colour, "width": 2.5}, hovertemplate=read_out("accuracy %"),
        )  # fmt: skip
    common.style_figure(figure_loss, "Loss (dotted: validation)", "epoch", "loss", height=380)
    common.style_figure(figure_acc, "Validation accuracy", "epoch", "%", height=380)
    a, b = st.columns(2)
    a.plotly_chart(figure_loss, key="cmp_loss")
    b.plotly_chart(figure_acc, key="cmp_acc")
    differences = comparison["differences"]
    if differences:
        st.markdown("**What differs between them**")
        first = chosen[0]
        for info in chosen[1:]:
            said = comparison["changes"].get(info.id) or ["the same network, settings and data"]
            st.markdown(f"- **{names[info.id]}** against {names[first.id]}: " + "; ".join(said))
        with st.expander("Every differing value"):
            st.dataframe(
                pd.DataFrame(differences).rename(index=names).T.astype(str),
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
    st.subheader(info.name)
    st.caption(f"Run {info.id}" + (f": {info.message}" if info.message else ""))
    in_control = common.can_control(run.owner())
    if info.status not in (RUNNING, DAMAGED):  # what its curves say, and one change to try
        try:
            setup = run.setup()
            found = diagnose(run.history(), setup.settings, len(setup.dataset.classes))
        except CnnCoreError:
            pass  # a damaged file: the message above says so, and nothing is diagnosed
        else:
            advice.diagnoses(found, setup.architecture, setup.settings, setup.preset, info.id, f"runs_{info.id}")
    if in_control and info.status not in (RUNNING, DAMAGED):
        notes = run.notes()
        with st.form(f"notes_{info.id}", border=False):
            left, right = st.columns(2)
            name = left.text_input(
                "Name",
                value=notes.name,
                max_chars=NAME_CHARS,
                placeholder=run.made_name(),
                help="A name of your own for this run. Leave it empty for the one made from its network and settings.",
            )
            tags = right.multiselect(
                "Tags",
                sorted(set(tagged) | set(notes.tags), key=str.casefold),
                default=list(notes.tags),
                accept_new_options=True,
                max_selections=MAX_TAGS,
                help="Words to find runs by (type a new one and press Enter), such as demo or lr sweep.",
            )
            if st.form_submit_button("Save name and tags", icon=":material/edit:"):
                try:
                    run.set_notes(Notes(name, tuple(tags)))
                except CnnCoreError as error:
                    common.error_box(error)
                else:
                    st.rerun()
    a, b = st.columns(2)  # two by two: whole labels in a projector's width
    c, d = st.columns(2)
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
            advice.set_parent(info.id, "trained again")  # its curves under the new run's
            st.switch_page(common.PAGES["train"])
    if not in_control:
        st.caption(common.WATCH_ONLY)
    if info.status in ("interrupted", "stopped") and run.has_checkpoint() and in_control:
        try:
            data, missing = common.run_dataset(run.setup().dataset)
        except CnnCoreError as error:
            data, missing = None, str(error)
        if c.button(
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
