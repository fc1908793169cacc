"""Measure the app while it trains, beside the command line (prints figures, asserts nothing).

    python scripts/app_speed.py [--epochs 20] [--rounds 5]

1. The tutorial's settings on the bundled sample (with --epochs, so that a run lasts long enough to
   measure), in rounds: from the Train page in Chromium with the page open and redrawing, from the
   Train page with the user gone to the Runs page, then from the command line. Each app run is
   compared with the mean of the command-line runs before and after it (this VM drifts by 20%
   over minutes): the images/s each run recorded, and the ratios per round.
2. Where the CPU went during each app run: the training process, the Streamlit server, Chromium.
3. Page switches through the sidebar: seconds until the new page's title is drawn.
4. The feature-map page: seconds from choosing another picture until every layer is drawn again.
5. Start: seconds from the click until the page shows the run training (its progress line).
6. How often the live loss chart drew a new frame while the page was open (the browser's count).
Needs Debian's Chromium and Playwright, like the browser test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
TICK = os.sysconf("SC_CLK_TCK")
# In the page: note the time of every frame the live loss chart draws (live_chart counts them in
# its box's data-frames). A MutationObserver only wakes when the page changes.
COUNT_REDRAWS = """() => {
  window.lossDraws = [];
  new MutationObserver((changes) => {
    for (const c of changes) if (c.attributeName === "data-frames") window.lossDraws.push(performance.now());
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["data-frames"]});
}"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def pids_matching(text: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


class CpuMeter:
    """CPU seconds per group of processes between start() and stop(); processes that start in
    between are sampled as they are seen (poll() often)."""

    def __init__(self, groups: dict[str, callable]):
        self.groups = groups
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.members: dict[str, set[int]] = {name: set() for name in groups}

    def poll(self) -> None:
        for name, find in self.groups.items():
            for pid in find():
                seconds = cpu_seconds(pid)
                self.members[name].add(pid)
                self.first.setdefault(pid, seconds)
                if seconds:
                    self.last[pid] = seconds

    def totals(self) -> dict[str, float]:
        return {
            name: sum(self.last.get(pid, 0.0) - self.first[pid] for pid in pids) for name, pids in self.members.items()
        }


def cli_run(env: dict, epochs: int, runs_dir: Path) -> float:
    """A command-line run as a user starts one: it saves the run (and a checkpoint every epoch)
    like a run started from the app does."""
    out = subprocess.run(
        [sys.executable, "-m", "cnn_core", "train", "--json", "--epochs", str(epochs), "--runs-dir", str(runs_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)["images_per_second"]


def app_run(
    page, url: str, runs_dir: Path, epochs: int, server_pid: int, away: bool = False
) -> tuple[float, dict[str, float], float, float | None, float | None]:
    """One run started from the Train page; with `away`, the user goes to the Runs page while it
    trains. Returns its images/s, the CPU seconds per process group, its wall time, and (page
    open) the seconds from Start until the page showed it training and the loss chart's redraws
    a second while it trained."""
    page.goto(f"{url}/train")
    page.get_by_role("button", name="Start training").wait_for()
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(epochs))
    box.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
    before = set(runs_dir.iterdir()) if runs_dir.exists() else set()
    meter = CpuMeter(
        {
            "training process": lambda: pids_matching("cnn_core.worker"),
            "streamlit server": lambda: [server_pid],
            "chromium": lambda: pids_matching("/usr/lib/chromium/chromium"),
        }
    )
    meter.poll()
    page.evaluate(COUNT_REDRAWS)
    start = time.perf_counter()
    page.get_by_role("button", name="Start training").click()
    shown = None
    if away:
        # The run's Stop (Streamlit's header also shows one while a script run takes a while).
        page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").wait_for()
        page.get_by_test_id("stSidebarNav").get_by_text("Runs", exact=True).click()
    else:
        page.get_by_text(re.compile(rf"Epoch \d+ of {epochs} · batch")).first.wait_for(timeout=60_000)
        shown = time.perf_counter() - start

    def finished() -> Path | None:
        new = set(runs_dir.iterdir()) - before if runs_dir.exists() else set()
        return next((run for run in new if (run / "metrics.json").exists()), None)

    while (run := finished()) is None:
        meter.poll()
        page.wait_for_timeout(200)
    wall = time.perf_counter() - start
    meter.poll()
    metrics = json.loads((run / "metrics.json").read_text())
    redraws = None
    if not away:  # the pictures drawn while it trained, over the time between the first and the last
        draws = page.evaluate("window.lossDraws")
        redraws = (len(draws) - 1) / ((draws[-1] - draws[0]) / 1000) if len(draws) > 2 else 0.0
    return metrics["images_per_second"], meter.totals(), wall, shown, redraws


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run (default: %(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="app runs, each between two command-line runs (default: %(default)s)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp())
    runs_dir = work / "runs"
    env = {**os.environ, "CNN_RUNS_DIR": str(runs_dir), "CNN_DATA_DIR": str(work / "data")}
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
    pairs, aways, cpu, starts, redraws = [], [], [], [], []
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
            # Each app run is compared with the command-line runs just before and after it (their
            # mean): this machine's speed drifts by up to 25% over minutes, and a drift over a
            # round then cancels out instead of showing up as the app's cost.
            cli_before = cli_run(env, args.epochs, work / "cli-runs")
            for _ in range(args.rounds):
                app_speed, totals, wall, shown, per_second = app_run(page, url, runs_dir, args.epochs, server.pid)
                away_speed, *_ = app_run(page, url, runs_dir, args.epochs, server.pid, away=True)
                starts.append(shown)
                redraws.append(per_second)
                cli_after = cli_run(env, args.epochs, work / "cli-runs")
                cli_speed = (cli_before + cli_after) / 2
                pairs.append((cli_speed, app_speed))
                aways.append(away_speed / cli_speed)
                cpu.append((totals, wall))
                print(
                    f"round: command line {cli_before:,.0f} before and {cli_after:,.0f} after, app {app_speed:,.0f}, "
                    f"app with the user on another page {away_speed:,.0f} images/s; "
                    f"{per_second:.1f} loss chart frames a second",
                    flush=True,
                )
                cli_before = cli_after

            switches = []
            for name in ["Metrics", "Filters and feature maps", "Runs", "Architecture", "Convolution", "Train"] * 2:
                start = time.perf_counter()
                page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
                page.locator("h1").filter(has_text=name.split()[0]).first.wait_for()
                page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
                switches.append((time.perf_counter() - start, name))

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

    ratios = [app / cli for cli, app in pairs]
    print(f"\n{args.epochs} epochs of the tutorial's settings on the bundled sample, {args.rounds} rounds")
    print(f"command line:              median {statistics.median(c for c, _ in pairs):>8,.0f} images/s")
    print(f"app, page open:            median {statistics.median(a for _, a in pairs):>8,.0f} images/s")
    rounds = ", ".join(f"{100 * (r - 1):+.1f}%" for r in ratios)
    print(f"app against command line:  median {100 * (statistics.median(ratios) - 1):+.1f}% (rounds: {rounds})")
    rounds = ", ".join(f"{100 * (r - 1):+.1f}%" for r in aways)
    print(f"app, user on another page: median {100 * (statistics.median(aways) - 1):+.1f}% (rounds: {rounds})")
    print(
        f"loss chart frames a second, page open: median {statistics.median(redraws):.1f} (rounds: "
        + ", ".join(f"{r:.1f}" for r in redraws)
        + ")"
    )
    print("while the Train page is open:")
    for name in cpu[0][0]:
        shares = [totals[name] / wall for totals, wall in cpu]
        print(f"  CPU, {name + ':':<20} median {statistics.median(shares):.2f} cores")
    worst, worst_page = max(switches)
    print(
        f"page switch:               median {statistics.median(t for t, _ in switches):.2f} s, "
        f"worst {worst:.2f} s ({worst_page})"
    )
    print(f"feature maps, new picture: median {statistics.median(answers):.2f} s, worst {max(answers):.2f} s")
    print(f"Start to the run shown training: median {statistics.median(starts):.2f} s, worst {max(starts):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
