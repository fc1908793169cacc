"""Convolution: the tutorial's first lesson, one kernel over one photo, then ReLU and pooling."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn_core.convolution import KERNELS, apply_kernel
from cnn_core.inspection import stretch
from pages import common
from pages.common import state

st.title("Convolution, step by step")
st.markdown(
    "A **kernel** is a small grid of numbers. It slides over the image; at each stop it multiplies the pixels "
    "under it by its numbers and adds them up. That sum is one pixel of the **feature map**. Then **ReLU** turns "
    "negative answers into zero, and **max pooling** keeps the largest answer in each 2x2 square."
)
dataset = common.get_dataset("sample")
pick, settings = st.columns([1, 1], gap="large")
with pick:
    image = common.pick_image(dataset, 32, 3, "conv")
    if image is None:
        st.stop()
with settings:
    # Defaults through the session, not the widgets: a widget given a default and a kept value
    # (common.keep_widget_values) makes Streamlit log a warning on every visit.
    state.linked("kernel", "w_conv_kernel", allowed=[*KERNELS, "your own numbers"])
    state.linked("stride", "w_conv_stride", parse=int, allowed=[1, 2, 3])
    state.linked("padding", "w_conv_padding", parse=int, allowed=[0, 1, 2])
    st.session_state.setdefault("w_conv_kernel", list(KERNELS)[1])
    name = st.selectbox(
        "Kernel",
        [*KERNELS, "your own numbers"],
        key="w_conv_kernel",
        help="Edge detection finds outlines, sharpen boosts them, blur smooths them away.",
    )
    if name == "your own numbers":
        grid = st.data_editor(
            pd.DataFrame(KERNELS["edge detection"], columns=["a", "b", "c"]), key="editor_conv_kernel", hide_index=True
        )
        kernel = grid.fillna(0).to_numpy(dtype=float).tolist()
    else:
        kernel = KERNELS[name]
        st.dataframe(pd.DataFrame(kernel).round(3), hide_index=True)
    a, b = st.columns(2)
    stride = a.select_slider("Stride", [1, 2, 3], key="w_conv_stride", help="How far the kernel moves each step.")
    st.session_state.setdefault("w_conv_padding", 1)
    padding = b.select_slider(
        "Padding", [0, 1, 2], key="w_conv_padding", help="Rings of zeros added around the image first."
    )

try:
    steps = apply_kernel(image, kernel, stride, padding)
except ValueError as error:
    common.error_box(error)
    st.stop()

st.markdown(f"**Output size:** `(in - kernel + 2*padding) // stride + 1 = {steps.formula}` pixels per side")
shown = [
    ("Input (grey)", (steps.grey * 255).round().byte()),
    ("After the kernel", stretch(steps.filtered)),
    ("After ReLU", stretch(steps.activated)),
    ("After 2x2 max pooling", stretch(steps.pooled)),
]
columns = st.columns(4)
for column, (title, picture) in zip(columns, shown, strict=True):
    column.image(
        common.to_image(common.enlarge(picture, max(1, 192 // picture.shape[-1]))),
        caption=f"{title}: {picture.shape[-2]}x{picture.shape[-1]}",
        width="stretch",
    )
st.caption(f"Pooling: {steps.pool_formula}. Brighter means a larger value; each picture is scaled to its own range.")
