#!/usr/bin/env python
"""Write FashionMNIST images as PNG files in torchvision's ImageFolder layout: ``OUT/<class name>/<index>.png``.

It turns a built-in dataset into "your own images", so ``dataset=image_folder`` can be checked against the
built-in loader on the very same pictures (docs/running.md, "Your own data"). The IDX files are found as poolbench finds
them (``data_dir/FashionMNIST/raw``, then Debian's ``dataset-fashion-mnist``); nothing is downloaded.

Usage: python scripts/export_image_folder.py OUT [--split test|train] [--limit N] [--data-dir data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from poolbench.data.idx import load_fashion_mnist

CLASS_NAMES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)


def export(out: Path, split: str, limit: int | None, data_dir: Path) -> int:
    """Write the split's images (the first ``limit``) as 8-bit greyscale PNGs; returns how many were written."""
    raw = load_fashion_mnist(data_dir, download=False)
    images, labels = (raw.test_x, raw.test_y) if split == "test" else (raw.train_x, raw.train_y)
    count = len(labels) if limit is None else min(limit, len(labels))
    for name in CLASS_NAMES:
        (out / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = images[index, 0].numpy()
        Image.fromarray(pixels, mode="L").save(out / CLASS_NAMES[int(labels[index])] / f"{index:05d}.png")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (one sub-folder per class)")
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    written = export(args.out, args.split, args.limit, args.data_dir)
    print(f"wrote {written} PNG files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
