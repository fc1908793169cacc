"""The live charts drawn as SVG: the curves land where the axes say, gaps stay gaps, long runs
are thinned without losing their spikes, and names cannot break the picture."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from cnn_core.curves import curves
from pages import common
from pages.common.svg_chart import MAX_POINTS, Series, bar_chart, line_chart, nice_ceiling, nice_ticks, thin

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # also checks that the picture is well-formed XML


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in line.get("points").split()] for line in root.iter(f"{SVG}polyline")
    ]


def axis_maps(root: ET.Element, x_title: str = "epoch"):
    """value -> pixel maps recovered from the tick labels the chart prints and the grid line drawn
    with each: the oracle for where the points must be, independent of the chart's arithmetic."""
    children = list(root)
    x_ticks, y_ticks = [], []
    for before, element in itertools.pairwise(children):
        if element.tag != f"{SVG}text" or before.tag != f"{SVG}line":
            continue
        if element.get("text-anchor") == "end":  # a y tick label after its horizontal grid line
            y_ticks.append((float(element.text), float(before.get("y1"))))
        elif element.get("text-anchor") == "middle" and element.text != x_title:  # an x tick label
            x_ticks.append((float(element.text), float(before.get("x1"))))

    def fit(pairs):
        (v0, p0), (v1, p1) = pairs[0], pairs[-1]
        return lambda v: p0 + (v - v0) * (p1 - p0) / (v1 - v0)

    return fit(x_ticks), fit(y_ticks)


def test_points_are_drawn_where_the_axis_labels_say():
    xs = [0.1 * i for i in range(1, 31)]
    ys = [2.3 / (1 + x) for x in xs]
    root = parse(
        line_chart([Series("loss", "#1f77b4", xs, ys)], title="Loss", x_title="epoch", y_title="loss", x_range=(0, 5))
    )
    to_px, to_py = axis_maps(root)
    (line,) = polylines(root)
    assert len(line) == len(xs)
    for (px, py), x, y in zip(line, xs, ys, strict=True):
        assert px == pytest.approx(to_px(x), abs=0.11)
        assert py == pytest.approx(to_py(y), abs=0.11)
    # The x axis spans the whole run (5 epochs) while only 3 are done; the y axis starts at 0 and
    # ends at a round value above the highest loss.
    labels = [float(t.text) for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert labels[0] == 0 and 2.3 <= labels[-1] <= 3
    assert "5" in [t.text for t in root.iter(f"{SVG}text")]


def test_missing_and_non_finite_values_leave_gaps():
    series = Series("s", "#000", [1, 2, 3, 4, 5, 6, 7], [1.0, 2.0, None, 3.0, 4.0, math.nan, math.inf])
    root = parse(line_chart([series], title="t", x_title="x", y_title="y", x_range=(0, 7)))
    assert [len(line) for line in polylines(root)] == [2, 2]


def test_markers_are_drawn_for_epoch_series_only():
    history = [  # more batch points than a chart marks with dots
        {"kind": "batch", "epoch": 1 + (i - 1) // 20, "epoch_progress": i / 20, "train_loss": 2 - i / 40}
        for i in range(1, 41)
    ]
    history += [
        {"kind": "epoch", "epoch_progress": e, "val_loss": 1.5, "train_accuracy": 0.4, "val_accuracy": 0.35}
        for e in (1, 2)
    ]
    c = curves(history)
    loss, accuracy = common.live_loss_chart(c, epochs=5), common.live_accuracy_chart(c, epochs=5)
    root = parse(loss)
    # Two validation points, plus the legend's dot for the validation series.
    assert len(list(root.iter(f"{SVG}circle"))) == 2 + 1
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "training loss (mean per 10%)" in texts and "validation loss" in texts
    root = parse(accuracy)
    to_px, to_py = axis_maps(root)
    train, val = polylines(root)
    assert train[0] == (pytest.approx(to_px(1), abs=0.11), pytest.approx(to_py(40), abs=0.11))
    assert val[1] == (pytest.approx(to_px(2), abs=0.11), pytest.approx(to_py(35), abs=0.11))


def test_a_run_without_points_yet_still_draws_its_axes():
    for svg in (common.live_loss_chart(curves([]), 3), common.live_accuracy_chart(curves([]), 3)):
        root = parse(svg)
        assert polylines(root) == [] and len(list(root.iter(f"{SVG}text"))) > 5


def test_long_runs_are_thinned_but_keep_their_extremes_and_end():
    points = [(i / 100, 1 + math.sin(i / 50)) for i in range(100_000)]
    points[54_321] = (543.21, 50.0)  # one spike
    kept = thin(points)
    assert len(kept) <= MAX_POINTS + 2
    assert kept[0] == points[0] and kept[-1] == points[-1]
    assert (543.21, 50.0) in kept
    assert min(p[1] for p in kept) == min(p[1] for p in points)
    assert [p[0] for p in kept] == sorted(p[0] for p in kept)  # still in order
    assert thin(points[:10]) == points[:10]


def test_names_are_escaped():
    svg = line_chart(
        [Series("<script>alert(1)</script> & co", "#000", [0, 1], [0, 1])],
        title='a "title" <b>',
        x_title="x",
        y_title="y",
        x_range=(0, 1),
    )
    root = parse(svg)
    assert "<script>" not in svg
    assert "<script>alert(1)</script> & co" in [t.text for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(
    ("low", "high", "count"), [(0, 2.3, 5), (0, 100, 5), (0, 60, 8), (0, 7, 7), (-3.2, 41, 5), (0, 1e-4, 5)]
)
def test_ticks_are_round_evenly_spaced_and_inside_the_range(low, high, count):
    ticks = nice_ticks(low, high, count)
    assert count // 2 <= len(ticks) <= 2 * count + 1
    assert all(low - 1e-12 <= t <= high + 1e-12 for t in ticks)
    steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 2.5, 5)
    assert all(round(t / step, 9) == round(t / step) for t in ticks)  # multiples of the step


def test_nice_ceiling_is_round_and_not_below_the_value():
    for value in (0.07, 1.0, 2.31, 9.9, 153, 1e6 + 1):
        top = nice_ceiling(value)
        assert value <= top <= 1.5 * value + 1e-12
    assert nice_ceiling(0) == 1.0 and nice_ceiling(math.nan) == 1.0


def test_series_with_the_same_name_are_each_drawn():
    # e.g. two runs' "training" curves: the chart must not merge them by name
    series = [Series("training", "#000", [0, 1], [1.0, 2.0]), Series("training", "#f00", [0, 1], [3.0, 4.0])]
    root = parse(line_chart(series, title="t", x_title="x", y_title="y", x_range=(0, 1)))
    colours = [line.get("stroke") for line in root.iter(f"{SVG}polyline")]
    assert colours == ["#000", "#f00"]
    _, to_py = axis_maps(root, x_title="x")
    first, second = polylines(root)
    assert [y for _, y in first] == pytest.approx([to_py(1.0), to_py(2.0)], abs=0.11)
    assert [y for _, y in second] == pytest.approx([to_py(3.0), to_py(4.0)], abs=0.11)


def test_bars_stand_on_zero_and_reach_their_values_on_the_axis():
    values = [2.5, -1.2, 0.0, 7.9, float("nan"), 0.4, -3.3]
    root = parse(bar_chart(values, title="Outputs of layer 4", x_title="unit", y_title="value"))
    to_px, to_py = axis_maps(root, x_title="unit")
    bars = [
        (float(r.get("x")), float(r.get("y")), float(r.get("width")), float(r.get("height")))
        for r in list(root.iter(f"{SVG}rect"))[1:]  # after the background
    ]
    drawn = [i for i, v in enumerate(values) if math.isfinite(v)]
    assert len(bars) == len(drawn)  # the NaN has no bar, and the others keep their places
    for (x, y, w, h), i in zip(bars, drawn, strict=True):
        assert x + w / 2 == pytest.approx(to_px(i), abs=0.11)
        top, bottom = sorted((to_py(values[i]), to_py(0.0)))
        assert y == pytest.approx(top, abs=0.11) and y + h == pytest.approx(bottom, abs=0.11)
    # Every bar inside the plot area (the vertical grid lines span it), the longest ones too.
    grid = [line for line in root.iter(f"{SVG}line") if line.get("x1") == line.get("x2")]
    plot_top, plot_bottom = float(grid[0].get("y1")), float(grid[0].get("y2"))
    assert all(plot_top <= y and y + h <= plot_bottom for _, y, _, h in bars)


def test_a_layer_of_zeros_still_draws_an_axis():
    root = parse(bar_chart([0.0] * 64, title="t", x_title="unit", y_title="value"))
    assert [r.get("height") for r in list(root.iter(f"{SVG}rect"))[1:]] == ["0.0"] * 64


def test_the_picture_strip_captions_every_picture_in_its_colour():
    import io

    from PIL import Image

    from pages.common.svg_chart import MARK_COLOUR, picture_strip

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(buffer, format="PNG")
    svg = picture_strip([buffer.getvalue()] * 7, [f"cat\n{i}0%" for i in range(7)], [True, False] * 3 + [True])
    root = parse(svg)
    assert len(list(root.iter(f"{SVG}image"))) == 7
    texts = list(root.iter(f"{SVG}text"))
    assert [t.text for t in texts][:4] == ["cat", "00%", "cat", "10%"]
    assert texts[0].get("fill") != MARK_COLOUR and texts[2].get("fill") == MARK_COLOUR  # right, then wrong


def test_an_earlier_runs_ghost_is_drawn_whole_and_faded_and_the_live_reach_is_the_new_runs():
    """A live chart plays in its curves up to data-reach (live_chart.js); the parent's ghost is
    outside that group, so all of it shows from the start, dashed and faded, at the right values."""
    ghost = Series("before: training", "#1f77b4", [1, 2, 3, 4], [2.0, 1.5, 1.2, 1.0], ghost=True)
    now = Series("training loss", "#1f77b4", [0.5, 1.0], [2.1, 1.8])
    root = parse(line_chart([ghost, now], title="Loss · augment off -> on", x_title="epoch", y_title="loss",
                            x_range=(0, 4)))  # fmt: skip
    to_px, to_py = axis_maps(root)
    groups = {g.get("class"): g for g in root.iter(f"{SVG}g")}
    assert float(groups["ghost"].get("opacity")) < 1
    (drawn,) = polylines(groups["ghost"])
    expected = [(to_px(x), to_py(y)) for x, y in zip(ghost.x, ghost.y, strict=True)]
    assert [pytest.approx(p, abs=0.11) for p in expected] == drawn
    assert float(groups["data"].get("data-reach")) == pytest.approx(to_px(1.0) + 6, abs=0.2)
    assert "before: training" in [t.text for t in root.iter(f"{SVG}text")]
