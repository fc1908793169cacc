"""Line and bar charts drawn as one SVG picture: the Train page's curves while a run trains, and
the bars of a layer's outputs on the feature-map page.

Redrawing a Plotly chart costs a browser without a GPU many times the CPU of replacing one
picture (docs/benchmarks.md, "The app while it trains"), and on a 2-core machine that CPU comes
out of the training run. The same curves as an SVG picture are one image, with no script, so the
live curves can follow the run as it trains. Once the run has ended the page shows the
interactive Plotly charts instead (hover, zoom), drawn in the same colours. The feature-map
page's bars were Vega-Lite charts, slow to draw the first time for the same reason.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 800, 390  # SVG units; the picture is scaled to the column's width
LEFT, RIGHT, TOP, BOTTOM = 78, 24, 52, 96  # the plot area's margins: tick labels, titles, legend
FONT = "'Source Sans Pro', Helvetica, Arial, sans-serif"  # in a picture the page's web font is not available
MAX_POINTS = 600  # more points than this are thinned (keeping each stretch's lowest and highest)
MAX_MARKERS = 60  # series with more points than this are drawn without dots
BAR_HEIGHT = 260  # a bar chart is lower: it sits under its own heading, with no legend


MARK_COLOUR = "#c92a2a"


@dataclass(frozen=True)
class Mark:
    x: float
    y: float | None  # None (or not finite): at the top of the chart
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    x: Sequence[float]
    y: Sequence[float | None]  # None, NaN and infinities leave a gap
    width: float = 2.0
    markers: bool = False
    ghost: bool = False  # an earlier run's curve, drawn faded and whole (a live chart does not play it in)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (steps of 1, 2, 2.5 or 5 times a power of ten) from low to high."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    # Multiples of the step, not a running sum: no 0.30000000000000004.
    return [round(k * step, 12) for k in range(first, last + 1)]


def nice_ceiling(value: float) -> float:
    """The smallest round value (1, 2, 2.5 or 5 times a power of ten) at or above a positive value."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= value * (1 - 1e-9))


def thin(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most about `limit` points that draw the same outline: the first and the last, and of
    each stretch of points its lowest and highest, in order (a spike stays visible)."""
    if len(points) <= limit:
        return points
    size = math.ceil(len(points) / (limit // 2))
    keep = {0, len(points) - 1}
    for start in range(0, len(points), size):
        stretch = range(start, min(start + size, len(points)))
        keep.add(min(stretch, key=lambda i: points[i][1]))
        keep.add(max(stretch, key=lambda i: points[i][1]))
    return [points[i] for i in sorted(keep)]


def _segments(series: Series) -> list[list[tuple[float, float]]]:
    """The series' drawable points, split where a value is missing or not finite."""
    segments, current = [], []
    for x, y in zip(series.x, series.y, strict=True):
        if y is None or not math.isfinite(y) or not math.isfinite(x):
            if current:
                segments.append(current)
            current = []
        else:
            current.append((float(x), float(y)))
    if current:
        segments.append(current)
    return segments


def _label(value: float) -> str:
    return f"{value:g}"


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _frame(
    *,
    title: str,
    x_title: str,
    y_title: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    x_ticks: list[float],
    width: int = WIDTH,
    height: int = HEIGHT,
    top: int = TOP,
    bottom: int = BOTTOM,
    heading: bool = True,
):
    """The picture's opening, title (written as a heading unless `heading` is False), grid, tick
    labels and axis titles; and the functions from data to picture coordinates."""
    x0, x1 = x_range
    y0, y1 = y_range
    plot_w, plot_h = width - LEFT - RIGHT, height - top - bottom

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (min(max(y, y0), y1) - y0) / (y1 - y0) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'font-family="{FONT}" font-size="17" fill="#31333f">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if heading:
        out.append(_text(LEFT, 30, title, ' font-size="22"'))
    for t in nice_ticks(y0, y1):
        y = sy(t)
        out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e8e8ee"/>')
        out.append(_text(LEFT - 8, y + 6, _label(t), ' text-anchor="end"'))
    for t in x_ticks:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#f0f0f4"/>')
        out.append(_text(x, top + plot_h + 22, _label(t), ' text-anchor="middle"'))
    out.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#9a9aa6"/>')
    out.append(_text(LEFT + plot_w / 2, top + plot_h + 46, x_title, ' text-anchor="middle"'))
    middle = top + plot_h / 2
    out.append(_text(0, 0, y_title, f' transform="translate(22 {middle:.1f}) rotate(-90)" text-anchor="middle"'))
    return out, sx, sy


LEGEND_ROW = 26  # picture units between rows of a legend that does not fit in one


def _legend_rows(series: Sequence[Series], width: int) -> list[list[tuple[float, Series]]]:
    """Where each legend entry goes: rows of (x, series), a new row where the next would pass the
    right edge (an entry is its line, a gap and its name at about 9 units a letter)."""
    rows: list[list[tuple[float, Series]]] = [[]]
    x = float(LEFT)
    for s in series:
        size = 36 + 9 * len(s.name)
        if rows[-1] and x + size > width - RIGHT:
            rows.append([])
            x = float(LEFT)
        rows[-1].append((x, s))
        x += size + 28
    return rows


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_title: str,
    y_title: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float] | None = None,
    marks: Sequence[Mark] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """An SVG line chart, as text for st.image. Without y_range the y axis runs from 0 (or the
    lowest value, if negative) to a round value at or above the highest; with it, values beyond
    it are drawn at its edge. `marks` are labelled points ("the loss exploded here"). A smaller
    `width` and `height` (in picture units; the labels keep their size) give larger labels on the
    screen; the legend then takes as many rows as it needs."""
    legend = _legend_rows(series, width)
    segments = [_segments(s) for s in series]
    values = [y for segs in segments for seg in segs for _, y in seg]
    if y_range is None:
        low = min([0.0, *values])
        y_range = (low, nice_ceiling(max(values)) if values and max(values) > low else low + 1.0)
    x0, x1 = x_range
    y0, y1 = y_range
    x1 = x1 if x1 > x0 else x0 + 1.0
    y1 = y1 if y1 > y0 else y0 + 1.0
    out, sx, sy = _frame(
        title=title,
        x_title=x_title,
        y_title=y_title,
        x_range=(x0, x1),
        y_range=(y0, y1),
        x_ticks=nice_ticks(x0, x1, count=min(8 if x1 - x0 >= 8 else max(1, round(x1 - x0)), width // 70)),
        width=width,
        height=height + LEGEND_ROW * (len(legend) - 1),
        bottom=BOTTOM + LEGEND_ROW * (len(legend) - 1),
    )
    # The curves in one group, which says how far right they reach: a live chart reveals them
    # from left to right as they happened (see live_chart.py).
    live = [(s, segs) for s, segs in zip(series, segments, strict=True) if not s.ghost]
    reach = max((sx(x) for _, segs in live for seg in segs for x, _ in seg), default=float(LEFT))
    ghosts = [(s, segs) for s, segs in zip(series, segments, strict=True) if s.ghost]
    if ghosts:
        out.append('<g class="ghost" opacity="0.45">')
        for s, segs in ghosts:
            for seg in segs:
                points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in thin(seg))
                out.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="{s.width:g}" '
                           f'stroke-dasharray="6 5" points="{points}"/>')  # fmt: skip
        out.append("</g>")
    out.append(f'<g class="data" data-reach="{reach + 6:.1f}">')
    for s, segs in live:
        for seg in segs:
            drawn = thin(seg)
            points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in drawn)
            out.append(
                f'<polyline fill="none" stroke="{s.colour}" stroke-width="{s.width:g}" '
                f'stroke-linejoin="round" stroke-linecap="round" points="{points}"/>'
            )
            if s.markers and len(seg) <= MAX_MARKERS:
                out.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="{s.colour}"/>' for x, y in seg)
    out.append("</g>")
    for mark in marks:
        x, y = sx(mark.x), sy(y1 if mark.y is None or not math.isfinite(mark.y) else mark.y)
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="none" stroke="{MARK_COLOUR}" stroke-width="3"/>')
        anchor = "end" if x > LEFT + (width - LEFT - RIGHT) * 0.6 else "start"
        shift = -14 if anchor == "end" else 14
        out.append(_text(x + shift, y + 24, mark.label, f' text-anchor="{anchor}" fill="{MARK_COLOUR}" font-size="18"'))
    # The legend, in rows under the axis title.
    for row, items in enumerate(legend):
        for x, s in items:
            y = height - 16 + LEGEND_ROW * row
            stroke = f'stroke="{s.colour}" stroke-width="{s.width:g}"' + (
                ' stroke-dasharray="6 5" opacity="0.45"' if s.ghost else ""
            )
            out.append(f'<line x1="{x}" x2="{x + 28}" y1="{y - 6}" y2="{y - 6}" {stroke}/>')
            if s.markers:
                out.append(f'<circle cx="{x + 14}" cy="{y - 6}" r="5" fill="{s.colour}"/>')
            out.append(_text(x + 36, y, s.name))
    out.append("</svg>")
    return "".join(out)


def bar_chart(values: Sequence[float], *, title: str, x_title: str, y_title: str, colour: str = "#1f77b4") -> str:
    """An SVG bar chart of values 0, 1, 2, ... (a layer's outputs), as text for st.image: bars
    from zero, so negative values hang below it; non-finite values are left out. `title` is the
    picture's accessible name; the page writes its own heading above it."""
    finite = [v for v in values if math.isfinite(v)]
    low = -nice_ceiling(-min(finite)) if finite and min(finite) < 0 else 0.0
    high = nice_ceiling(max(finite)) if finite and max(finite) > 0 else 0.0
    if high <= low:
        high = low + 1.0
    n = max(1, len(values))
    out, sx, sy = _frame(
        title=title,
        x_title=x_title,
        y_title=y_title,
        x_range=(-0.5, n - 0.5),
        y_range=(low, high),
        x_ticks=nice_ticks(0, n - 1, count=min(8, n - 1)) if n > 1 else [0],
        height=BAR_HEIGHT,
        top=16,
        bottom=62,
        heading=False,
    )
    width = 0.8 * (sx(1) - sx(0))
    zero = sy(0.0)
    for i, v in enumerate(values):
        if math.isfinite(v):
            top, bottom = sorted((sy(v), zero))
            out.append(
                f'<rect x="{sx(i) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{bottom - top:.1f}" fill="{colour}"/>'
            )
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#9a9aa6"/>')
    out.append("</svg>")
    return "".join(out)


def picture_strip(pictures: Sequence[bytes], captions: Sequence[str], right: Sequence[bool], columns: int = 5) -> str:
    """Small PNG pictures in rows, each with a two-line caption under it ("cat" / "87%"), green
    where the network is right and red where it is wrong, as one SVG for st.image."""
    cell_w = WIDTH / columns
    size, text = cell_w * 0.56, 34  # large captions: the picture is scaled down in a narrow column
    rows = math.ceil(len(pictures) / columns)
    cell_h = size + 2 * text + 14
    height = int(rows * cell_h) + 8
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="34">',
        "<title>What the network says about these test pictures now</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for i, (png, caption, ok) in enumerate(zip(pictures, captions, right, strict=True)):
        row, column = divmod(i, columns)
        x, y = column * cell_w + (cell_w - size) / 2, row * cell_h + 8
        data = base64.b64encode(png).decode()
        out.append(
            f'<image x="{x:.1f}" y="{y:.1f}" width="{size:.1f}" height="{size:.1f}" style="image-rendering:pixelated" '
            f'href="data:image/png;base64,{data}"/>'
        )
        colour = "#2b8a3e" if ok else MARK_COLOUR
        centre = column * cell_w + cell_w / 2
        first, _, second = caption.partition("\n")
        # A long name ("automobile") is squeezed into its cell rather than cut at the picture's edge.
        squeeze = 0.5 * text * len(first) > cell_w - 8
        fit = f' textLength="{cell_w - 8:.0f}" lengthAdjust="spacingAndGlyphs"' if squeeze else ""
        bold = f' text-anchor="middle" fill="{colour}" font-weight="600"{fit}'
        out.append(_text(centre, y + size + text, first, bold))
        out.append(_text(centre, y + size + 2 * text, second, f' text-anchor="middle" fill="{colour}"'))
    out.append("</svg>")
    return "".join(out)
