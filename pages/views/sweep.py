"""Sweep: try many settings at once. Pick one to four to vary, a strategy and a number of trials;
each trial trains as an ordinary run (tagged with the sweep's name) while a table and a
parallel-coordinates chart fill in; then what mattered, and the best one trained for longer.
The work is cnn_core.sweeps (Optuna) in a process of the job registry; this page draws."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from cnn_core import sweeps
from cnn_core.errors import CnnCoreError
from cnn_core.presets import PRESETS, preset_for
from cnn_core.settings import CHOICE, FLAG, INT, TrainSettings
from pages import common
from pages.common import state

REFRESH_SECONDS = 3.0  # the table and chart while trials run: each redraw costs the run a little
# What a range starts as when a setting is picked: wide enough to show a difference on the sample.
START = {
    "learning_rate": (1e-4, 0.1),
    "epochs": (2, 8),
    "weight_decay": (1e-5, 1e-2),
    "label_smoothing": (0.0, 0.2),
    "dropout": (0.0, 0.5),
    "conv_width": (0.5, 2.0),
}
LIST_START = {"batch_size": [32, 64, 128]}
st.title("Sweep")
st.caption(
    "Try many settings at once: each trial trains a run with its own values, hopeless ones are stopped early, "
    "and at the end you see which setting mattered. Optuna picks the values."
)
registry, store = common.registry(), common.store()
storage = sweeps.default_storage(store.root)


def train_settings() -> TrainSettings:
    """What Train holds now (its widgets), or the tutorial's settings before Train was opened."""
    try:
        return state.settings_from_widgets()
    except KeyError:
        return PRESETS["tutorial"].settings
    except CnnCoreError as error:  # a value Train would refuse too: say which, and where to change it
        common.error_box(error)
        st.caption("Change it on the Train page: every trial starts from Train's settings.")
        st.stop()


def vary_widgets(name: str) -> sweeps.Vary | None:
    """The range or list for one varied setting, in its own box; None while it is incomplete."""
    s = sweeps.SWEEPABLE[name]
    box = st.container(border=True)
    box.markdown(f"**{s.label}**")
    key = f"w_sweep_{name}"
    if s.kind in (CHOICE, FLAG) or name in LIST_START:
        if s.kind == FLAG:
            options, show = [True, False], {True: "on", False: "off"}.get
        elif s.kind == CHOICE:
            options, show = list(s.choices), lambda v: s.names.get(v, v)
        else:
            options, show = list(s.steps), lambda v: f"{v:,}"
        st.session_state.setdefault(key, LIST_START.get(name, options))
        values = box.multiselect("Values to try", options, key=key, format_func=show, help=s.help)
        if not values:
            box.caption("Pick at least one value to try.")
            return None
        return sweeps.Vary(name, "list", values=tuple(values))
    low, high = START[name]
    a, b = box.columns(2)
    number = dict(format="%d" if s.kind == INT else "%g", step=1 if s.kind == INT else None)
    cast = int if s.kind == INT else float
    top = None if math.isinf(s.high) else cast(s.high if s.high_inclusive else s.high - 1e-3)
    st.session_state.setdefault(f"{key}_low", cast(low))
    st.session_state.setdefault(f"{key}_high", cast(high))
    st.session_state.setdefault(f"{key}_log", s.sweep == "log")
    lo = a.number_input("From", cast(s.low), top, key=f"{key}_low", **number)
    hi = b.number_input("To", cast(s.low), top, key=f"{key}_high", **number)
    log = box.toggle("Log scale (even steps in powers of ten)", key=f"{key}_log",
                     help="Tries as many values between 0.0001 and 0.001 as between 0.001 and 0.01.")  # fmt: skip
    try:
        return sweeps.Vary(name, "log" if log else "linear", lo, hi)
    except CnnCoreError as error:
        box.caption(f"{error.message[:1].upper()}{error.message[1:]}.")
        return None


def start_sweep(plan: sweeps.SweepPlan) -> None:
    base = sweeps.Base(state.architecture(), train_settings(), state.dataset_name(), state.preset())
    name = sweeps.new_name()
    sweeps.Sweep.open(storage, name, plan, base)
    job = registry.start_sweep(name, storage, store.root, owner=common.owner())
    st.session_state["sweep_job"] = job.id
    st.session_state["w_sweep_shown"] = name


names = sweeps.sweep_names(storage)
# The setup folds away once there are sweeps to show: the trials then have the page's width, so
# that their table and charts read at 1024x768.
setup = st.expander("A new sweep: what to vary, and how", expanded=not names, icon=":material/tune:")
vary_column, search_column = setup.columns(2, gap="large")
with vary_column:
    st.subheader("1. What to vary")
    labels = {name: s.label for name, s in sweeps.SWEEPABLE.items()}
    for key, value in (("w_sweep_vary", ["learning_rate", "batch_size"]), ("w_sweep_strategy", "tpe"),
                       ("w_sweep_trials", 12), ("w_sweep_minutes", 0), ("w_sweep_prune", True)):  # fmt: skip
        st.session_state.setdefault(key, value)
    varied = st.multiselect(
        "Settings",
        list(labels),
        key="w_sweep_vary",
        format_func=labels.get,
        max_selections=sweeps.MAX_VARIED,
        help="Up to four. The others stay as they are on the Train page.",
    )
    ranges = [vary_widgets(name) for name in varied]
with search_column:
    st.subheader("2. How to search")
    strategy = st.radio(
        "Strategy",
        list(sweeps.STRATEGIES),
        format_func=sweeps.STRATEGIES.get,
        key="w_sweep_strategy",
        help="Grid tries every combination (four values from each range); random picks values at random; TPE "
        "starts at random, then tries more values near the best ones so far.",
    )
    a, b = st.columns(2)
    trials = a.number_input("Trials", 1, 100, key="w_sweep_trials", help="How many runs to train.")
    minutes = b.number_input("Time limit (minutes)", 0, 24 * 60, key="w_sweep_minutes",
                             help="No new trial starts after this long (0: no limit).")  # fmt: skip
    prune = st.toggle("Stop hopeless trials early", key="w_sweep_prune",
                      help="After each epoch, a trial worse than the median of the others at that epoch stops "
                      "(from the fifth trial on).")  # fmt: skip
    settings = train_settings()
    named = preset_for(state.architecture(), state.preset())
    network = PRESETS[named].title if named in PRESETS else "your own network (from Architecture)"
    st.caption(
        f"Every trial starts from the Train page: {network}, "
        f"{settings.epochs} epochs, {settings.train_samples:,} training images, on "
        f"{common.dataset_title(state.dataset_name())}."
    )
    plan = None
    if varied and all(ranges):
        try:
            plan = sweeps.SweepPlan(tuple(ranges), strategy, trials, minutes * 60 or None, prune)
        except CnnCoreError as error:
            common.error_box(error)
    running = [j for j in registry.jobs("sweep") if j.running]
    if plan is not None and plan.strategy == "grid" and plan.grid_size > plan.trial_count:
        st.caption(f"The grid has {plan.grid_size} combinations: {plan.trial_count} of them, picked at random.")
    if st.button(
        "Start the sweep",
        type="primary",
        icon=":material/play_arrow:",
        disabled=plan is None or bool(running) or not varied,
        help="One sweep at a time: its trials train one after another." if running else None,
    ):
        try:
            start_sweep(plan)
        except CnnCoreError as error:
            common.error_box(error)
        else:
            st.rerun()  # the page again: Start disabled, the new sweep shown

if not names:
    st.info("Pick what to vary and press **Start the sweep**: its trials appear below as they finish.",
            icon=":material/tune:")  # fmt: skip
    st.stop()
st.subheader("Trials")
state.linked("sweep", "w_sweep_shown", allowed=names)
if st.session_state.get("w_sweep_shown") not in names:
    st.session_state["w_sweep_shown"] = names[0]
shown = st.selectbox("Sweep shown", names, key="w_sweep_shown", help="Every sweep made here, newest first.")


def trial_table(summary: sweeps.Summary) -> None:
    rows = []
    for t in summary.trials:
        rows.append(
            {
                "trial": t.number,
                "values": sweeps.describe_params(t.params),
                "validation loss": t.val_loss,
                "validation accuracy %": None if t.val_accuracy is None else 100 * t.val_accuracy,
                "state": t.outcome,
                "seconds": t.seconds,
            }
        )
    table = pd.DataFrame(rows)
    best = summary.best.number if summary.best else None
    styled = table.style.apply(
        lambda row: ["background-color: rgba(43, 138, 62, 0.18)" if row["trial"] == best else "" for _ in row], axis=1
    ).format({"validation loss": "{:.3f}", "validation accuracy %": "{:.1f}", "seconds": "{:.1f}"}, na_rep="-")
    st.dataframe(styled, hide_index=True, width="stretch")
    ended = [t for t in summary.trials if t.state in ("pruned", "failed")]
    if ended:
        with st.expander(f"Why {len(ended)} trial{'s' if len(ended) > 1 else ''} ended early"):
            st.caption(
                "After each epoch, Optuna's median pruner compares a trial's validation loss with the other "
                "trials' at the same epoch, from the fifth trial on: one worse than the median stops, and its "
                "time goes to the next trial."
            )
            for t in ended:
                st.markdown(f"- Trial {t.number} ({sweeps.describe_params(t.params)}): {t.message}")


@st.cache_resource(max_entries=8, show_spinner=False)
def open_sweep(storage: str, name: str) -> sweeps.Sweep:
    """One study object per sweep for the server: opening the storage again on every redraw (every
    few seconds while it trains) would check its tables each time."""
    return sweeps.Sweep.open(storage, name)


def draw_sweep(name: str) -> None:
    try:
        sweep = open_sweep(storage, name)
        summary = sweep.summary()
    except CnnCoreError as error:
        common.error_box(error)
        return
    job = next((j for j in registry.jobs("sweep") if j.title == name), None)
    live = job is not None and job.running
    finished, early = summary.finished, summary.stopped_early
    st.markdown(
        f"**{'Training' if live else 'Done:' if finished >= summary.planned else 'Stopped:'}** "
        f"{finished} of {summary.planned} trials finished" + (f", {early} stopped early" if early else "")
    )
    varied = "; ".join(v.describe() for v in sweep.plan.vary)
    st.caption(f"Varied: {varied} · {sweeps.STRATEGIES[sweep.plan.strategy]}")
    if live:
        st.progress(min(1.0, finished / summary.planned))
        if common.can_control(job.owner):
            st.button("Stop the sweep", icon=":material/stop:", on_click=job.stop,
                      help="Stops the trial in progress; the sweep can be continued later.")  # fmt: skip
    elif job is not None and job.error:
        st.error(f"The sweep stopped: {job.error}", icon=":material/error:")
    if not summary.trials:
        st.caption("The first trial is training...")
        return
    trial_table(summary)
    if summary.best is not None:
        b = summary.best
        acc = f", {100 * b.val_accuracy:.1f}% right on the validation images" if b.val_accuracy is not None else ""
        st.success(f"Best so far: trial {b.number} ({sweeps.describe_params(b.params)}): validation loss "
                   f"{b.val_loss:.3f}{acc}.", icon=":material/star:")  # fmt: skip
    import optuna.visualization as vis  # Optuna's own figures (it imports Plotly)

    names_of = {n: s.label for n, s in sweeps.SWEEPABLE.items()} | {"Objective Value": "validation loss"}
    complete = [t for t in summary.trials if t.state == "complete"]
    if complete:
        if len(sweep.plan.vary) == 1:  # one setting: each trial a dot, the loss against its value
            figure = vis.plot_slice(sweep.study)
            figure.update_xaxes(title_text=names_of[sweep.plan.vary[0].name])
            figure.update_yaxes(title_text="validation loss")
            figure.update_layout(title="Each dot a trial (lower is better)")
        else:
            figure = vis.plot_parallel_coordinate(sweep.study)  # axes are x ticks, lines are traces
            figure.update_xaxes(ticktext=[names_of.get(t, t) for t in figure.layout.xaxis.ticktext or ()])
            figure.update_traces(marker_colorbar_title_text="loss", selector=dict(mode="markers"))
            figure.update_layout(title="Each line a trial (darker: lower loss)")
        figure.update_layout(height=360, margin=dict(l=60, r=40, t=60, b=40), font_size=14)
        st.plotly_chart(figure, key=f"parallel_{name}")
    st.markdown("**What mattered**")
    st.write(summary.sentence)
    if summary.importances:
        figure = vis.plot_param_importances(sweep.study, params=list(summary.importances))
        figure.update_yaxes(ticktext=[names_of[n] for n in figure.data[0].y], tickvals=list(figure.data[0].y))
        figure.update_layout(
            title="Share of the difference each setting made",
            height=120 + 40 * len(summary.importances),
            margin=dict(l=140, r=40, t=50, b=40),
            xaxis_title="importance (Optuna's PED-ANOVA)",
            yaxis_title="",
            font_size=14,
        )
        st.plotly_chart(figure, key=f"importances_{name}")
    if live:
        return
    a, b, c = st.columns(3)
    longer = "Opens Train with the best trial's network and settings, and twice the epochs."
    if summary.best is not None and a.button("Train the best for longer", icon=":material/fast_forward:", help=longer):
        architecture, settings = sweep.best_for_longer()
        state.use_settings(settings, state.use_network(architecture, sweep.base.preset))
        st.switch_page(common.PAGES["train"])
    if b.button("Its runs", icon=":material/compare_arrows:", help="The Runs page, showing only this sweep's runs."):
        st.session_state["w_runs_tags"] = [name]
        st.session_state.pop("runs_table", None)
        st.switch_page(common.PAGES["runs"])
    if finished < summary.planned and not any(j.running for j in registry.jobs("sweep")):
        if c.button("Continue it", icon=":material/resume:", help="Trains the trials it has not finished."):
            st.session_state["sweep_job"] = registry.start_sweep(name, storage, store.root, owner=common.owner()).id
            st.rerun()


job = next((j for j in registry.jobs("sweep") if j.title == shown), None)
every = REFRESH_SECONDS if job is not None and job.running else None


@st.fragment(run_every=every)
def refresh() -> None:
    draw_sweep(shown)
    now = next((j for j in registry.jobs("sweep") if j.title == shown), None)
    if every is not None and (now is None or not now.running):
        st.rerun()  # it has ended: the whole page again, with what mattered and the buttons


refresh()
