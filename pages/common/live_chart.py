"""The live loss chart: new points drawn in the browser as they happened, five frames a second.

A page update through Streamlit costs a browser without a GPU about 40 ms of CPU whatever it
holds, and on a 2-core machine that CPU comes out of the training run: four updates a second
took 45% of a free-running run's speed (scripts/app_speed.py, docs/benchmarks.md). So while a run
trains free the server sends the chart every few seconds (LIVE_SECONDS on Train), and this component
plays each update's new stretch of curve in over as long as it took to arrive: the curves grow
from left to right, in order and at the pace they were trained, one update behind. At a demo
pace the updates come four times a second and each is played in over a quarter second.

The chart is svg_chart's picture, put in the page as SVG. Its curves are one group that says
how far right it reaches (`data-reach`); the component hides that group and strokes the curves
into a canvas laid over the picture, each frame only the stretch that is new, so a frame costs
the browser a few milliseconds. The frames are counted on the chart's box (`data-frames`), so
that scripts/app_speed.py can measure what the audience sees.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

FRAME_MS = 200  # five frames a second: smooth enough to watch; each frame costs the browser ~5 ms
LONGEST_MS = 3000  # an update that took longer (a busy machine) is played in at most this long

_JS = (Path(__file__).parent / "live_chart.js").read_text()

_chart = st.components.v2.component("cnn_live_chart", js=_JS, isolate_styles=False)


def live_chart(svg: str, run: str, key: str) -> None:
    """Show svg_chart picture `svg` of run `run`, playing its new curve in since the last one."""
    _chart(data={"svg": svg, "run": run, "frame_ms": FRAME_MS, "longest": LONGEST_MS}, key=key)
