"""What a run's curves mean, drawn under them (cnn_core.diagnosis), each with one "Try this" that
opens Train with exactly that change; and the ghost of the run it came from, on the next run's
charts, with the change named."""

from __future__ import annotations

import streamlit as st

from cnn_core.architecture import Architecture
from cnn_core.curves import Curves, curves
from cnn_core.diagnosis import Diagnosis
from cnn_core.errors import CnnCoreError
from cnn_core.settings import TrainSettings

from . import state

PARENT = "ghost_parent"  # (run id, the change in words) for the next run started on Train
PARENTS = "ghost_parents"  # job id -> (run id, the change in words): what each run was compared with


def diagnoses(found: list[Diagnosis], architecture: Architecture, settings: TrainSettings, preset: str | None,
              parent: str | None, key: str, offer: bool = True) -> None:  # fmt: skip
    """Each diagnosis with its evidence; with `offer`, a Try this button that loads the run's network
    and settings with the one change into Train, remembering `parent` for its ghost curves."""
    from . import PAGES

    for i, d in enumerate(found):
        box = st.container(border=True)
        box.markdown(f"**{d.title}.** {d.evidence[:1].upper()}{d.evidence[1:]}.")
        box.caption(f"What to try: {d.advice}.")
        only = "Opens Train with this run's network and settings, and only this changed."
        # Through a callback: it runs before the page is drawn again, so it may set Train's
        # widgets even on Train itself, where they are already drawn in this run.
        change = (d, architecture, settings, preset, parent)
        if offer and box.button(f"Try this: {d.change.words()}", key=f"{key}_try_{i}", icon=":material/science:",
                                help=only, on_click=_try, args=change):  # fmt: skip
            st.switch_page(PAGES["train"])


def _try(d: Diagnosis, architecture: Architecture, settings: TrainSettings, preset: str | None, parent: str | None):
    new_architecture, new_settings = d.change.apply(architecture, settings)
    state.use_settings(new_settings, state.use_network(new_architecture, preset))
    set_parent(parent, d.change.words())


def set_parent(parent: str | None, change: str) -> None:
    """The next run started on Train is drawn over `parent`'s curves (Train again, Try this)."""
    st.session_state[PARENT] = (parent, change) if parent else None


def adopt_parent(job_id: str) -> None:
    """A run was just started: it is compared with the parent chosen before, if any (once)."""
    parent = st.session_state.pop(PARENT, None)
    if parent:
        st.session_state.setdefault(PARENTS, {})[job_id] = parent


GHOSTS = "ghost_curves"  # run id -> its curves: an ended run's history, read once, not on every redraw


def ghost(job_id: str | None) -> tuple[Curves | None, str, str]:
    """The curves of the run job `job_id` was started from (None if none), and the loss and accuracy
    charts' titles, which name the change ("Loss · learning rate 0.01 -> 0.001")."""
    from . import store

    parent = st.session_state.get(PARENTS, {}).get(job_id)
    if not parent:
        return None, "Loss", "Accuracy"
    run_id, change = parent
    kept = st.session_state.setdefault(GHOSTS, {})
    if run_id not in kept:
        try:
            kept[run_id] = curves(store().get(run_id).history())
        except CnnCoreError:  # the parent was deleted or damaged: no ghost, nothing else lost
            kept[run_id] = None
    return kept[run_id], f"Loss · {change}", f"Accuracy · {change}"
