"""Measure the app while it trains, beside the command line (prints figures, asserts nothing).

    python scripts/app_speed.py

1. The tutorial's run on the bundled sample from the command line: its images/s.
2. The same run started from the Train page in Chromium, with the page open and redrawing every
   second: the images/s the run itself recorded.
3. Page switches through the sidebar: seconds until the new page's title is drawn.
4. The feature-map page: seconds from choosing another picture until every layer is drawn again.
Needs Debian's Chromium and Playwright, like the browser test.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> int:
    work = Path(tempfile.mkdtemp())
    env = {**os.environ, "CNN_RUNS_DIR": str(work / "runs"), "CNN_DATA_DIR": str(work / "data")}
    cli = subprocess.run(
        [sys.executable, "-m", "cnn_core", "train", "--json", "--no-save"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cli_speed = json.loads(cli.stdout)["images_per_second"]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://localhost:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{url}/train")
            page.get_by_role("button", name="Start training").click()
            page.get_by_test_id("stAlertContentSuccess").wait_for(timeout=300_000)
            run = next((work / "runs").iterdir())
            app_speed = json.loads((run / "metrics.json").read_text())["images_per_second"]

            switches = []
            for name in ["Metrics", "Filters and feature maps", "Runs", "Architecture", "Convolution", "Train"] * 2:
                start = time.perf_counter()
                page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
                page.locator("h1").filter(has_text=name.split()[0]).first.wait_for()
                page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
                switches.append(time.perf_counter() - start)

            page.get_by_test_id("stSidebarNav").get_by_text("Filters and feature maps", exact=True).click()
            page.get_by_text("What every layer sees").wait_for()
            answers = []
            for n in range(2, 7):
                box = page.get_by_role("spinbutton", name="Picture number")
                start = time.perf_counter()
                box.fill(str(n))
                box.press("Enter")
                page.wait_for_timeout(50)
                page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
                answers.append(time.perf_counter() - start)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"command line:              {cli_speed:>8,.0f} images/s")
    print(f"app, page open:            {app_speed:>8,.0f} images/s ({100 * (app_speed / cli_speed - 1):+.1f}%)")
    print(f"page switch:               median {statistics.median(switches):.2f} s, worst {max(switches):.2f} s")
    print(f"feature maps, new picture: median {statistics.median(answers):.2f} s, worst {max(answers):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
