"""Deep link to the Sweep page. Streamlit runs pages/*.py directly on a server's first visit by a
deep link (its old convention), before app.py has ever run; this runs the app instead, which takes
over navigation from then on. The page itself is pages/views/sweep.py."""

from pages.common import run_app

run_app()
