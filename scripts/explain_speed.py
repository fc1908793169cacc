"""Time the attribution maps on the tutorial's network, on this CPU (prints figures, asserts nothing).

    python scripts/explain_speed.py [--repeats 20]

Each method (cnn_core.explain) for one 32x32 picture and one class, median and worst of the
repeats after a first call that warms up, beside one forward pass of that picture as a reference
measured in the same run. The issue's bound: half a second each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.explain import METHODS, attribute
from cnn_core.model import CNN
from cnn_core.presets import PRESETS


def timed(call, repeats: int) -> list[float]:
    call()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CNN(PRESETS["tutorial"].architecture).eval()
    picture = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    print(f"tutorial network, one 32x32 picture, {torch.get_num_threads()} threads, {args.repeats} repeats")
    with torch.no_grad():
        forward = timed(lambda: model(picture.float().unsqueeze(0) / 255), args.repeats)
    print(f"{'one forward pass (reference)':<32} median {1000 * statistics.median(forward):7.1f} ms")
    for method, (title, _) in METHODS.items():
        seconds = timed(lambda m=method: attribute(model, picture, 3, m), args.repeats)
        print(f"{title:<32} median {1000 * statistics.median(seconds):7.1f} ms, worst {1000 * max(seconds):7.1f} ms")


if __name__ == "__main__":
    main()
