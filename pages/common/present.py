"""Presenter mode: text and charts a room can read from the back, on a 1024x768 projector.

Turned on by the sidebar's toggle, or by `?present=1` in the address (so a link opens in it;
the address follows the toggle, through state.linked). It makes every size on the page larger at once: Streamlit
sizes text, widgets and spacing in rem, so a larger root font (ROOT_PX) scales them together,
and the page's padding, which would grow with it, is set back to a projector's needs. The
sidebar starts folded, and the Train page puts the few settings that matter, the pace controls,
the live loss chart and the picture strip on one screen (see pages/views/train.py). Charts read
`chart_font()` (and the SVG charts' common.LIVE_CHART_SIZE) so their labels stay at least 16 px on the screen.
"""

from __future__ import annotations

import streamlit as st

from . import state

KEY = state.widget_key("present")
ROOT_PX = 22  # body text in presenter mode (Streamlit's default is 16 px)
# Streamlit's own sizes in rem grow with the root; these are set back so the content has room.
CSS = f"""
html {{ font-size: {ROOT_PX}px; }}
[data-testid="stMainBlockContainer"] {{ padding: 3rem 1rem 2rem 1rem; max-width: none; }}
[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] {{ gap: 0.6rem; }}
.stMain h1 {{ font-size: 1.6rem; padding: 0; }}
/* Labels, captions and small print as large as the body: the back row reads them too. */
.stMain p:not([data-testid="stMetricValue"] p), .stMain li, .stMain label, [data-testid="stCaptionContainer"] {{
  font-size: 1rem;
}}
.stMain h2, .stMain h3 {{ font-size: 1.2rem; padding: 0.25rem 0; }}
/* The header (Streamlit's 3.75rem, 83 px here) would cover the title: as low as its buttons allow. */
[data-testid="stHeader"], [data-testid="stToolbar"] {{ height: 2.8rem !important; min-height: 0 !important; }}
"""


def on() -> bool:
    """Whether this tab is in presenter mode (the toggle, or `?present=1` on arrival)."""
    state.linked("present", KEY, parse=lambda text: text == "1", to_text=lambda value: "1" if value else None)
    return bool(st.session_state.setdefault(KEY, False))


def toggle() -> None:
    """The sidebar's switch; in presenter mode, the page's larger sizes."""
    presenting = on()
    st.sidebar.toggle(
        "Presenter mode",
        key=KEY,
        help="Large text and charts for a projector, the sidebar folded away, and on Train the live chart, "
        "its controls and the pictures on one screen. The address keeps it (?present=1), so a link opens in it.",
    )
    if presenting:
        st.html(f"<style>{CSS}</style>")


def chart_font() -> int:
    """Plotly's font size: its tick labels at least 16 px, larger for a room."""
    return 20 if on() else 16
