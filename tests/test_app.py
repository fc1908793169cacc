"""The app under Streamlit's own test harness."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_app_starts_and_shows_the_seed_network():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.metric[0].value == "296,130"
    at.selectbox[0].select("seed-2conv").run()
    assert not at.exception
    assert at.metric[0].value != "296,130"
