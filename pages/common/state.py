"""The browser tab's choices that more than one page reads or writes, each behind a named helper.

Streamlit keeps them in st.session_state under the keys below; no page spells those keys itself.
A widget's own value lives under `widget_key(name)` ("w_" + name), which `keep_widget_values` in
pages/common keeps alive while its page is not shown.

    dataset        the data set Train uses (a catalog key, a path, or "imported:<key>")
    architecture   the network Train uses; preset: which preset it is, or "custom"
    job            the training job this tab follows (also in the address as ?job=)
    run            the run every page shows (the sidebar's picker)
"""

from __future__ import annotations

import streamlit as st

from cnn_core.architecture import Architecture
from cnn_core.presets import PRESETS, preset_for
from cnn_core.settings import TrainSettings

DATASET, DATASET_NEXT = "dataset", "dataset_next"
ARCHITECTURE, PRESET = "architecture", "preset"
JOB = "job_id"
RUN, RUN_NEXT = "run_id", "run_id_next"
CUSTOM = "custom"
WIDGET_PREFIX = "w_"


def widget_key(name: str) -> str:
    """The session key of the widget for setting (or choice) `name`."""
    return WIDGET_PREFIX + name


# --- data set -----------------------------------------------------------------------------------------
def dataset_name() -> str:
    return st.session_state.setdefault(DATASET, "sample")


def choose_dataset(name: str, *, picker_too: bool = False) -> None:
    """Use data set `name`. picker_too: also show it in Train's data set picker, from the next
    script run on (a drawn widget's value cannot change in the run that drew it)."""
    st.session_state[DATASET] = name
    if picker_too:
        st.session_state[DATASET_NEXT] = name


def take_next_dataset() -> str | None:
    """The data set chosen for the picker since it was last drawn, once."""
    return st.session_state.pop(DATASET_NEXT, None)


# --- network --------------------------------------------------------------------------------------------
def architecture() -> Architecture:
    """The network Train will use: a preset's, or the one edited on the Architecture page."""
    return st.session_state.setdefault(ARCHITECTURE, PRESETS["tutorial"].architecture)


def preset() -> str | None:
    """The preset the network is (a key of PRESETS), "custom", or None before any choice."""
    return st.session_state.get(PRESET)


def use_network(network: Architecture, named: str | None = None) -> str:
    """Use `network` on Train. It counts as preset `named` (an old name is read as today's), or as
    whichever preset has exactly its layers, or else as "custom". Returns that name."""
    named = preset_for(network, named) or CUSTOM
    st.session_state[ARCHITECTURE] = PRESETS[named].architecture if named in PRESETS else network
    st.session_state[PRESET] = named
    return named


def use_settings(settings: TrainSettings, preset_name: str | None = None) -> None:
    """Put `settings` into Train's widgets (and its preset picker, when given)."""
    if preset_name is not None:
        st.session_state[widget_key("preset")] = preset_name
    for field, value in settings.to_dict().items():
        st.session_state[widget_key(field)] = value


def settings_from_widgets() -> TrainSettings:
    """The settings the Train page's widgets hold (ConfigError names a bad one)."""
    return TrainSettings(**{f: st.session_state[widget_key(f)] for f in TrainSettings.field_names()})


# --- the job this tab follows ------------------------------------------------------------------------------
def followed_job_id() -> str | None:
    """The session's job, or the one in the address after a reload."""
    return st.session_state.get(JOB) or st.query_params.get("job")


def follow_job(job_id: str) -> None:
    """Follow this job from now on, in the session and in the address (so a reload finds it)."""
    st.session_state[JOB] = job_id
    if st.query_params.get("job") != job_id:
        st.query_params["job"] = job_id


def forget_lost_job() -> None:
    """The address names a job this server does not have (it restarted): drop it."""
    st.session_state.pop(JOB, None)
    if "job" in st.query_params:
        del st.query_params["job"]


# --- the run every page shows --------------------------------------------------------------------------------
def show_run(run_id: str) -> None:
    """Make `run_id` the run every page shows, from the next script run on (the sidebar's picker
    may already be drawn in this one, and a drawn widget's value cannot change)."""
    st.session_state[RUN_NEXT] = run_id


def shown_run_id(ids: list[str]) -> str | None:
    """The run every page shows, among `ids` (newest first): the one picked, else the newest."""
    if RUN_NEXT in st.session_state:
        st.session_state[RUN] = st.session_state.pop(RUN_NEXT)
    chosen = st.session_state.get(RUN)
    if chosen not in ids:
        chosen = ids[0] if ids else None
        st.session_state[RUN] = chosen
    return chosen


# --- the address: a link reproduces the view ----------------------------------------------------------------
# The choices a page keeps in its address (?name=value), each bound to its widget's key: a reload or
# a shared link opens the same view. `control` (a shared server's control token) is never in a link.
SHARED_LINK_SKIPS = ("control",)


def linked(param: str, key: str, parse=str, allowed=None, to_text=str) -> None:
    """Bind widget `key` to `?param=` in the address: on arrival the widget takes the address's
    value (when it parses and, with `allowed`, is one of them); from then on the address follows
    the widget, written by `to_text` (None: left out). Call before the widget is drawn;
    `keep_linked` after."""
    st.session_state.setdefault(_LINKS, {})[param] = (key, to_text)
    if param in st.query_params and not st.session_state.get(f"_linked_{param}"):
        try:
            value = parse(st.query_params[param])
        except (TypeError, ValueError):
            value = None
        if value is not None and (allowed is None or value in allowed):
            st.session_state[key] = value
    st.session_state[f"_linked_{param}"] = True


def keep_linked() -> None:
    """Write the bound widgets' current values into the address (after they are drawn)."""
    for param, (key, to_text) in st.session_state.pop(_LINKS, {}).items():
        value = st.session_state.get(key)
        text = None if value is None else to_text(value)
        if text is None:
            if param in st.query_params:
                del st.query_params[param]
        elif st.query_params.get(param) != text:
            st.query_params[param] = text


_LINKS = "_links"  # the session's bindings of this script run (see linked): a page binds its own each run


def shareable_link(base: str) -> str:
    """This view's address, for someone else: its choices, without a control token."""
    from urllib.parse import urlencode, urlsplit

    params = {k: v for k, v in st.query_params.to_dict().items() if k not in SHARED_LINK_SKIPS}
    page = urlsplit(base)._replace(query="", fragment="").geturl()
    return page + ("?" + urlencode(params) if params else "")
