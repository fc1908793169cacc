"""Metrics: how good the selected run is, class by class, and which pictures it gets wrong."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cnn_core.curves import curves
from cnn_core.errors import CnnCoreError
from cnn_core.explain import attribute, overlay
from cnn_core.metrics import confident_mistakes, confusion_cell, top_k
from pages import common
from pages.common import state

st.title("Metrics")
run_id = common.selected_run_id()
if run_id is None:
    st.info(
        "Train a network first: its accuracy, per-class scores and confusion matrix appear here.",
        icon=":material/info:",
    )
    st.page_link(common.PAGES["train"], label="Train a network", icon=":material/play_circle:")
    st.stop()
try:
    run = common.store().get(run_id)
    setup, metrics, status = run.setup(), run.metrics(), run.status()
except CnnCoreError as error:
    common.error_box(error)
    st.stop()
if metrics is None:
    if status.get("status") == "running":
        st.info(f"Run {run_id} is training: its metrics appear when it ends.", icon=":material/info:")
    else:
        st.info(
            f"Run {run_id} is {status.get('status')} ({status.get('message')}), so it has no test metrics. Resume it "
            "on **Runs** to finish it; its curves so far are below.",
            icon=":material/info:",
        )
        history = run.history()
        if history:
            a, b = st.columns(2)
            c = curves(history)
            a.plotly_chart(common.loss_figure(c), key="m_loss")
            b.plotly_chart(common.accuracy_figure(c), key="m_acc")
    st.stop()
test = metrics["test"]
classes = test["classes"]
st.caption(
    f"Run {run_id} · {setup.architecture.name} · {setup.dataset.name} · {metrics['status']} · "
    f"{metrics['epochs_completed']} epochs in {metrics['train_seconds']:.1f} s"
)

m = st.columns(3)
val = metrics.get("val") or {}
m[0].metric(
    "Validation accuracy",
    f"{100 * val['accuracy']:.1f}%" if val.get("accuracy") is not None else "-",
    help="Pictures held out from training, checked after every epoch.",
)
m[1].metric(
    "Test accuracy", f"{100 * test['accuracy']:.1f}%", help=f"{test['images']:,} pictures never used in training."
)
m[2].metric("Test loss", f"{test['loss']:.3f}" if test.get("loss") is not None else "-")

history = run.history()
a, b = st.columns(2)
c = curves(history)
a.plotly_chart(common.loss_figure(c), key="m_loss")
b.plotly_chart(common.accuracy_figure(c), key="m_acc")

st.subheader("Class by class")
scores = pd.DataFrame(test["per_class"]).rename(columns={"name": "class"})
# The table over its chart, not beside it: side by side, the table hid F1 at 1024 px.
left, right = st.container(), st.container()
SCORE_HELP = {
    "precision": ("precision", "Of the pictures it called this class, the share that were."),
    "recall": ("recall", "Of the pictures of this class, the share it found."),
    "f1": ("F1", "One number balancing precision and recall."),
}
columns_config = {
    key: st.column_config.ProgressColumn(label, min_value=0, max_value=1, format="percent", help=text)
    for key, (label, text) in SCORE_HELP.items()
}
columns_config["support"] = st.column_config.NumberColumn("pictures", help="Test pictures of this class.")
left.dataframe(scores, hide_index=True, width="stretch", column_config=columns_config)
bars = go.Figure()
for column, colour in (("precision", "#1f77b4"), ("recall", "#d9480f"), ("f1", "#2b8a3e")):
    bars.add_bar(
        x=scores["class"], y=100 * scores[column], name=column if column != "f1" else "F1", marker_color=colour
    )
common.style_figure(bars, y="%").update_layout(barmode="group")
right.plotly_chart(bars, key="m_bars")

st.subheader("Confusion matrix")
st.caption("Rows: the true class. Columns: what the network said. Click a cell to see the pictures behind it.")
matrix = test["confusion_matrix"]
n = len(classes)
figure = go.Figure(
    go.Heatmap(
        z=matrix,
        x=classes,
        y=classes,
        colorscale="Oranges",
        text=matrix,
        texttemplate="%{text}",
        textfont={"size": 13},
        showscale=False,  # the counts are in the cells: the width goes to them
        hovertemplate="true %{y}, said %{x}: %{z}<extra></extra>",
    )
)
# An invisible marker on every cell makes cells clickable (heatmaps themselves send no clicks).
figure.add_scatter(
    x=[classes[p] for t in range(n) for p in range(n)],
    y=[classes[t] for t in range(n) for _ in range(n)],
    mode="markers",
    marker={"size": 30, "color": "rgba(0,0,0,0.01)", "symbol": "square"},
    customdata=[[t, p] for t in range(n) for p in range(n)],
    hovertemplate="true %{y}, said %{x}: click to see them<extra></extra>",
    showlegend=False,
)
common.style_figure(figure, x="predicted class", y="true class", height=90 + 48 * n)
figure.update_yaxes(autorange="reversed")
matrix_column, accuracy_column = st.columns([2, 1])
with matrix_column:
    event = st.plotly_chart(figure, key="m_confusion", on_select="rerun", selection_mode="points")
with accuracy_column:  # each row of the matrix as one number: how often that class was right, sorted
    ordered = scores.sort_values("recall")
    right = go.Figure(go.Bar(x=100 * ordered["recall"], y=ordered["class"], orientation="h", marker_color="#2b8a3e",
                             text=[f"{100 * v:.0f}%" for v in ordered["recall"]], textposition="auto",
                             hovertemplate="%{y}: %{x:.1f}% right<extra></extra>"))  # fmt: skip
    common.style_figure(right, title="Right, class by class", x="% of its test pictures", height=90 + 48 * n)
    right.update_xaxes(range=[0, 100])
    st.plotly_chart(right, key="m_class_accuracy")
points = (event or {}).get("selection", {}).get("points", []) if event else []
if points and points[0].get("customdata"):
    t, p = points[0]["customdata"]
    st.session_state["w_cm_true"], st.session_state["w_cm_pred"] = classes[t], classes[p]

pairs = test.get("most_confused", [])
if pairs:
    st.markdown(
        "**Most confused:** "
        + "; ".join(
            f"{x['true_class']} taken for {x['predicted_class']} {x['count']} times ({100 * x['fraction']:.0f}%)"
            for x in pairs
        )
    )

st.subheader("The pictures behind a cell")
a, b = st.columns(2)
default_pair = (pairs[0]["true_class"], pairs[0]["predicted_class"]) if pairs else (classes[0], classes[0])
st.session_state.setdefault("w_cm_true", default_pair[0])
st.session_state.setdefault("w_cm_pred", default_pair[1])
state.linked("true", "w_cm_true", allowed=classes)
state.linked("said", "w_cm_pred", allowed=classes)
true_class = a.selectbox("True class", classes, key="w_cm_true")
said_class = b.selectbox("Predicted class", classes, key="w_cm_pred")
try:
    dataset, missing = common.run_dataset(setup.dataset)
    if dataset is None:
        st.info(missing, icon=":material/info:")
        st.stop()
    predictions = run.load_predictions()
except CnnCoreError as error:
    common.error_box(error)
    st.stop()
probabilities = predictions["test_probabilities"].float()
labels, said = predictions["test_labels"], probabilities.argmax(1)
chosen = confusion_cell(labels, said, classes.index(true_class), classes.index(said_class))
st.caption(
    f"{len(chosen)} test pictures of {true_class} that the network called {said_class}"
    + (" (showing the first 24)" if len(chosen) > 24 else "")
)
looked = st.toggle(
    "Where it looked",
    key="w_cm_looked",
    help=f"Each picture with a heat map of what made the network say {said_class} (Grad-CAM on its last "
    "convolution; Filters and feature maps has the other methods).",
)
model = common.get_model(run_id) if looked else None
columns = st.columns(8)
for k, i in enumerate(chosen[:24].tolist()):
    image = dataset.test_images[int(predictions["test_indices"][i])]
    guesses = ", ".join(f"{name} {100 * p:.0f}%" for name, p in top_k(probabilities[i], classes, 3))
    if model is not None:
        try:
            with common.model_lock(run_id):
                heat = attribute(model, image, classes.index(said_class), "gradcam").heat
            image = overlay(image, heat)
        except CnnCoreError:  # a network without convolutions: the picture as it is
            pass
    columns[k % 8].image(common.to_image(common.enlarge(image, 3)), caption=guesses, width="stretch")

st.subheader("Mistakes worth looking at")
st.caption(
    "The pictures of a class the network got wrong most confidently, each with where it looked for the answer "
    "it gave (Grad-CAM): often a background, a colour or a shape that belongs to the other class."
)
worst_first = sorted(range(len(classes)), key=lambda i: scores["recall"].iloc[i])
st.session_state.setdefault("w_mistakes_class", classes[worst_first[0]])
state.linked("mistakes", "w_mistakes_class", allowed=classes)
first = "The one it gets right least often is picked first."
of_class = st.selectbox("Pictures of", classes, key="w_mistakes_class", help=first)
mistakes = confident_mistakes(labels, probabilities, classes.index(of_class), n=8)
if not len(mistakes):
    st.caption(f"It got every test picture of {of_class} right.")
model = common.get_model(run_id)
columns = st.columns(8)
for k, i in enumerate(mistakes.tolist()):
    image = dataset.test_images[int(predictions["test_indices"][i])]
    answer = int(said[i])
    try:
        with common.model_lock(run_id):
            heat = attribute(model, image, answer, "gradcam").heat
        image = overlay(image, heat)
    except CnnCoreError:  # a network without convolutions: the picture as it is
        pass
    caption = f"said {classes[answer]} {100 * float(probabilities[i, answer]):.0f}%"
    columns[k % 8].image(common.to_image(common.enlarge(image, 3)), caption=caption, width="stretch")
