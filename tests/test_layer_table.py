"""The Architecture page's table edits: a block inserted anywhere, a row removed, copied or
moved, never losing or reordering another row (blank and incomplete rows included); incomplete
rows said in words while the rest is still sized."""

from hypothesis import given, settings
from hypothesis import strategies as st

from cnn_core import layer_table
from cnn_core.architecture import Conv, Pool, from_rows, to_rows
from cnn_core.presets import PRESETS
from cnn_core.shapes import infer_shapes

TUTORIAL = to_rows(PRESETS["tutorial"].architecture)
BLANK = layer_table.row()


def test_a_conv_block_in_the_middle_of_the_tutorial_network_keeps_it_fitting():
    rows = layer_table.insert(TUTORIAL, 3, layer_table.conv_block(layer_table.block_channels(TUTORIAL, 3)))
    network = from_rows(rows)
    assert [layer.type for layer in network.layers] == ["conv", "activation", "pool", "conv", "activation",
                                                       "pool", "linear", "activation", "linear"]  # fmt: skip
    assert network.layers[3] == Conv(18, 3, 1, 1) and network.layers[5] == Pool("max", 2, 2, 0)
    report = infer_shapes(network, (3, 32, 32), 10)
    assert report.error is None
    assert report.rows[2].output_shape == (18, 16, 16) and report.rows[5].output_shape == (18, 8, 8)


rows_strategy = st.lists(
    st.sampled_from([*TUTORIAL, BLANK, layer_table.row(type="conv"), layer_table.row(type="linear", size=10)]),
    min_size=1,
    max_size=8,
).map(lambda rows: [dict(r, tag=i) for i, r in enumerate(rows)])  # each row told apart by its tag


@settings(max_examples=200, deadline=None)
@given(rows=rows_strategy, data=st.data())
def test_no_edit_drops_or_reorders_another_row(rows, data):
    n = data.draw(st.integers(1, len(rows)))
    tags = [r["tag"] for r in rows]
    others = [t for t in tags if t != n - 1]
    removed = layer_table.remove(rows, n)
    assert [r["tag"] for r in removed] == others
    copied = layer_table.duplicate(rows, n)
    assert [r["tag"] for r in copied] == [*tags[:n], n - 1, *tags[n:]]
    to = data.draw(st.integers(1, len(rows)))
    moved = layer_table.move(rows, n, to)
    assert [r["tag"] for r in moved if r["tag"] != n - 1] == others and moved[to - 1]["tag"] == n - 1
    block = layer_table.insert(rows, n, layer_table.conv_block())
    assert [r.get("tag") for r in block if "tag" in r] == tags and len(block) == len(rows) + 3


def test_moving_past_a_blank_row_moves_the_row_asked_for():
    """The row that went missing: with an empty row in the table, moving layer 4 up moved another."""
    rows = [*TUTORIAL[:3], BLANK, *TUTORIAL[3:]]
    moved = layer_table.move(rows, 5, 4)  # row 5 (the first linear) up past the blank row
    assert moved[3] == TUTORIAL[3] and moved[4] == BLANK and len(moved) == len(rows)
    assert from_rows(moved).layers == PRESETS["tutorial"].architecture.layers


def test_incomplete_rows_say_what_to_fill_in_and_the_rest_is_still_sized():
    rows = [*TUTORIAL[:3], layer_table.row(type="conv"), BLANK, layer_table.row(type="activation"),
            layer_table.row(size=8), layer_table.row(type="conv", size=0), *TUTORIAL[3:]]  # fmt: skip
    network, problems = layer_table.complete_part(rows)
    assert [(p.row, p.needs) for p in problems] == [
        (4, "set the number of filters (size)"),
        (6, "pick an activation (kind): relu, leaky_relu, tanh, sigmoid, gelu"),
        (7, "pick a layer type: conv, activation, pool, batchnorm, dropout, linear"),
        (8, "size must be a whole number from 1 to 1,024 (got 0)"),
    ]
    assert network.layers == PRESETS["tutorial"].architecture.layers  # the complete rows, in order
    assert layer_table.complete_part([layer_table.row(type="conv")])[0] is None
