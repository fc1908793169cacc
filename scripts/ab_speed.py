"""Is a change slower? The trainer of two checkouts, alternated in one run: python scripts/ab_speed.py OLD NEW

OLD and NEW are folders holding a checkout of this project (make the old one with
`git worktree add /tmp/before <commit>`). Each round trains the tutorial's network on the bundled
sample with each checkout in a fresh process, at batch 32 and 128, the order swapped every round
(so neither always runs first); it prints every run's speed (the median over its epochs of the
training loop's images per second) and validation accuracy, then the median over rounds of NEW's
speed over OLD's in the same round. On this shared machine one pair of runs minutes apart measures
the drift as much as the code; the rounds' median does not. Equal accuracies mean equal numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ONE_RUN = """
import json
from cnn_core import bench
from cnn_core.datasets import load_dataset
from cnn_core.settings import TrainSettings
data = load_dataset("sample")
out = {}
for batch_size in BATCH_SIZES:
    r = bench.run_cnn_core(data, TrainSettings(batch_size=batch_size, epochs=EPOCHS, seed=42))
    out[batch_size] = [r.images_per_second, r.val_accuracy]
print(json.dumps(out))
"""


def run(tree: Path, batch_sizes: list[int], epochs: int, data_dir: str) -> dict[str, list[float]]:
    code = ONE_RUN.replace("BATCH_SIZES", repr(batch_sizes)).replace("EPOCHS", str(epochs))
    env = {**os.environ, "PYTHONPATH": str(tree), "CNN_DATA_DIR": data_dir}
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-sizes", default="32,128")
    parser.add_argument("--data-dir", default=str(Path.home() / ".cache" / "cnn-ab-speed"))
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    ratios: dict[int, list[float]] = {b: [] for b in batch_sizes}
    for round_number in range(1, args.rounds + 1):
        order = [("old", args.old), ("new", args.new)]
        if round_number % 2 == 0:
            order.reverse()
        speeds = {}
        for label, tree in order:
            result = run(tree.resolve(), batch_sizes, args.epochs, args.data_dir)
            speeds[label] = result
            cells = "  ".join(
                f"batch {b}: {result[str(b)][0]:>7,.0f} images/s, val {result[str(b)][1]:.4f}" for b in batch_sizes
            )
            print(f"round {round_number} {label}  {cells}", flush=True)
        for b in batch_sizes:
            ratios[b].append(speeds["new"][str(b)][0] / speeds["old"][str(b)][0])
    for b, values in ratios.items():
        print(f"batch {b}: new/old {statistics.median(values):.3f} (rounds: {', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
