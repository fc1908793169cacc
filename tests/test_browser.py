"""The whole app in a real browser: `streamlit run app.py` driven by Debian's Chromium.

Skipped with a message where no browser is installed (outside CI); in CI a missing browser is a
failure, since .ci/run installs it. Screenshots of the main pages go to $SCREENSHOT_DIR when set
(the README's pictures in docs/ were taken this way).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOW = "install one with: apt-get install -y chromium && pip install playwright"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

if sync_playwright is None or not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(f"the browser test needs Chromium and Playwright in CI; {HOW}", pytrace=False)
    pytest.skip(f"no browser for the end-to-end test; {HOW}", allow_module_level=True)

PAGES = ["", "train", "architecture", "inside", "metrics", "convolution", "runs"]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(work: Path):
    """`streamlit run app.py` with its runs and data under `work`, until the block ends."""
    port = free_port()
    env = {**os.environ, "CNN_RUNS_DIR": str(work / "runs"), "CNN_DATA_DIR": str(work / "data")}
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"the app did not start: {(work / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def keep_local(page) -> list[str]:
    """Refuse, and note, every request the page makes to a host other than the app's: the app
    works offline and no request leaves the machine."""
    outside: list[str] = []

    def handle(route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urllib.parse.urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", handle)
    return outside


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.outside = keep_local(page)
    page.goto(url)
    page.get_by_test_id("stMain").wait_for(timeout=30_000)
    return page


def settle(page) -> None:
    """Wait until the page's script has drawn its title and Streamlit has finished running it."""
    page.locator("h1").first.wait_for(timeout=60_000)
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=60_000)


def assert_no_exception(page, where: str) -> None:
    assert page.get_by_test_id("stException").count() == 0, f"{where} shows an exception"


def shoot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def start_training(page, epochs: int) -> None:
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(epochs))
    box.press("Enter")
    settle(page)
    page.get_by_role("button", name="Start training").click()


def test_every_page_opens_a_run_trains_live_and_stop_works(server, browser):
    # A fresh server's first visit by a deep link still goes through app.py: navigation, no
    # "page not found" dialog (Streamlit's old pages/ convention would otherwise take over).
    page = open_page(browser, f"{server}/metrics")
    settle(page)
    expect(page.get_by_test_id("stSidebarNav")).to_contain_text("Welcome")
    assert page.get_by_role("dialog").count() == 0
    for path in PAGES:
        page.goto(f"{server}/{path}")
        page.get_by_test_id("stMain").wait_for()
        settle(page)
        assert_no_exception(page, path or "welcome")

    # A short run: the loss chart draws and the run ends with its metrics.
    page.goto(f"{server}/train")
    settle(page)
    shoot(page, "train")
    start_training(page, epochs=10)
    expect(page.get_by_text("images/s")).to_be_visible(timeout=30_000)
    # While it trains, the curves are SVG pictures (cheap for the browser to redraw)...
    expect(page.locator("img[src^='data:image/svg+xml']").first).to_be_visible(timeout=30_000)
    # A curve with some points; the run is fast, so accept any later epoch the poll happens to show.
    expect(page.get_by_text(re.compile(r"Epoch ([3-9]|10) of 10")).first).to_be_visible(timeout=60_000)
    page.locator("h1").first.scroll_into_view_if_needed()
    shoot(page, "train-live")
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Run completed", timeout=180_000)
    # ...and interactive charts once it has ended.
    expect(page.locator(".js-plotly-plot .scatterlayer .trace").first).to_be_attached(timeout=30_000)
    assert page.locator("img[src^='data:image/svg+xml']").count() == 0
    assert_no_exception(page, "train after a run")

    # Two sessions at once: one long run in a second tab, stopped while the first tab trains again.
    other = open_page(browser, f"{server}/train")
    settle(other)
    start_training(other, epochs=50)
    expect(other.get_by_text("images/s")).to_be_visible(timeout=30_000)
    page.goto(f"{server}/train")
    settle(page)
    start_training(page, epochs=1)
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Run completed", timeout=180_000)
    expect(other.get_by_text("images/s")).to_be_visible()  # still training, undisturbed
    # The run's Stop, not the header's (Streamlit's, which stops a script run that is taking a while).
    other.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").first.click()
    expect(other.get_by_test_id("stAlertContentWarning")).to_contain_text("Run stopped", timeout=60_000)
    assert_no_exception(other, "train after Stop")

    # The pages that show a run, now that there are three.
    for path, name in (
        ("metrics", "metrics"),
        ("inside", "feature-maps"),
        ("architecture", "architecture"),
        ("runs", "runs"),
        ("convolution", "convolution"),
        ("", "welcome"),
    ):
        page.goto(f"{server}/{path}")
        settle(page)
        assert_no_exception(page, path or "welcome")
        shoot(page, name)

    # Runs: tick two rows of the table (a canvas grid: click where the row checkboxes are drawn).
    page.goto(f"{server}/runs")
    settle(page)
    grid = page.get_by_test_id("stDataFrame").first
    grid.wait_for()
    page.wait_for_timeout(1500)
    box = grid.bounding_box()
    for row in (1, 2):
        page.mouse.click(box["x"] + 15, box["y"] + 35 * row + 17)
        settle(page)
    expect(page.get_by_text("What differs between them")).to_be_visible(timeout=30_000)
    assert_no_exception(page, "runs compare")
    page.wait_for_timeout(1000)
    shoot(page, "runs-compare")

    # Metrics: clicking the cat/dog cell of the confusion matrix shows those pictures.
    page.goto(f"{server}/metrics")
    settle(page)
    matrix = page.locator(".js-plotly-plot").filter(has=page.locator(".heatmaplayer")).first
    matrix.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    area = matrix.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(area["x"] + area["width"] * 5.5 / 10, area["y"] + area["height"] * 3.5 / 10)  # row cat, col dog
    expect(page.get_by_text("test pictures of cat that the network called dog")).to_be_visible(timeout=30_000)
    assert_no_exception(page, "metrics after a click")
    # Every page of the app, a run, two tabs: not one request to another host (no icon font, no CDN).
    assert page.outside == [] and other.outside == [], page.outside + other.outside


def test_an_uploaded_archive_keeps_its_notes_on_the_page_and_survives_a_restart(browser, tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_datasets import class_files, make_zip

    archive = make_zip(
        tmp_path / "my pets.zip", {**class_files(per_class=8), "red/broken.png": b"not a picture", "__MACOSX/._x": b""}
    )
    work = tmp_path / "server"
    work.mkdir()
    with serve(work) as url:
        page = open_page(browser, f"{url}/train")
        settle(page)
        page.get_by_text("Use your own images").click()
        page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(archive))
        page.get_by_role("button", name="Import these images").click()
        expect(page.get_by_text("Imported my pets.zip")).to_be_visible(timeout=60_000)
        note = page.get_by_text("1 file could not be read as a picture and was skipped: 'red/broken.png'")
        expect(note).to_be_visible()
        page.wait_for_timeout(2500)  # the notes are not wiped by a later rerun
        expect(note).to_be_visible()
        assert_no_exception(page, "train after an import")
    with serve(work) as url:  # a restart: the import is still listed, and selectable
        page = open_page(browser, f"{url}/train")
        settle(page)
        page.get_by_test_id("stSelectbox").filter(has_text="Data set").click()
        option = page.get_by_role("option", name=re.compile(r"Your images: my pets \(24 pictures"))
        expect(option).to_be_visible(timeout=10_000)
        option.click()
        settle(page)
        expect(page.get_by_text("Imported from my pets.zip", exact=False)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("'red/broken.png'", exact=False).first).to_be_visible()
        assert_no_exception(page, "train after a restart")
