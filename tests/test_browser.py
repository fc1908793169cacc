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

PAGES = ["", "train", "sweep", "architecture", "inside", "metrics", "convolution", "runs"]
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


class Served(str):
    """The app's address, knowing the folder its runs are in."""

    work: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("app")
    with serve(work) as url:
        served = Served(url)
        served.work = work
        yield served


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


# Every element in the page with text of its own whose content is wider than its box: clipped,
# cut to "...", or behind a horizontal scroll; in a chart drawn as SVG (Plotly, Graphviz), every
# text that reaches past the chart's edge; every table whose columns do not all fit. Hidden
# elements (a folded sidebar, a closed expander) are skipped.
CUT_OFF = """() => {
  const out = [];
  for (const el of document.querySelectorAll("[data-testid='stMain'] *, [data-testid='stSidebar'] *")) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!text || !el.checkVisibility({ visibilityProperty: true })) continue;
    if (el.getBoundingClientRect().right <= 0) continue;  // in the folded sidebar, off the screen
    let cut;
    if (el instanceof SVGElement) {
      let svg = el.ownerSVGElement;
      while (svg.ownerSVGElement) svg = svg.ownerSVGElement;
      const box = svg.getBoundingClientRect(), r = el.getBoundingClientRect();
      cut = r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1);
    } else {  // text in an inline element is clipped by the first block around it
      let box = el;
      const inline = (e) => ["inline", "contents"].includes(getComputedStyle(e).display);
      while (inline(box) && box.parentElement) box = box.parentElement;
      cut = box.scrollWidth > box.clientWidth + 1;
    }
    if (cut) {
      out.push({ text: text.slice(0, 60), tag: el.tagName, test: el.closest("[data-testid]")?.dataset.testid,
                 scroll: el.scrollWidth, client: el.clientWidth });
    }
  }
  // A picker or number box shows its value in an input, which clips it without a word.
  for (const input of document.querySelectorAll("[data-testid='stMain'] input, [data-testid='stSidebar'] input")) {
    if (input.value && input.checkVisibility() && input.getBoundingClientRect().right > 0
        && input.scrollWidth > input.clientWidth + 1) {
      out.push({ text: input.value.slice(0, 60), tag: "INPUT", test: input.closest("[data-testid]")?.dataset.testid,
                 scroll: input.scrollWidth, client: input.clientWidth });
    }
  }
  // A table is drawn on a canvas: its columns are cut when its scroller is wider than its box.
  // Runs' table of every setting of every run may scroll: its key numbers come first.
  for (const grid of document.querySelectorAll("[data-testid='stDataFrame'] .dvn-scroller")) {
    if (grid.closest(".st-key-wide_table")) continue;
    if (grid.checkVisibility() && grid.scrollWidth > grid.clientWidth + 1) {
      out.push({ text: "a table scrolls sideways", tag: "TABLE", test: "stDataFrame",
                 scroll: grid.scrollWidth, client: grid.clientWidth });
    }
  }
  return out;
}"""


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
    page.set_viewport_size({"width": 1024, "height": 768})  # the outcome in a projector's live column
    page.wait_for_timeout(1000)
    assert page.evaluate(CUT_OFF) == []
    page.set_viewport_size({"width": 1600, "height": 1000})

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
    assert re.search(r"compare=[\w-]+%2C[\w-]+|compare=[\w-]+,[\w-]+", page.url), page.url  # a link to this comparison
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


SIZES = {"projector": (1024, 768), "laptop": (1440, 900)}
# The size of a chart's tick labels on the screen: Plotly's as styled, an SVG picture's scaled.
TICK_PX = """() => {
  const plotly = [...document.querySelectorAll(".js-plotly-plot .xtick text")].map((t) => parseFloat(t.style.fontSize));
  const svg = [...document.querySelectorAll(".live-chart svg")].map(
    (s) => 17 * s.getBoundingClientRect().width / s.viewBox.baseVal.width);
  return [...plotly, ...svg];
}"""


STYLED = """(presenting) => {
  const side = document.querySelector("[data-testid='stSidebar']");
  const narrow = innerWidth > 1200 || side.dataset.collapsed === "true" || side.getBoundingClientRect().width <= 263;
  return narrow && (!presenting || getComputedStyle(document.documentElement).fontSize === "22px");
}"""
# The page's title clear of the header that floats over the top of the page.
UNDER_HEADER = """() => document.querySelector("h1").getBoundingClientRect().top
  < document.querySelector("[data-testid='stHeader']").getBoundingClientRect().bottom - 1"""
# Text in the page (not in a chart) smaller than presenter mode's 22 px body.
SMALL_TEXT = """() => [...document.querySelectorAll("[data-testid='stMain'] p, [data-testid='stMain'] li")]
  .filter((e) => e.checkVisibility() && e.textContent.trim() && parseFloat(getComputedStyle(e).fontSize) < 22)
  .map((e) => e.textContent.slice(0, 40) + " " + getComputedStyle(e).fontSize)"""


def test_nothing_is_cut_off_on_a_projector_or_a_laptop_normal_or_presenting(server, browser):
    """Every page (with the runs the test above made) at 1024x768 and 1440x900, normal and in
    presenter mode: no text wider than its box, no table hiding columns; in presenter mode the
    body text at least 22 px and chart ticks at least 16 px. The screenshots are the README's."""
    runs = sorted(folder.name for folder in (server.work / "runs").iterdir())
    # Runs also with two runs compared, and with one chosen (its name, tags and buttons).
    views = [*PAGES, f"runs?compare={runs[0]},{runs[1]}", f"runs?compare={runs[0]}"]
    for size_name, (width, height) in SIZES.items():
        for presenting in (False, True):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.outside = keep_local(page)
            for path in views:
                page.goto(f"{server}/{path}" + ("&" if "?" in path else "?") * presenting + "present=1" * presenting)
                settle(page)
                # The app's sizes come with the sidebar's first elements: wait for them to apply.
                page.wait_for_function(STYLED, arg=presenting)
                page.wait_for_timeout(500)  # charts and tables draw after the script run
                where = f"{path or 'welcome'} at {width}x{height}{' presenting' if presenting else ''}"
                assert_no_exception(page, where)
                assert page.evaluate(CUT_OFF) == [], where
                assert not page.evaluate(UNDER_HEADER), f"{where}: the title is under the header"
                if presenting:
                    small = page.evaluate(SMALL_TEXT)
                    assert small == [], f"{where}: text under 22 px: {small}"
                    assert all(px >= 16 for px in page.evaluate(TICK_PX)), f"{where}: {page.evaluate(TICK_PX)}"
                name = {views[-2]: "runs-compare", views[-1]: "runs-one"}.get(path, path or "welcome")
                shoot(page, f"{name}-{size_name}{'-presenting' if presenting else ''}")
            assert page.outside == [], page.outside
            page.close()


def test_a_presenter_runs_a_demo_at_1024x768(server, browser):
    """Presenter mode on a projector: the few settings, the pace controls, the live chart and the
    picture strip on one screen; a demo-paced run redraws many times, pauses and resumes, survives
    a reload; learning rate 10 draws its explosion and says so."""
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.outside = keep_local(page)
    page.goto(f"{server}/train?present=1")
    settle(page)
    assert (
        page.get_by_test_id("stSidebar").bounding_box()["x"] + 50 < 0
        or not page.get_by_text("Presenter mode").is_visible()
    )
    start_training_at(page, epochs=3, pace_steps_from_free=1, start="Start")  # 50 batches a second
    updates = (
        "() => { window.updates = 0; new MutationObserver(() => window.updates++).observe("
        "document.querySelector('.live-chart'), {childList: true}); }"
    )
    expect(page.locator(".live-chart svg")).to_be_visible(timeout=30_000)
    page.evaluate(updates)
    # All on one screen: the live chart, the buttons that pace it, and the picture strip.
    for element in (
        page.locator(".live-chart svg"),
        page.get_by_role("button", name="Pause"),
        page.get_by_role("button", name="Step"),
        page.get_by_text("What it says now"),
        page.locator("img[src^='data:image/svg+xml']").first,
    ):
        expect(element).to_be_visible(timeout=30_000)  # the strip draws with the first snapshot
        box = element.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= 768 and box["x"] + box["width"] <= 1024, box
    assert all(px >= 16 for px in page.evaluate(TICK_PX)), page.evaluate(TICK_PX)
    page.wait_for_timeout(6000)
    shoot(page, "train-live-projector-presenting")
    page.get_by_role("button", name="Pause").click()
    paused = page.get_by_text(re.compile(r"Paused after epoch \d+ of 3 · batch (\d+)"))
    expect(paused).to_be_visible(timeout=10_000)
    held = paused.inner_text()
    page.wait_for_timeout(2000)
    assert paused.inner_text() == held, "the run went on while paused"
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("images/s")).to_be_visible(timeout=10_000)
    page.wait_for_timeout(3000)
    seen = page.evaluate("window.updates")
    # A reload mid-run finds the run, still in presenter mode.
    page.reload()
    settle(page)
    expect(page.get_by_text(re.compile(r"Epoch \d of 3 · batch"))).to_be_visible(timeout=30_000)
    assert "present=1" in page.url and "job=" in page.url
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Run completed", timeout=120_000)
    assert seen >= 30, f"the chart changed only {seen} times"

    # Learning rate 10: the run explodes within a few batches, and the chart shows where.
    page.get_by_role("slider", name="Learning rate").focus()
    for _ in range(8):  # 0.001 -> 10 on the learning rate's steps
        page.keyboard.press("ArrowRight")
    settle(page)
    expect(page.get_by_role("slider", name="Learning rate")).to_have_attribute("aria-valuetext", "10")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("Run diverged", timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_contain_text("the loss exploded here", timeout=30_000)
    assert page.locator(".js-plotly-plot .scatterlayer .trace").first.locator(".point").count() >= 1
    page.mouse.move(0, 0)  # no tooltip in the picture
    page.wait_for_timeout(500)
    assert page.evaluate(CUT_OFF) == []
    shoot(page, "train-exploded-projector-presenting")
    assert_no_exception(page, "presenter after an explosion")
    assert page.outside == [], page.outside


def start_training_at(page, epochs: int, pace_steps_from_free: int, start: str = "Start training") -> None:
    """Set the epochs and a demo pace (steps left from "as fast as it goes"), then press Start."""
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(epochs))
    box.press("Enter")
    settle(page)
    page.get_by_role("slider", name="Speed").focus()
    for _ in range(pace_steps_from_free):
        page.keyboard.press("ArrowLeft")
    settle(page)
    page.get_by_role("button", name=start, exact=True).click()


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
