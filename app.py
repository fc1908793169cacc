"""The dashboard's entry point: `streamlit run app.py`.

For now one page: the presets and their layer tables. The pages that train, inspect and compare
arrive with the dashboard issue; all the work they do lives in cnn_core.
"""

import pandas as pd
import streamlit as st

from cnn_core.presets import PRESETS
from cnn_core.shapes import infer_shapes

st.set_page_config(page_title="CNN dashboard", page_icon=":material/neurology:", layout="wide")

st.title("Learn CNNs by training one")
st.write(
    "Train a convolutional neural network on small colour images, watch it learn, and see why each "
    "setting matters. Start by picking a network below to see how every layer changes the image size."
)

name = st.selectbox(
    "Network",
    list(PRESETS),
    format_func=lambda key: PRESETS[key].title,
    help="A starting point: the tutorial's network, a deeper variant, or a strong small network.",
)
preset = PRESETS[name]
st.caption(preset.description)

report = infer_shapes(preset.architecture, (3, 32, 32), 10)
table = pd.DataFrame(
    [
        {
            "layer": row.index,
            "what it does": row.description,
            "output shape": " x ".join(map(str, row.output_shape)),
            "parameters": row.parameters,
            "multiply-adds": row.mult_adds,
        }
        for row in report.rows
    ]
)
st.dataframe(table, hide_index=True)
left, right = st.columns(2)
left.metric("Parameters", f"{report.parameters:,}")
right.metric("Multiply-adds per image", f"{report.mult_adds:,}")
