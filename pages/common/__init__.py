"""What every page shares (the page scripts are in pages/views/): the server-wide job registry and
caches, the session's choices (data set, network, selected run), the sidebar, and the charts.

State that must outlive a rerun lives in two places only: per server, in st.cache_resource
(the job registry, loaded data sets, loaded models); per browser tab, in st.session_state, with
the running job's id also in the URL so a reloaded tab finds it again.
"""

from __future__ import annotations

import io
import re
import secrets
import threading
from pathlib import Path

import plotly.colors
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image

from cnn_core.curves import Curves
from cnn_core.data import Dataset
from cnn_core.datasets import DESCRIPTIONS, IMPORTED, data_dir, find_import, is_ready, load_dataset
from cnn_core.errors import CnnCoreError
from cnn_core.image_import import decode_image
from cnn_core.jobs import JobRegistry
from cnn_core.runs import RunStore, TrainedOn, control_hash, default_root

from . import present, state
from .svg_chart import MARK_COLOUR, Mark, Series, line_chart, picture_strip

# The page scripts live in pages/views/. Streamlit treats any *.py directly in pages/ as an
# old-style page and runs it without app.py on a server's first visit by a deep link; the files
# there (pages/train.py, ...) only hand such a visit to app.py (see run_app).
PAGES = {
    "home": "pages/views/home.py",
    "train": "pages/views/train.py",
    "architecture": "pages/views/architecture.py",
    "inside": "pages/views/inside.py",
    "metrics": "pages/views/metrics.py",
    "runs": "pages/views/runs.py",
    "sweep": "pages/views/sweep.py",
    "convolution": "pages/views/convolution.py",
}
COLOURS = {"train": "#1f77b4", "batch": "#a5c8e4", "val": "#d9480f", "test": "#2b8a3e"}
RUN_COLOURS = plotly.colors.qualitative.D3  # ten colours told apart on a projector


def run_colours(infos) -> dict[str, str]:
    """Each run's one colour, on every chart and in the runs table: by the order the runs were
    made, so a run keeps its colour as newer ones come (ten colours, then they repeat)."""
    oldest_first = sorted(infos, key=lambda info: (info.created, info.id))
    return {info.id: RUN_COLOURS[i % len(RUN_COLOURS)] for i, info in enumerate(oldest_first)}


def run_app() -> None:
    """Run app.py in this script run: it sets up navigation and shows the page the URL asked for."""
    import runpy

    runpy.run_path(str(Path(__file__).resolve().parents[2] / "app.py"), run_name="__main__")


# --- server-wide state --------------------------------------------------------------------------
@st.cache_resource
def registry() -> JobRegistry:
    """One job registry per server: training runs and downloads live here, not in a session.
    Each training run gets a process of its own (see cnn_core.jobs for why)."""
    return JobRegistry(processes=True)


def store() -> RunStore:
    return RunStore(default_root())


@st.cache_resource(max_entries=4, show_spinner="Loading the data set...")
def _dataset(name: str, folder: str) -> Dataset:
    return load_dataset(name, folder=folder, allow_download=False)


def dataset_ready(name: str) -> bool:
    return is_ready(name, data_dir())


def forget_dataset() -> None:
    """Drop the loaded data sets, after an import is removed."""
    _dataset.clear()


def run_dataset(trained_on: TrainedOn) -> tuple[Dataset | None, str]:
    """The data a run was trained on, exactly (an import by its content's hash), or None and a
    sentence saying why it cannot be shown."""
    if dataset_ready(trained_on.source):
        return get_dataset(trained_on.source), ""
    if trained_on.source.startswith(IMPORTED):
        return None, (
            f"The pictures this run was trained on ({trained_on.origin}) are no longer "
            "in the data folder: import that archive again on Train to see them here."
        )
    return None, f"The data set '{trained_on.name}' is not downloaded here; download it on Train."


def get_dataset(name: str) -> Dataset:
    """A ready data set (bundled, cached, or imported), shared by every session of this server."""
    return _dataset(name, str(data_dir()))


@st.cache_resource(max_entries=8, show_spinner="Loading the trained network...")
def _model(run_path: str, weights_mtime: float):
    from cnn_core.runs import Run

    return Run(run_path).load_model()


def get_model(run_id: str):
    run = store().get(run_id)
    return _model(str(run.path), run.weights_stamp())


@st.cache_resource(max_entries=8)
def _model_lock(run_path: str, weights_mtime: float) -> threading.Lock:
    return threading.Lock()


def model_lock(run_id: str) -> threading.Lock:
    """Held while a page runs the shared model: attribution and the worked sum hang hooks on its
    layers, which would catch another tab's forward pass running at the same moment."""
    run = store().get(run_id)
    return _model_lock(str(run.path), run.weights_stamp())


# --- who may control a run ------------------------------------------------------------------------
LOCAL_ADDRESSES = ("", "localhost", "127.0.0.1", "::1")


def shared() -> bool:
    """True when the server listens beyond this machine (`--server.address 0.0.0.0`)."""
    return str(st.get_option("server.address") or "") not in LOCAL_ADDRESSES


def control_token() -> str:
    """This tab's control token: kept in its address (`?control=`), so a reload keeps control and
    the link can be handed on; made on the first visit. Only used on a shared server."""
    token = st.query_params.get("control") or st.session_state.get("control")
    if not token:
        token = secrets.token_urlsafe(16)
    st.session_state["control"] = token
    if st.query_params.get("control") != token:
        st.query_params["control"] = token
    return token


def owner() -> str | None:
    """What a run started from this tab records as its owner: None on a local server (no owners)."""
    return control_hash(control_token()) if shared() else None


def can_control(run_owner: str | None) -> bool:
    """Whether this tab may stop, pause, resume or delete a run. On a local server: always. On a
    shared one: only the tab holding the control token of the tab that started it."""
    return not shared() or (run_owner is not None and run_owner == control_hash(control_token()))


WATCH_ONLY = (
    "This run was started in another browser: you can watch it here, but only the tab that started it "
    "(or whoever has its control link) can stop, resume or delete it."
)


# --- the session's choices (pages/common/state.py) ----------------------------------------------------------
def selected_run_id() -> str | None:
    """The run every page shows, picked in the sidebar; the newest run until the user picks."""
    return state.shown_run_id([info.id for info in store().list()])


def keep_widget_values(prefix: str = state.WIDGET_PREFIX) -> None:
    """Streamlit forgets a widget's value when its page is not shown; re-storing the values under
    their own keys each run keeps every page's settings while the user looks at other pages.
    Only widgets whose value may be set get the prefix (not uploaders, editors or buttons)."""
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(prefix):
            st.session_state[key] = st.session_state[key]


CLICK_WAIT = 1.0  # seconds Pause or Resume waits for the run, so the button redrawn after it is the new one
# Each redraw costs the browser ~40 ms whatever it holds, taken from the run on a 2-core machine
# (docs/benchmarks.md): the indicator's epoch changes slowly, so it is redrawn seldom.
INDICATOR_SECONDS = 5.0


def training_indicator() -> None:
    """On every page, while this tab's run trains: how far it is, with Pause/Resume and Stop; and
    the run stays in the address (`?job=`), so a reload or a shared link finds it from any page."""
    job = registry().get(state.followed_job_id())
    if job is None or not job.running:
        return
    state.follow_job(job.id)

    @st.fragment(run_every=INDICATOR_SECONDS)
    def live() -> None:
        now = registry().get(job.id)
        if now is None or not now.running:
            st.caption("The run has ended: see it on Train.")
            return
        p, total = now.progress, now.plan.settings.epochs
        doing = "Paused" if now.paused else "Training"
        st.markdown(f"**{doing}:** epoch {p.get('epoch', 1)} of {p.get('epochs', total)}")
        st.progress(min(1.0, p.get("fraction", 0.0)))

    with st.sidebar:
        live()
        if can_control(job.owner):
            a, b = st.columns(2)
            if job.paused:
                a.button(
                    "Resume", key="side_resume", on_click=job.control, args=("resume", CLICK_WAIT), width="stretch"
                )
            else:
                a.button("Pause", key="side_pause", on_click=job.control, args=("pause", CLICK_WAIT), width="stretch")
            b.button("Stop", key="side_stop", on_click=job.stop, width="stretch")


# On a projector's 1024 px the sidebar's 336 px and the page's 5rem margins would take 45% of the
# screen from the page: both narrower there.
NARROW_SCREEN = """
@media (max-width: 1200px) {
  section[data-testid="stSidebar"][data-collapsed="false"] { width: 262px !important; min-width: 262px !important; }
  [data-testid="stMainBlockContainer"] { padding-left: 2rem; padding-right: 2rem; }
}
"""


def sidebar(page: str = "") -> None:
    """The sidebar of every page; `page` is the shown page's address ("train", "" for Welcome)."""
    st.html(f"<style>{NARROW_SCREEN}</style>")
    present.toggle()
    st.session_state[LINK_BOX] = st.sidebar.container()  # filled by link_box() once the page has run
    if page != "train":  # Train shows its run in full
        training_indicator()
    with st.sidebar:
        st.markdown(f"**Data set:** {dataset_title(state.dataset_name())}")
        runs = store().list()
        if not runs:
            st.caption("No training runs yet: start one on the Train page.")
            return
        labels = distinct({info.id: _run_label(info) for info in runs})
        state.linked("run", state.RUN, allowed=labels)
        selected_run_id()
        st.selectbox(
            "Run shown on every page",
            list(labels),
            format_func=labels.get,
            key=state.RUN,
            help="Metrics, filters and feature maps are shown for this training run. The newest is picked "
            "until you choose another.",
        )
        try:
            shown = next(info for info in runs if info.id == st.session_state[state.RUN])  # its name, read once
            st.caption(f"{shown.name}, trained on {dataset_title(store().get(shown.id).dataset_source())}")
        except (CnnCoreError, OSError, ValueError, AttributeError, StopIteration):
            pass  # a damaged run says so on its page


LINK_BOX = "_link_box"


def link_box() -> None:
    """After the page has run: its choices into the address, and the address to copy, in the sidebar."""
    state.keep_linked()
    box = st.session_state.pop(LINK_BOX, None)
    if box is None:
        return
    with box.expander("Link to this view", icon=":material/link:"):
        st.caption("Opens this page with the same run, picture and choices (the copy button is at its right).")
        st.code(state.shareable_link(st.context.url or ""), language=None, wrap_lines=True)


def dataset_title(source: str) -> str:
    """A data set's name for people: the catalog's title, or an import's name and origin."""
    if source in DESCRIPTIONS:
        return DESCRIPTIONS[source][0]
    if source.startswith(IMPORTED):
        info = find_import(source, data_dir())
        return f"your images: {info.name} (from {info.origin})" if info else "your images (removed)"
    return Path(source).name


def _run_label(info) -> str:
    """When it started and how it did: short enough for the sidebar's picker at 1024x768 (its
    name and data set are said under it)."""
    acc = f"{100 * info.test_accuracy:.1f}%" if info.test_accuracy is not None else info.status
    return f"{info.created[5:16].replace('T', ' ')} · {acc}"


def distinct(labels: dict[str, str]) -> dict[str, str]:
    """The labels with any that repeat made different (by their key's end). A selectbox whose
    format_func gives two options one label folds them into one: the second could never be chosen."""
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {key: f"{label} · {key[-8:]}" if seen[label] > 1 else label for key, label in labels.items()}


IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]


def pick_image(dataset: Dataset | None, size: int, channels: int, prefix: str) -> torch.Tensor | None:
    """A test picture chosen by class and number, or an uploaded one at the network's input size.
    Widget keys start with `prefix`, so each page remembers its own choice."""
    options = ["From the data set", "Upload your own"] if dataset is not None else ["Upload your own"]
    how = st.radio(
        "Picture",
        options,
        horizontal=True,
        key=f"w_{prefix}_source",
        help=f"Pick a test picture by class, or upload any photo (it is shrunk to {size}x{size} pixels).",
    )
    if how == "Upload your own":
        upload = st.file_uploader("A picture", type=IMAGE_TYPES, key=f"upload_{prefix}")
        if upload is None:
            return None
        try:
            return decode_image(upload.getvalue(), size, channels=channels)
        except CnnCoreError as error:
            error_box(error)
            return None
    # One under the other: side by side, in a page's narrow picker column at 1024 px, a class
    # name was cut ("airpl").
    state.linked("class", f"w_{prefix}_class", allowed=dataset.classes)
    state.linked("picture", f"w_{prefix}_index", parse=int)
    cls = st.selectbox("Class", dataset.classes, key=f"w_{prefix}_class", help="Which kind of picture to use.")
    picks = (dataset.test_labels == dataset.classes.index(cls)).nonzero().flatten()
    # The value comes from the session (kept across pages), not a default as well: Streamlit
    # warns about a widget given both. Another class may hold fewer pictures: clamp.
    key = f"w_{prefix}_index"
    st.session_state[key] = min(max(1, st.session_state.get(key, 1)), len(picks))
    n = st.number_input("Picture number", 1, len(picks), key=key, help="Browse the test pictures of that class.")
    return dataset.test_images[picks[n - 1]]


def error_box(error: Exception) -> None:
    """A user-fixable problem as a plain message; anything else as a short note (details in the log)."""
    if isinstance(error, CnnCoreError | ValueError):
        st.error(str(error), icon=":material/error:")
    else:
        st.error("Something went wrong here; the details are in the server log.", icon=":material/error:")


def plain_markdown(text: str) -> str:
    """`text` shown as itself in Markdown: a file name like `*_draft_*.png` is not emphasis."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text)


def to_image(tensor: torch.Tensor):
    """uint8 (C, H, W) or (H, W) -> an array st.image shows."""
    array = tensor.numpy() if tensor.dim() == 2 else tensor.permute(1, 2, 0).numpy()
    return array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array


def enlarge(tensor: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour enlargement, so 32x32 pixels stay crisp on a projector."""
    return tensor.repeat_interleave(factor, -1).repeat_interleave(factor, -2)


# --- charts ---------------------------------------------------------------------------------------
def style_figure(fig: go.Figure, title: str = "", x: str = "", y: str = "", height: int = 360) -> go.Figure:
    """The one look of every Plotly chart in the app: its font, margins, a legend below, a height."""
    fig.update_layout(
        title=title or None,
        xaxis_title=x,
        yaxis_title=y,
        height=height,
        font={"size": present.chart_font()},
        margin={"l": 10, "r": 10, "t": 50 if title else 20, "b": 10},
        legend={"orientation": "h", "y": -0.25},
        uirevision=title or None,  # keep zoom and layout between redraws instead of rebuilding them
    )
    return fig


def loss_series(c: Curves, ghost: Curves | None = None) -> list[Series]:
    """The loss curves of a run: what both the live and the interactive chart draw; with `ghost`,
    the run it was started from, faded, underneath."""
    few = len(c.step_x) <= 30  # a run that ended within a few batches (an explosion): each one a dot
    out = []
    if ghost is not None:
        out.append(Series("before: training", COLOURS["train"], ghost.batch_x, ghost.batch_loss, 2.5, ghost=True))
        if any(v is not None for v in ghost.val_loss):
            out.append(Series("before: validation", COLOURS["val"], ghost.epoch_x, ghost.val_loss, 2.5, ghost=True))
    out.append(Series("each batch", COLOURS["batch"], c.step_x, c.step_loss, 2.5 if few else 1.2, markers=few))
    out.append(Series("training loss (mean per 10%)", COLOURS["train"], c.batch_x, c.batch_loss, 2.5))
    if any(v is not None for v in c.val_loss):
        out.append(Series("validation loss", COLOURS["val"], c.epoch_x, c.val_loss, 3, markers=True))
    return out


def accuracy_series(c: Curves, ghost: Curves | None = None) -> list[Series]:
    """Training and validation accuracy (%) after each epoch; with `ghost`, the earlier run's, faded."""
    out = []
    if ghost is not None:
        values = ghost.val_accuracy if any(v is not None for v in ghost.val_accuracy) else ghost.train_accuracy
        out.append(Series("before", COLOURS["val"], ghost.epoch_x, [None if v is None else 100 * v for v in values],
                          2.5, ghost=True))  # fmt: skip
    for name, values, colour in (("training", c.train_accuracy, "train"), ("validation", c.val_accuracy, "val")):
        if name == "validation" and all(v is None for v in values):
            continue  # a run without a validation split
        out.append(Series(name, COLOURS[colour], c.epoch_x, [None if v is None else 100 * v for v in values], 3, True))
    return out


def explosion_marks(c: Curves) -> list[Mark]:
    """ "The loss exploded here", where it did."""
    if c.exploded is None:
        return []
    e = c.exploded
    value = "not a number" if e.loss is None else f"{e.loss:.3g}"
    return [Mark(e.x, e.loss, f"the loss exploded here (epoch {e.epoch}, batch {e.batch}: {value})")]


def _figure(series: list[Series], title: str, x: str, y: str, marks: list[Mark] = ()) -> go.Figure:
    fig = go.Figure()
    for s in series:
        fig.add_scatter(
            x=list(s.x),
            y=list(s.y),
            mode="lines+markers" if s.markers else "lines",
            name=s.name,
            line={"color": s.colour, "width": s.width, "dash": "dash" if s.ghost else "solid"},
            opacity=0.45 if s.ghost else 1.0,
            marker={"size": 9},
        )
    right = max((max(s.x) for s in series if len(s.x)), default=1.0)
    for mark in marks:
        # The label sits below and beside its point, on the side with room, so no edge cuts it.
        left_half = mark.x <= right / 2
        fig.add_annotation(
            x=mark.x,
            y=mark.y,
            text=mark.label.replace(" (", "<br>("),
            showarrow=True,
            arrowcolor=MARK_COLOUR,
            ax=30 if left_half else -30,
            ay=60,
            xanchor="left" if left_half else "right",
            align="left" if left_half else "right",
            font={"color": MARK_COLOUR},
        )
    return style_figure(fig, title, x, y)


def loss_figure(c: Curves, title: str = "Loss", ghost: Curves | None = None) -> go.Figure:
    limit = c.loss_limit()
    marks = [Mark(m.x, limit if m.y is None or m.y > limit else m.y, m.label) for m in explosion_marks(c)]
    fig = _figure(loss_series(c, ghost), title, "epoch", "cross-entropy loss", marks)
    if limit is not None:  # the losses before the explosion stay readable; the explosion goes off the top
        fig.update_yaxes(range=[0, limit])
    return fig


def accuracy_figure(c: Curves, title: str = "Accuracy", ghost: Curves | None = None) -> go.Figure:
    return _figure(accuracy_series(c, ghost), title, "epoch", "accuracy (%)").update_yaxes(range=[0, 100])


def time_to_accuracy_figure(entries, titles: dict[str, str], chosen: str | None = None) -> go.Figure:
    """The recorded test accuracy (with flips) after each epoch against minutes of training, a line
    per preset (expectations.Expected); the chosen one drawn thicker."""
    series = [
        Series(
            titles.get(e.preset, e.preset),
            RUN_COLOURS[i % len(RUN_COLOURS)],
            [seconds / 60 for _, seconds, _ in e.points],
            [100 * accuracy for _, _, accuracy in e.points],
            4.5 if e.preset == chosen else 2.5,
            markers=True,
        )
        for i, e in enumerate(entries)
    ]
    title = "Test accuracy against training time (recorded)"
    fig = _figure(series, title, "minutes of training", "test accuracy (%)").update_yaxes(range=[0, 100])
    return fig.update_layout(height=440, legend={"y": -0.3})  # four names under the axis title, not over it


# The charts of a run still training, as SVG pictures (see svg_chart): the x axis spans the whole
# run, so the curves fill it as the run goes. Drawn in few units, so the 17-unit labels come out
# large on the screen: >= 16 px in presenter mode's chart column at 1024x768 (~570 px wide),
# ~13 px in the normal live column at 1024x768, ~18 px at 1440x900.
LIVE_CHART_SIZE = {"width": 540, "height": 290}


def _span(epochs: int, ghost: Curves | None) -> float:
    """The epochs a live chart's x axis spans: the run's, or its parent's if that ran longer."""
    return max([epochs, *(ghost.epoch_x if ghost else [])])


def live_loss_chart(c: Curves, epochs: int, ghost: Curves | None = None, title: str = "Loss") -> str:
    limit = c.loss_limit()
    return line_chart(
        loss_series(c, ghost),
        title=title,
        x_title="epoch",
        y_title="cross-entropy loss",
        x_range=(0, _span(epochs, ghost)),
        y_range=(0, limit) if limit is not None else None,
        marks=explosion_marks(c),
        **LIVE_CHART_SIZE,
    )


def live_accuracy_chart(c: Curves, epochs: int, ghost: Curves | None = None, title: str = "Accuracy") -> str:
    return line_chart(
        accuracy_series(c, ghost),
        title=title,
        x_title="epoch",
        y_title="accuracy (%)",
        x_range=(0, _span(epochs, ghost)),
        y_range=(0, 100),
        **LIVE_CHART_SIZE,
    )


def guess_strip(dataset: Dataset, snapshot: dict) -> str:
    """The snapshot's fixed test pictures with the network's current guess and confidence."""
    pictures, captions, right = [], [], []
    for g in snapshot["strip"]:
        buffer = io.BytesIO()
        Image.fromarray(to_image(dataset.test_images[g["index"]])).save(buffer, format="PNG")
        pictures.append(buffer.getvalue())
        captions.append(f"{dataset.classes[g['guess']]}\n{100 * g['confidence']:.0f}%")
        right.append(g["guess"] == g["label"])
    return picture_strip(pictures, captions, right)


def probabilities_figure(probabilities: torch.Tensor, classes: tuple[str, ...], title: str = "What the network thinks"):
    order = probabilities.argsort(descending=False)
    fig = go.Figure(
        go.Bar(
            x=[100 * float(probabilities[i]) for i in order],
            y=[classes[i] for i in order],
            orientation="h",
            marker={"color": [COLOURS["val"] if i == int(probabilities.argmax()) else "#adb5bd" for i in order]},
            text=[f"{100 * float(probabilities[i]):.1f}%" for i in order],
            textposition="outside",
        )
    )
    fig.update_xaxes(range=[0, 110])
    return style_figure(fig, title, "probability (%)", "", height=40 * len(classes) + 80)
