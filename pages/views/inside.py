"""Filters and feature maps: what the trained network learned, and what each layer sees."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from cnn_core.errors import CnnCoreError
from cnn_core.explain import METHODS, attribute, overlay, worked_convolution
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
def forming(run_id: str) -> None:
    """The first layer's filters as the run learned them: an epoch slider and Play, drawn by Plotly
    in the browser (no script run per frame)."""
    try:
        kept = common.store().get(run_id).snapshots()
    except CnnCoreError as error:
        common.error_box(error)
        return
    if len(kept) < 2 or kept[-1].filters is None:
        st.caption("This run was trained before the filters were kept as it learned: train it again to watch "
                   "them form.")  # fmt: skip
        return
    with st.expander("Watch them form, from random noise to the trained filters", expanded=True):
        names = [f"epoch {s.epoch_progress:.1f} · {s.right} of {len(s.guess)} strip pictures right" for s in kept]
        pictures = [common.to_image(filter_grid(s.filters, scale=6)) for s in kept]
        frames = [go.Frame(data=[go.Image(z=p)], name=str(i)) for i, p in enumerate(pictures)]
        figure = go.Figure(data=[go.Image(z=pictures[0])], frames=frames)
        figure.update_layout(
            height=140 + pictures[0].shape[0] * 2,
            margin=dict(l=10, r=10, t=10, b=10),
            xaxis_visible=False,
            yaxis_visible=False,
            font_size=15,
            updatemenus=[
                dict(
                    type="buttons",
                    x=0,
                    y=-0.05,
                    xanchor="left",
                    yanchor="top",
                    showactive=False,
                    buttons=[
                        dict(
                            label="▶ Play",
                            method="animate",
                            args=[
                                None,
                                {
                                    "frame": {"duration": 400, "redraw": True},
                                    "fromcurrent": False,
                                    "transition": {"duration": 0},
                                },
                            ],
                        )
                    ],
                )
            ],
            sliders=[
                dict(
                    active=0,
                    x=0.12,
                    len=0.88,
                    y=-0.02,
                    yanchor="top",
                    currentvalue={"prefix": ""},
                    steps=[
                        dict(
                            method="animate",
                            label=f"{s.epoch_progress:.1f}",
                            args=[[str(i)], {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}],
                        )
                        for i, s in enumerate(kept)
                    ],
                )
            ],
        )
        st.plotly_chart(figure, key=f"forming_{run_id}")
        st.caption(f"{len(kept)} snapshots: the start, every tenth of the first epoch, the end of every epoch. "
                   f"Now: {names[-1]}.")  # fmt: skip


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
    if position == positions[0]:
        forming(run_id)
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
    with common.model_lock(run_id):
        probabilities = class_probabilities(model, image)
    st.plotly_chart(common.probabilities_figure(probabilities, classes), key="probabilities")

st.subheader("Where it looked")
guess = int(probabilities.argmax())
how, heat_column = st.columns([2, 3], gap="large")  # the class picker reads whole at 1024 px
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
        with common.model_lock(run_id):
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
with common.model_lock(run_id):
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

# --- one output number, worked out -----------------------------------------------------------------------
if positions:
    st.subheader("One number of a feature map, worked out")
    st.caption(
        "Click a pixel of the map: the learned kernel laid over the previous layer's output there, every "
        "multiply-add, the sum, the bias, then ReLU, landing on the value the network computed."
    )
    pick, grid = st.columns([1, 2], gap="large")
    with pick:
        st.session_state.setdefault("w_worked_layer", positions[0])
        at = st.selectbox(
            "Convolution layer",
            positions,
            # Short: the picker shares the row with the map at 1024 px.
            format_func=lambda i: f"layer {i + 1}: {model.arch.layers[i].out_channels} filters",
            key="w_worked_layer",
        )
        if "w_worked_pick" in st.session_state:  # a pixel clicked on the map (the run before this one)
            st.session_state["w_worked_row"], st.session_state["w_worked_col"] = st.session_state.pop("w_worked_pick")
        fmap = maps[at].values
        out_channels, height, width = fmap.shape
        for key, top in (("w_worked_channel", out_channels), ("w_worked_row", height), ("w_worked_col", width)):
            st.session_state[key] = min(max(0, st.session_state.get(key, 0)), top - 1)
        channel = st.number_input("Output channel (filter)", 0, out_channels - 1, key="w_worked_channel")
        r, c = st.columns(2)
        row = r.number_input("Row", 0, height - 1, key="w_worked_row")
        col = c.number_input("Column", 0, width - 1, key="w_worked_col")
    with grid:
        figure = go.Figure(
            go.Heatmap(z=fmap[channel].tolist(), colorscale="Greys", reversescale=True, hoverinfo="skip")
        )
        # Invisible markers make every pixel clickable (a heatmap sends no clicks of its own).
        figure.add_scatter(
            x=[x for _ in range(height) for x in range(width)],
            y=[y for y in range(height) for _ in range(width)],
            mode="markers",
            marker={"size": max(4, 300 // width), "color": "rgba(0,0,0,0.01)", "symbol": "square"},
            customdata=[[float(v)] for v in fmap[channel].flatten()],
            hovertemplate="row %{y}, column %{x}: %{customdata[0]:.3f} (click to work it out)<extra></extra>",
            showlegend=False,
        )
        ring = {"size": 14, "color": "rgba(0,0,0,0)", "line": {"color": "#d9480f", "width": 3}}
        figure.add_scatter(x=[col], y=[row], mode="markers", showlegend=False, hoverinfo="skip", marker=ring)
        common.style_figure(figure, x="column", y="row", height=330)
        figure.update_xaxes(range=[-0.5, width - 0.5], showgrid=False)
        figure.update_yaxes(range=[height - 0.5, -0.5], scaleanchor="x", showgrid=False)
        clicked = st.plotly_chart(figure, key="worked_map", on_select="rerun", selection_mode="points")
        points = (clicked or {}).get("selection", {}).get("points", []) if clicked else []
        if points and (int(points[0]["y"]), int(points[0]["x"])) != (row, col):
            st.session_state["w_worked_pick"] = (int(points[0]["y"]), int(points[0]["x"]))
            st.rerun()
    with common.model_lock(run_id):
        worked = worked_convolution(model, image, at, channel, row, col)
    source = "the picture's pixels, normalised" if at == positions[0] else f"layer {at}'s output"
    shown = min(3, worked.patch.shape[0])
    st.markdown(
        f"**Filter {channel} of layer {worked.layer} at row {row}, column {col}:** its "
        f"{worked.kernel.shape[1]}x{worked.kernel.shape[2]} kernel over {source}, "
        f"{worked.patch.shape[0]} input channel{'s' if worked.patch.shape[0] > 1 else ''}"
        + (f" (the first {shown} shown)" if shown < worked.patch.shape[0] else "")
    )
    tables = st.columns(shown)
    for i in range(shown):
        rows = [
            {"input": float(p), "x weight": float(w), "= product": float(p * w)}
            for p, w in zip(worked.patch[i].flatten(), worked.kernel[i].flatten(), strict=True)
        ]
        tables[i].caption(f"input channel {i}: sum {float(worked.products[i].sum()):.4f}")
        tables[i].dataframe(pd.DataFrame(rows).style.format("{:.4f}"), hide_index=True, width="stretch")
    summed = worked.total + worked.bias
    lines = [
        f"sum of the {worked.products.numel()} products = {worked.total:.4f}",
        f"+ bias {worked.bias:.4f} = {summed:.4f}",
    ]
    if worked.relu is not None:
        lines.append(f"ReLU: max(0, {summed:.4f}) = {worked.relu:.4f}")
    lines.append(
        f"the network computed {worked.value:.4f} here"
        + (f", {worked.relu:.4f} after ReLU" if worked.relu is not None else "")
    )
    st.code("\n".join(lines), language=None)
