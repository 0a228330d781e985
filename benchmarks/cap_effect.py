"""What the decoding cap changes in the net's input: random-resized crops of real photos
taken from the capped decode (what the dataset and the image store hold) against the same
crops of the full-resolution decode.

For every photo whose shorter side exceeds the cap (``2 x --image-size`` by default, the
datasets' ``max_side``), ``--crops`` RandomResizedCrop boxes are drawn (area ``scale``,
aspect ratio 3/4-4/3, as torchvision draws them) in relative coordinates, and each is cut
from both decodes and resized to the input size with the same bilinear (antialiased)
filter. Reported per scale range: PSNR and mean absolute difference of the two inputs
(0-255), and the share of crops that the capped image has to enlarge (fewer source pixels
than the input size), where detail can be lost.

    python benchmarks/cap_effect.py --photos ../shared/data/sports_balls_sample
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from sports_rec.data.io.image_io import DATASET_SLACK, decoding_cap, load_image

SUFFIXES = (".jpg", ".jpeg", ".png")


def boxes(
    rng: np.random.Generator, count: int, width: int, height: int, scale: tuple[float, float]
) -> list[tuple[float, float, float, float]]:
    """``count`` random-resized-crop boxes as fractions ``(x0, y0, x1, y1)`` of the image."""
    found = []
    while len(found) < count:
        area = rng.uniform(*scale) * width * height
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = math.sqrt(area * ratio), math.sqrt(area / ratio)
        if w <= width and h <= height:
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            found.append((x / width, y / height, (x + w) / width, (y + h) / height))
    return found


def crop(image: Image.Image, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    region = (x0 * image.width, y0 * image.height, x1 * image.width, y1 * image.height)
    resized = image.resize((size, size), Image.Resampling.BILINEAR, box=region)
    return np.asarray(resized, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="../shared/data/sports_balls_sample")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--crops", type=int, default=20)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.6, 0.08])
    args = parser.parse_args()
    size = args.image_size
    cap = decoding_cap(size)
    files = sorted(p for p in Path(args.photos).rglob("*") if p.suffix.lower() in SUFFIXES)
    large = [p for p in files if min(Image.open(p).size) > DATASET_SLACK * cap]
    table = Table(
        title=f"{len(large)} of {len(files)} photos larger than {DATASET_SLACK:g} x the cap "
        f"({cap} px, {size} px input), {args.crops} crops each"
    )
    for column in ("scale", "PSNR (dB)", "mean |diff| (0-255)", "crops enlarged from the cap"):
        table.add_column(column, justify="right")
    rng = np.random.default_rng(0)
    decoded = [
        (load_image(p, "RGB"), load_image(p, "RGB", max_side=cap, slack=DATASET_SLACK))
        for p in large
    ]
    for low in args.scales:
        squared, absolute, enlarged = [], [], []
        for full, capped in decoded:
            for box in boxes(rng, args.crops, full.width, full.height, (low, 1.0)):
                difference = crop(full, box, size) - crop(capped, box, size)
                squared.append(np.mean(difference**2))
                absolute.append(np.mean(np.abs(difference)))
                side = min((box[2] - box[0]) * capped.width, (box[3] - box[1]) * capped.height)
                enlarged.append(side < size)
        table.add_row(
            f"{low:g}-1",
            f"{10 * math.log10(255**2 / np.mean(squared)):.1f}",
            f"{np.mean(absolute):.2f}",
            f"{np.mean(enlarged):.0%}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
