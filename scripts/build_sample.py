"""Build the CIFAR-10 sample that ships with the app, from the full data set as a JPEG archive.

    python scripts/build_sample.py ../shared/data/cifar10-jpeg.tar.gz

Takes a seeded, class-balanced subset (by default 1,000 training and 200 test images per class)
and keeps each image's JPEG bytes exactly as the archive has them, so the sample's pixels are the
archive's pixels. Writes cnn_core/sample_data/cifar10-sample.safetensors.gz (about 3.7 MB).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from cnn_core.data import channel_stats
from cnn_core.dataset_files import pack_jpegs
from cnn_core.image_import import ImportLimits, decode_image, iter_entries
from cnn_core.storage import atomic_write_bytes

OUT = Path(__file__).resolve().parent.parent / "cnn_core" / "sample_data" / "cifar10-sample.safetensors.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, help="CIFAR-10 as train/<class>/*.jpg and test/<class>/*.jpg")
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    found: dict[str, dict[str, list[tuple[str, bytes]]]] = {"train": defaultdict(list), "test": defaultdict(list)}
    for entry in iter_entries(args.archive, ImportLimits()):
        parts = entry.path.parts
        if len(parts) == 3 and parts[0] in found and entry.path.suffix.lower() in (".jpg", ".jpeg"):
            found[parts[0]][parts[1]].append((entry.path.name, entry.read()))
    classes = sorted(found["train"])
    rng = random.Random(args.seed)
    picked = {}
    for split, per_class in (("train", args.train_per_class), ("test", args.test_per_class)):
        items = []
        for label, cls in enumerate(classes):
            files = sorted(found[split][cls])  # archive order is not guaranteed; names are
            items += [(blob, label) for _, blob in rng.sample(files, per_class)]
        rng.shuffle(items)
        picked[split] = items
    # The statistics are of the decoded pixels, exactly as the app will see them.
    mean, std = channel_stats(torch.stack([decode_image(blob, 32) for blob, _ in picked["train"]]))
    data = pack_jpegs(
        "sample",
        classes,
        picked["train"],
        picked["test"],
        mean=mean,
        std=std,
        source=f"{args.archive.name}, {args.train_per_class}+{args.test_per_class} per class, seed {args.seed}",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, data)
    print(
        f"wrote {args.out} ({len(data) / 1e6:.2f} MB): {len(picked['train']):,} training and "
        f"{len(picked['test']):,} test images in {len(classes)} classes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
