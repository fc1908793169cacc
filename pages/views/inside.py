"""Filters and feature maps: what the trained network learned, and what each layer sees."""

from __future__ import annotations

import streamlit as st
import torch

from cnn_core.errors import CnnCoreError
from cnn_core.explain import METHODS, attribute, overlay
from cnn_core.inspection import channel_grid, class_probabilities, conv_filters, conv_layers, feature_maps, filter_grid
from pages import common
from pages.common import state
from pages.common.svg_chart import bar_chart

st.title("Filters and feature maps")
run_id = common.selected_run_id()
if run_id is None:
    st.info("Train a network first: its filters and feature maps appear here.", icon=":material/info:")
    st.page_link(common.PAGES["train"], label="Train a network", icon=":material/play_circle:")
    st.stop()
try:
    model = common.get_model(run_id)
    setup = common.store().get(run_id).setup()
except CnnCoreError as error:
    common.error_box(error)
    st.stop()
dataset, missing = common.run_dataset(setup.dataset)
classes = setup.dataset.classes
channels, size = model.input_shape[0], model.input_shape[1]
st.caption(f"Run {run_id} · {setup.architecture.name} · trained on {setup.dataset.name}")
if missing:
    st.caption(missing)

# --- filters ---------------------------------------------------------------------------------------
st.subheader("The filters it learned")
positions = conv_layers(model)
if not positions:
    st.info("This network has no convolution layers, so it has no filters to show.")
else:
    state.linked("layer", "w_filter_layer", parse=int, allowed=positions)
    position = st.selectbox(
        "Convolution layer",
        positions,
        format_func=lambda i: f"layer {i + 1}: {model.arch.layers[i].describe()}",
        key="w_filter_layer",
        help="The first layer's filters look at colours directly; deeper ones look at the "
        "previous layer's feature maps, one grey tile per input channel.",
    )
    filters = conv_filters(model, position)
    st.image(
        common.to_image(filter_grid(filters)),
        caption=f"{filters.shape[0]} filters of "
        f"{filters.shape[2]}x{filters.shape[3]} over {filters.shape[1]} input channels"
        + (" (shown in colour)" if filters.shape[1] == 3 else " (first 8 inputs per filter, one per column)"),
    )

# --- one image through the network --------------------------------------------------------------------
st.subheader("One picture through the network")
choose, answer = st.columns([1, 2], gap="large")
with choose:
    image = common.pick_image(dataset, size, channels, "inside")
    if image is not None:
        st.image(common.to_image(common.enlarge(image, 6)), caption=f"{size}x{size} pixels", width=200)
if image is None:
    st.stop()
with answer:
    probabilities = class_probabilities(model, image)
    st.plotly_chart(common.probabilities_figure(probabilities, classes), key="probabilities")

st.subheader("Where it looked")
guess = int(probabilities.argmax())
how, heat_column = st.columns([1, 2], gap="large")
with how:
    st.session_state.setdefault("w_inside_method", "gradcam")
    method = st.radio(
        "How to ask",
        list(METHODS),
        format_func=lambda m: METHODS[m][0],
        key="w_inside_method",
        help="Three ways of asking the network what in the picture gave a class its score (Captum, the PyTorch "
        "project's attribution library).",
    )
    st.caption(METHODS[method][1])
    if st.session_state.get("w_inside_why_for") != (run_id, guess):  # a new picture: its answer first
        st.session_state["w_inside_why"] = guess
        st.session_state["w_inside_why_for"] = (run_id, guess)
    target = st.selectbox(
        "For the class",
        range(len(classes)),
        format_func=lambda i: f"{classes[i]} (its answer)" if i == guess else f"why not {classes[i]}?",
        key="w_inside_why",
        help="Its answer, or any other class: where the picture looked like that one.",
    )
with heat_column:
    try:
        found = attribute(model, image, target, method)
    except CnnCoreError as error:
        common.error_box(error)
    else:
        a, b = st.columns(2)
        a.image(common.to_image(common.enlarge(overlay(image, found.heat), 6)), width="stretch",
                caption=f"{found.title} for {classes[target]}: red to yellow where it mattered most")  # fmt: skip
        b.image(common.to_image(common.enlarge((found.heat * 255).round().to(torch.uint8).unsqueeze(0), 6)),
                width="stretch", caption="The map alone: white mattered most")  # fmt: skip

st.subheader("What every layer sees")
st.caption("Each tile is one channel of a layer's output (the first 16), scaled to its own range: bright = large.")
maps = feature_maps(model, image)
columns = st.columns(2)
for i, fmap in enumerate(maps):
    with columns[i % 2]:
        shape = " x ".join(map(str, fmap.values.shape))
        st.markdown(f"**Layer {fmap.index}: {fmap.description}** → {shape}")
        if fmap.values.dim() == 3:
            scale = max(1, 64 // fmap.values.shape[-1])
            st.image(common.to_image(channel_grid(fmap.values, scale=scale)), width="stretch")
        else:
            # A picture, not a Vega-Lite chart: the first of those took Chromium half a second.
            values = fmap.values[:64]
            title = f"Outputs of layer {fmap.index}"
            st.image(bar_chart(values.tolist(), title=title, x_title="unit", y_title="value"), width="stretch")
