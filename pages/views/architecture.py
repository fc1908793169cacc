"""Architecture: edit the layer stack and see every layer's shape, parameters and cost at once."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn_core import layer_table
from cnn_core.architecture import ACTIVATIONS, POOLS, ROW_COLUMNS, ROW_FIELDS, to_rows
from cnn_core.presets import PRESETS
from cnn_core.shapes import formula_text, infer_shapes
from pages import common
from pages.common import state


def load_rows(rows: list[dict]) -> None:
    """Replace the table's content (a new editor key resets its edits)."""
    st.session_state["arch_rows"] = rows
    st.session_state["arch_version"] = st.session_state.get("arch_version", 0) + 1


def start_from_preset() -> None:
    name = st.session_state["w_arch_preset"]
    load_rows(to_rows(PRESETS[name].architecture))
    state.use_network(PRESETS[name].architecture, name)


def edit_rows(action: str) -> None:
    """One edit of the table at the chosen row (layer_table: no other row moves or goes)."""
    rows = list(st.session_state["edited_rows"])
    number = st.session_state["w_move_layer"]
    if not 1 <= number <= len(rows):
        return
    if action in ("up", "down"):
        to = number - 1 if action == "up" else number + 1
        if 1 <= to <= len(rows):
            rows = layer_table.move(rows, number, to)
            st.session_state["w_move_layer"] = to
    elif action == "duplicate":
        rows = layer_table.duplicate(rows, number)
    elif action == "remove":
        rows = layer_table.remove(rows, number)
        st.session_state["w_move_layer"] = max(1, min(number, len(rows)))
    elif action == "block":
        rows = layer_table.insert(rows, number, layer_table.conv_block(layer_table.block_channels(rows, number)))
    load_rows(rows)


st.title("Architecture")
st.markdown(
    "Each row is one layer, applied top to bottom. Change a number and the table below recomputes "
    "every shape with the tutorial's formula `out = (in - kernel + 2*padding) // stride + 1`."
)
name = state.dataset_name()
dataset = common.get_dataset(name if common.dataset_ready(name) else "sample")
shape, classes = dataset.input_shape, dataset.num_classes
if "arch_rows" not in st.session_state or st.session_state.get("arch_synced") != state.architecture():
    # The network was changed elsewhere (a preset on Train, a run loaded from Runs): show that one.
    load_rows(to_rows(state.architecture()))
    st.session_state["arch_synced"] = state.architecture()

# The table to edit, then what it computes, one under the other: side by side, both tables scrolled
# sideways at 1024 px and hid columns.
edit, result = st.container(), st.container()
with edit:
    a, b = st.columns([3, 1], vertical_alignment="bottom")
    a.selectbox(
        "Start from",
        list(PRESETS),
        key="w_arch_preset",
        format_func=lambda k: PRESETS[k].title,
        help="Replace the table with one of the ready-made networks.",
    )
    b.button("Load it", on_click=start_from_preset, icon=":material/restart_alt:", width="stretch")
    kinds = sorted(set(ACTIVATIONS) | set(POOLS))
    shown = pd.DataFrame(st.session_state["arch_rows"], columns=list(ROW_COLUMNS))
    shown.index = range(1, len(shown) + 1)  # the row numbers the edits below and the messages use
    table = st.data_editor(
        shown,
        key=f"arch_editor_{st.session_state['arch_version']}",
        num_rows="dynamic",
        width="stretch",
        column_config={
            "type": st.column_config.SelectboxColumn(
                "layer",
                options=list(ROW_FIELDS),
                required=True,
                help="conv: filters slide over the image; activation: a non-linearity; pool: shrink by keeping the "
                "strongest (max) or average answer; batchnorm: rescale; dropout: randomly silence; linear: "
                "every input to every output (the image is flattened before the first one).",
            ),
            "size": st.column_config.NumberColumn(
                "size",
                min_value=1,
                max_value=16384,
                step=1,
                help="conv: how many filters (output channels); linear: how many outputs. The last linear layer "
                f"needs one output per class ({classes}).",
            ),
            "kernel": st.column_config.NumberColumn(
                "kernel",
                min_value=1,
                max_value=32,
                step=1,
                width="small",
                help="Width and height of the window, in pixels.",
            ),
            "stride": st.column_config.NumberColumn(
                "stride",
                min_value=1,
                max_value=32,
                step=1,
                width="small",
                help="How many pixels the window moves each step.",
            ),
            "padding": st.column_config.NumberColumn(
                "padding",
                min_value=0,
                max_value=16,
                step=1,
                width="small",
                help="Zeros added around the border before sliding.",
            ),
            "kind": st.column_config.SelectboxColumn(
                "kind", options=kinds, help=f"activation: {', '.join(ACTIVATIONS)}; pool: {' or '.join(POOLS)}."
            ),
            "p": st.column_config.NumberColumn(
                "dropout p",
                min_value=0.0,
                max_value=0.99,
                step=0.05,
                width="small",
                help="Share of values silenced while training.",
            ),
        },
    )
    rows = table.to_dict("records")
    st.session_state["edited_rows"] = rows
    st.session_state["w_move_layer"] = max(1, min(st.session_state.get("w_move_layer", 1), len(rows)))
    a, b = st.columns([1, 3], vertical_alignment="bottom")
    a.number_input("Row", 1, max(1, len(rows)), key="w_move_layer", help="The row the buttons act on.")
    b.button("+ conv block after it", on_click=edit_rows, args=("block",), icon=":material/add_box:",
             help="Inserts a 3x3 convolution that keeps the size (padding 1), ReLU and a 2x2 max pool that "
             "halves it, with as many filters as the convolution above.")  # fmt: skip
    # Two by two: five buttons in a row are cut to their first letters at 1024 px.
    c1, c2, c3, c4 = st.columns(4)
    c1.button("Up", on_click=edit_rows, args=("up",), icon=":material/arrow_upward:", width="stretch")
    c2.button("Down", on_click=edit_rows, args=("down",), icon=":material/arrow_downward:", width="stretch")
    c3.button("Copy", on_click=edit_rows, args=("duplicate",), icon=":material/content_copy:", width="stretch",
              help="A copy of the row right under it.")  # fmt: skip
    c4.button("Remove", on_click=edit_rows, args=("remove",), icon=":material/delete:", width="stretch")

with result:
    architecture, problems = layer_table.complete_part(rows)
    for problem in problems:  # the rest stays sized while a row is filled in
        st.warning(f"Row {problem.row}: {problem.needs}.", icon=":material/edit:")
    if architecture is None:
        st.info("Fill in the rows above: the shapes appear as soon as one layer is complete.", icon=":material/info:")
        st.stop()
    if problems:
        st.caption("The rows above are left out of the shapes below, and Train keeps the last complete network.")
    elif architecture.layers != state.architecture().layers:
        state.use_network(architecture)  # a preset's layers, unchanged, still count as that preset
        st.session_state["arch_synced"] = state.architecture()
    report = infer_shapes(architecture, shape, classes)
    st.markdown(f"**Input:** {' x '.join(map(str, shape))} (channels x height x width) from *{dataset.name}*")
    table = pd.DataFrame(
        [
            {
                "#": r.index,
                "layer": r.description,
                "output shape": " x ".join(map(str, r.output_shape)),
                "parameters": r.parameters,
                "multiply-adds": r.mult_adds,
            }
            for r in report.rows
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "parameters": st.column_config.NumberColumn(format="localized"),
            "multiply-adds": st.column_config.NumberColumn(format="localized"),
        },
    )
    if report.error is not None:
        st.error(str(report.error), icon=":material/error:")
        st.caption("Training starts only once every layer fits.")
    else:
        m1, m2, m3 = st.columns(3)
        m1.metric("Parameters", f"{report.parameters:,}", help="Numbers the network learns.")
        m2.metric("Multiply-adds", f"{report.mult_adds / 1e6:,.2f} M", help="Work for one forward pass of one image.")
        m3.metric("Output", " x ".join(map(str, report.output_shape)), help="One score per class.")
        st.success("This network fits the data. The Train page uses it.", icon=":material/check_circle:")
    sized = [r for r in report.rows if r.formula]
    if sized:
        pick = st.selectbox(
            "Show the formula for",
            sized,
            format_func=lambda r: f"layer {r.index}: {r.description}",
            key="w_formula_layer",
            help="The output-size formula with this layer's numbers.",
        )
        layer = architecture.layers[pick.index - 1]
        st.code(
            f"out = (in - kernel + 2*padding) // stride + 1\n    = "
            f"{formula_text(pick.input_shape[1], layer.kernel_size, layer.stride, layer.padding)}",
            language=None,
        )

st.subheader("The network as a diagram")
nodes = [f'n0 [label="input\\n{"x".join(map(str, shape))}", shape=box, style=filled, fillcolor="#e7f5ff"]']
for r in report.rows:
    colour = {"conv": "#ffe8cc", "pool": "#d3f9d8", "linear": "#e5dbff"}.get(
        architecture.layers[r.index - 1].type, "#f1f3f5"
    )
    nodes.append(
        f'n{r.index} [label="{r.description}\\n{"x".join(map(str, r.output_shape))}", shape=box, '
        f'style="rounded,filled", fillcolor="{colour}"]'
    )
edges = [f"n{i} -> n{i + 1}" for i in range(len(report.rows))]
st.graphviz_chart(
    "digraph { rankdir=LR; node [fontname=Helvetica, fontsize=11]; " + "; ".join(nodes + edges) + "}",
    width="stretch",
)
