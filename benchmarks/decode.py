"""Image decoding speed: why huge photos are reduced while they are decoded.

Sports balls ships photos up to 4500 px. ``load_image(max_side=...)`` asks libjpeg to
decode at 1/2, 1/4 or 1/8 scale (``Image.draft``) before the final resize; this script
compares that with a full decode followed by the same resize, for several photo sizes, and
also times the data path of one sample (decode + eval transform).

    python benchmarks/decode.py --sizes 512 2000 4500 --target 224
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table
from timing import median_seconds

from sports_rec.data.io.image_io import load_image
from sports_rec.data.transforms import image_transforms


def make_photo(path: Path, side: int) -> Path:
    rng = np.random.default_rng(side)
    small = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(small).resize((side, int(side * 0.75)), Image.BICUBIC).save(path, quality=90)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2000, 4500])
    parser.add_argument("--target", type=int, default=224, help="training resolution")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    transform = image_transforms(train=False, size=args.target)

    table = Table(title=f"JPEG decode to {args.target} px training input (median ms per image)")
    for column in (
        "photo (px)",
        "full decode + resize",
        "draft decode (max_side)",
        "speed-up",
        "decode + eval transform",
    ):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sizes:
            path = make_photo(Path(tmp) / f"{side}.jpg", side)
            max_side = 2 * args.target

            def full(path: Path = path, max_side: int = max_side) -> None:
                with Image.open(path) as image:
                    image = image.convert("RGB")
                    scale = max_side / min(image.size)
                    if scale < 1:
                        image.resize((round(image.width * scale), round(image.height * scale)))

            def draft(path: Path = path, max_side: int = max_side) -> None:
                load_image(path, max_side=max_side)

            def sample(path: Path = path, max_side: int = max_side) -> None:
                transform(load_image(path, max_side=max_side))

            full_ms = 1000 * median_seconds(full, args.repeats)
            draft_ms = 1000 * median_seconds(draft, args.repeats)
            table.add_row(
                f"{side}x{int(side * 0.75)}",
                f"{full_ms:.1f}",
                f"{draft_ms:.1f}",
                f"{full_ms / draft_ms:.1f}x",
                f"{1000 * median_seconds(sample, args.repeats):.1f}",
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
