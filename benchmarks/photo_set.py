"""A realistic photo set for speed comparisons: camera-like JPEGs at the sizes real sets have.

Tiny drawings decode in microseconds and hide what real photos cost a training input
pipeline. These are JPEGs of camera-like content (a smooth gradient background with
low-frequency illumination and mid-frequency texture, clutter shapes, a shaded "ball" whose
colour family and surface pattern depend on the class, defocus blur, sensor noise) saved at
quality 85-95, with the size spread of the Kaggle sports-balls set: the long side is
log-normal with a median of 400 px and a fifth over 1,000 px, the far tail folded to
3,600-4,500 px (the largest real photos are 4,500 px); aspect ratios 4:3, 3:2, 1:1, 16:9
and portrait; about 0.5 % grayscale. The sensor noise gives the files the bytes per pixel
of the real photos in ../shared/data/sports_balls_sample (median about 0.14; 0.09 over
1,000 px), so entropy decoding, which JPEG draft decoding does not shorten, costs what it
would. The class needs both cues (colour family and pattern), so a small net learns it
well above chance but not perfectly in a few epochs.

Layout ``<root>/train/<class>/*.jpg`` and ``<root>/test/<class>/*.jpg`` (what timm's
ImageFolder and the project's ``data=sports_balls`` both read), plus ``photos.csv`` (file,
split, label, width, height, bytes) at the root. Deterministic for a seed whatever the
number of worker processes; written once under a cache folder keyed by the settings.

    python benchmarks/photo_set.py --classes 6 --train-per-class 465 --test-per-class 117
"""

from __future__ import annotations

import argparse
import colorsys
import csv
import math
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: Bump when the drawing or the size law changes: the cache key includes it.
VERSION = 2
MEDIAN_SIDE = 400  # long side, px
OVER_1000 = 0.20  # share of photos whose long side exceeds 1,000 px
MIN_SIDE, TAIL_FROM, MAX_SIDE = 120, 3600, 4500
#: (long, short) aspect ratios and their weights; ``portrait`` decides the orientation.
ASPECTS: tuple[tuple[float, float], ...] = (
    (4 / 3, 0.40),
    (3 / 2, 0.22),
    (1.0, 0.20),
    (16 / 9, 0.18),
)
PORTRAIT = 0.25
GRAYSCALE = 0.005
NOISE = (0.5, 2.0)  # sensor noise (std, 8-bit levels): bytes/pixel like the real set's
WORK_SIDE = 640  # content is drawn at most this large, then upscaled (as optics blur it)
SIGMA = math.log(1000 / MEDIAN_SIDE) / 0.8416212335729143  # P(long > 1000) = OVER_1000

#: The Kaggle set's class names, used for the first classes (then class_NN).
CLASS_NAMES = (
    "american_football", "baseball", "basketball", "billiard_ball", "bowling_ball",
    "cricket_ball", "football", "golf_ball", "hockey_ball", "hockey_puck", "rugby_ball",
    "shuttlecock", "table_tennis_ball", "tennis_ball", "volleyball",
)  # fmt: skip
PATTERNS = ("plain", "stripes", "seams", "panels")


def class_names(classes: int) -> list[str]:
    if classes <= len(CLASS_NAMES):
        return list(CLASS_NAMES[:classes])
    return [f"class_{i:02d}" for i in range(classes)]


def photo_size(rng: np.random.Generator) -> tuple[int, int]:
    """(width, height) of one photo: log-normal long side, a common aspect ratio."""
    long = float(np.exp(rng.normal(math.log(MEDIAN_SIDE), SIGMA)))
    if long > TAIL_FROM:  # fold the far tail to the largest real sizes
        long = rng.uniform(TAIL_FROM, MAX_SIDE)
    long = max(float(MIN_SIDE), long)
    ratios = [a for a, _ in ASPECTS]
    weights = np.array([w for _, w in ASPECTS])
    ratio = ratios[int(rng.choice(len(ratios), p=weights / weights.sum()))]
    short = max(MIN_SIDE * 2 // 3, round(long / ratio))
    width, height = round(long), short
    if ratio != 1.0 and rng.random() < PORTRAIT:
        width, height = height, width
    return width, height


def size_summary(sizes: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Median long side, share over 1,000 px, count at >= 3,000 px, largest long side."""
    longs = np.array([max(w, h) for w, h in sizes], dtype=float)
    return {
        "photos": len(longs),
        "median_long_side": float(np.median(longs)),
        "share_over_1000": float((longs > 1000).mean()),
        "count_3000_plus": int((longs >= 3000).sum()),
        "max_long_side": float(longs.max()),
    }


def _cues(label: int, classes: int) -> tuple[int, int, int]:
    """(hue family, pattern, number of hue families) of a class: both are needed."""
    patterns = min(len(PATTERNS), classes)
    hues = math.ceil(classes / patterns)
    return label % hues, label // hues, hues


def _colour(hue: float, rng: np.random.Generator, sat=(0.45, 0.9), val=(0.5, 0.95)) -> tuple:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def _smooth(rng: np.random.Generator, size: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """A smooth random field in [-1, 1] (a tiny random image upscaled bicubically)."""
    small = rng.integers(0, 256, (cells[1], cells[0]), dtype=np.uint8)
    field = Image.fromarray(small).resize(size, Image.BICUBIC)
    return np.asarray(field, dtype=np.float32) / 127.5 - 1.0


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    top = np.array(_colour(rng.random(), rng, (0.05, 0.6), (0.35, 1.0)), dtype=np.float32)
    bottom = np.array(_colour(rng.random(), rng, (0.05, 0.6), (0.15, 0.8)), dtype=np.float32)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(top * (1 - t) + bottom * t, (height, width, 3)).copy()
    light = _smooth(rng, size, (6, 4))  # uneven illumination
    image *= (1.0 + 0.25 * light)[..., None]
    grain = max(4, min(width, height) // 12)  # mid-frequency texture (grass, wood, fabric)
    texture = _smooth(rng, size, (max(2, width // grain), max(2, height // grain)))
    image += 14.0 * texture[..., None]
    return image


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int]) -> None:
    width, height = size
    for _ in range(int(rng.integers(3, 10))):
        colour = _colour(rng.random(), rng, (0.0, 0.8), (0.1, 0.95))
        x0, y0 = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        w, h = rng.uniform(0.05, 0.5) * width, rng.uniform(0.05, 0.5) * height
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
        elif kind == 1:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
        elif kind == 2:
            points = [(x0 + rng.uniform(0, w), y0 + rng.uniform(0, h)) for _ in range(5)]
            draw.polygon(points, fill=colour)
        else:
            draw.line((x0, y0, x0 + w, y0 + h), fill=colour, width=max(1, int(w / 15)))


def _ball(image: Image.Image, rng: np.random.Generator, label: int, classes: int) -> Image.Image:
    """The class's object: a shaded disc, its colour family and surface pattern by class."""
    width, height = image.size
    hue_family, pattern, hues = _cues(label, classes)
    radius = rng.uniform(0.12, 0.36) * min(width, height)
    cx = rng.uniform(radius * 0.5, width - radius * 0.5)
    cy = rng.uniform(radius * 0.5, height - radius * 0.5)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    hue = hue_family / hues + rng.normal(0, 0.03)
    base, ink = _colour(hue, rng), _colour(hue + rng.normal(0.5, 0.05), rng, val=(0.1, 0.9))
    layer = Image.new("RGB", image.size, base)
    draw = ImageDraw.Draw(layer)
    line = max(1, int(radius / 7))
    if PATTERNS[pattern] == "stripes":
        angle = rng.uniform(0, math.pi)
        dx, dy = math.cos(angle), math.sin(angle)
        for k in range(-3, 4, 2):
            ox, oy = cx - dy * k * radius / 3.5, cy + dx * k * radius / 3.5
            draw.line(
                (ox - dx * radius, oy - dy * radius, ox + dx * radius, oy + dy * radius),
                fill=ink,
                width=line * 2,
            )
    elif PATTERNS[pattern] == "seams":
        shift = rng.uniform(0.3, 0.8) * radius
        draw.arc(
            (cx - radius - shift, cy - radius, cx + radius - shift, cy + radius), -60, 60, ink, line
        )
        draw.arc(
            (cx - radius + shift, cy - radius, cx + radius + shift, cy + radius),
            120,
            240,
            ink,
            line,
        )
    elif PATTERNS[pattern] == "panels":
        step = radius / 2.2
        for gx in np.arange(cx - radius, cx + radius, step):
            for gy in np.arange(cy - radius, cy + radius, step):
                r = step / 3.5
                draw.regular_polygon((gx, gy, r), 5, rotation=rng.uniform(0, 72), fill=ink)
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    # shading: darker towards the rim and away from a highlight up-left of the centre
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    d = np.hypot(xx - (cx - radius / 3), yy - (cy - radius / 3)) / (1.5 * radius)
    shade = np.clip(1.15 - 0.6 * d**2, 0.35, 1.2)[..., None]
    lit = np.clip(np.asarray(layer, dtype=np.float32) * shade, 0, 255).astype(np.uint8)
    image.paste(Image.fromarray(lit), mask=mask.filter(ImageFilter.GaussianBlur(1)))
    return image


def draw_photo(seed: Sequence[int], label: int, classes: int) -> Image.Image:
    """One photo of class ``label``, fully determined by ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(list(seed)))
    width, height = photo_size(rng)
    scale = min(1.0, WORK_SIDE / max(width, height))
    work = (max(16, round(width * scale)), max(16, round(height * scale)))
    image = Image.fromarray(np.clip(_background(rng, work), 0, 255).astype(np.uint8))
    _clutter(ImageDraw.Draw(image), rng, work)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))  # background defocus
    image = _ball(image, rng, label, classes)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.8)))
    if work != (width, height):
        image = image.resize((width, height), Image.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32)
    noise = rng.normal(0.0, rng.uniform(*NOISE), (height, width, 1)).astype(np.float32)
    image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    if rng.random() < GRAYSCALE:
        image = image.convert("L")
    return image


def _write(job: tuple[Path, tuple[int, ...], int, int]) -> tuple[int, int, int]:
    path, seed, label, classes = job
    rng = np.random.default_rng(np.random.SeedSequence([*seed, 7]))
    image = draw_photo(seed, label, classes)
    image.save(path, quality=int(rng.integers(85, 96)), optimize=False)
    return image.width, image.height, path.stat().st_size


def set_name(classes: int, train_per_class: int, test_per_class: int, seed: int) -> str:
    return f"photos_v{VERSION}_c{classes}_tr{train_per_class}_te{test_per_class}_s{seed}"


def make_photo_set(
    cache: str | Path,
    classes: int = 6,
    train_per_class: int = 465,
    test_per_class: int = 117,
    seed: int = 0,
    workers: int | None = None,
    quiet: bool = False,
) -> Path:
    """The set's folder under ``cache``, generated on first use (atomically: a set that
    exists is complete)."""
    root = Path(cache).expanduser() / set_name(classes, train_per_class, test_per_class, seed)
    if (root / "photos.csv").is_file():
        return root
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    names = class_names(classes)
    jobs, rows = [], []
    for split_id, (split, per_class) in enumerate(
        (("train", train_per_class), ("test", test_per_class))
    ):
        for label, name in enumerate(names):
            (partial / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                relative = Path(split) / name / f"{name}_{i + 1}.jpg"
                jobs.append((partial / relative, (seed, split_id, label, i), label, classes))
                rows.append((relative.as_posix(), split, label))
    start = time.perf_counter()
    workers = workers or len(os.sched_getaffinity(0))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        written = list(pool.map(_write, jobs, chunksize=8))
    with open(partial / "photos.csv", "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["file", "split", "label", "width", "height", "bytes"])
        for (file, split, label), (w, h, size) in zip(rows, written, strict=True):
            out.writerow([file, split, label, w, h, size])
    try:
        partial.rename(root)
    except OSError:  # another process finished the same set first
        shutil.rmtree(partial, ignore_errors=True)
    if not quiet:
        summary = size_summary([(w, h) for w, h, _ in written])
        megabytes = sum(s for *_, s in written) / 1e6
        print(
            f"wrote {len(jobs)} photos ({megabytes:.0f} MB) to {root} in "
            f"{time.perf_counter() - start:.0f} s: {describe(summary)}"
        )
    return root


def read_sizes(root: str | Path) -> list[tuple[int, int]]:
    """Photo sizes of a set: from ``photos.csv`` when generated here, else JPEG headers."""
    root = Path(root)
    if (root / "photos.csv").is_file():
        with open(root / "photos.csv", newline="") as handle:
            return [(int(r["width"]), int(r["height"])) for r in csv.DictReader(handle)]
    sizes = []
    for path in sorted(root.glob("*/*/*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
            with Image.open(path) as image:
                sizes.append(image.size)
    return sizes


def describe(summary: dict[str, float]) -> str:
    return (
        f"long side median {summary['median_long_side']:.0f} px, "
        f"{100 * summary['share_over_1000']:.0f} % over 1,000 px, "
        f"{summary['count_3000_plus']} at 3,000 px or more (largest {summary['max_long_side']:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", default="data/versus_timm", help="folder of generated sets")
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--train-per-class", type=int, default=465)
    parser.add_argument("--test-per-class", type=int, default=117)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    args = parser.parse_args()
    root = make_photo_set(
        args.cache, args.classes, args.train_per_class, args.test_per_class, args.seed, args.workers
    )
    print(f"{root}: {describe(size_summary(read_sizes(root)))}")


if __name__ == "__main__":
    main()
