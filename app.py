"""The dashboard: `streamlit run app.py`.

Wires the pages together with st.navigation, keeps each page's settings while the user looks at
other pages, and draws the sidebar (current data set, the run every page shows). The pages are
in pages/; all the work they ask for is done by cnn_core.
"""

from pathlib import Path

import streamlit as st

from cnn_core.errors import CnnCoreError
from pages import common

ICON = Path(__file__).parent / "assets" / "icon.png"
st.set_page_config(
    page_title="CNN dashboard",
    page_icon=str(ICON),  # a file of ours: a Material icon as the tab's icon is fetched from the internet
    layout="wide",
    initial_sidebar_state="collapsed" if common.present.on() else "expanded",  # presenter mode: folded
)
common.keep_widget_values()

navigation = st.navigation(
    {
        "Start": [st.Page(common.PAGES["home"], title="Welcome", icon=":material/waving_hand:", default=True)],
        "Build and train": [
            st.Page(common.PAGES["train"], title="Train", icon=":material/play_circle:"),
            st.Page(common.PAGES["sweep"], title="Sweep", icon=":material/tune:"),
            st.Page(common.PAGES["architecture"], title="Architecture", icon=":material/account_tree:"),
        ],
        "Look inside": [
            st.Page(common.PAGES["inside"], title="Filters and feature maps", icon=":material/grid_view:"),
            st.Page(common.PAGES["metrics"], title="Metrics", icon=":material/analytics:"),
            st.Page(common.PAGES["convolution"], title="Convolution", icon=":material/blur_on:"),
        ],
        "Compare": [st.Page(common.PAGES["runs"], title="Runs", icon=":material/compare_arrows:")],
    }
)
common.sidebar(navigation.url_path)
try:
    navigation.run()
except CnnCoreError as error:  # a damaged run or file the page did not expect: a message, not a traceback
    common.error_box(error)
common.link_box()  # the page's choices into the address, and a link to copy
# A training process gets ready in the background from the first page on, so that Start shows
# the run training within a couple of seconds (the registry does nothing while a run trains).
common.registry().warm_worker()
