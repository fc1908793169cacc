"""Draw the recorded time-to-accuracy figures as docs/time-to-accuracy.png: the same Plotly figure
the Train page shows, rendered by Chromium (Playwright, /usr/bin/chromium), nothing downloaded.

    python scripts/time_to_accuracy_plot.py [--data cifar10] [--out docs/time-to-accuracy.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn_core import expectations
from cnn_core.presets import PRESETS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--out", default="docs/time-to-accuracy.png")
    parser.add_argument("--browser", default="/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from pages.common import time_to_accuracy_figure

    recorded = expectations.load().get(args.data, {})
    entries = [recorded[name] for name in PRESETS if name in recorded]
    if not entries:
        print(f"no recorded figures for {args.data}", file=sys.stderr)
        return 1
    fig = time_to_accuracy_figure(entries, {name: p.title for name, p in PRESETS.items()})
    fig.update_layout(
        width=900,
        height=520,
        font={"size": 16},
        margin={"l": 80, "r": 30, "t": 90, "b": 60},
        title=f"{fig.layout.title.text}, full CIFAR-10<br><sup>{entries[0].machine} · {entries[0].measured}</sup>",
    )
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "figure.html"
        page.write_text(fig.to_html(include_plotlyjs=True, full_html=True))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.browser)
            tab = browser.new_page(viewport={"width": 940, "height": 560})
            tab.goto(page.as_uri())
            tab.wait_for_selector(".main-svg")
            tab.locator(".plotly-graph-div").screenshot(path=args.out)
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
