"""Pose estimation speed: images/s and video frames/s of a backend on this CPU, and what a
run that reads the written poses back (a cached run) pays instead.

Real photos (people in sports scenes, ``../shared/data/sports100_sample/test`` by default)
are resized to each ``--sizes`` square side. Per size:

* **images/s, estimate**: ``estimator.estimate`` per photo (static mode: the person detector
  runs on every image), decoded arrays in memory;
* **images/s, command**: what ``python -m sports_rec.pose`` does per image: decode the file,
  estimate, re-save it as ``<id>.rgb.png`` and record it (:class:`CocoPoseWriter`), plus
  writing ``annotations.json`` at the end;
* **frames/s, video mode**: ``estimate_frames`` over a clip made from one photo panned and
  zoomed (the landmarks of one frame seed the next; the detector reruns only on a lost
  track), frames in memory;
* **frames/s, command**: the same plus the pose CSV row and a mask PNG per frame
  (:class:`VideoPoseWriter`);
* **keypoint cache** (``data.dataset.keypoints=estimate``): a dataset's first run decodes,
  estimates and caches each image (:class:`KeypointCache`); later runs hash each file and
  read its entry (ms per image);
* **cached**: reading those outputs back, which is all a later run needs: the dataset's
  ``annotations.json`` through ``read_infiniteform`` (ms per image), and per video frame
  ``read_pose_csv`` and ``load_mask_frames`` (ms per frame).

Times are medians over ``--repeats`` passes after one warm-up pass (graph creation excluded).

    python benchmarks/pose.py                          # 224 and 640 px, 16 photos, 48 frames
    python benchmarks/pose.py --sizes 224 --photos 4 --frames 8 --repeats 1   # smoke run

Measured 2026-12-07 with ``python benchmarks/pose.py`` (mediapipe 0.10.21, BlazePose full,
segmentation on; 2 shared cores of an Intel Xeon, no GPU; the sports100 photos are 224 px,
so the 640 px row is the same photos upscaled):

=========  =====  ========  ========  ==========  ========  ===========  ==========  ==========
size (px)  found  images/s  images/s  frames/s    frames/s  cached JSON  cached CSV  +masks
                  estimate  command   video mode  command   ms/image     ms/frame    ms/frame
=========  =====  ========  ========  ==========  ========  ===========  ==========  ==========
224        13/16  32.0      24.2      42.8        38.8      0.21         0.21        0.54
640        16/16  24.3      11.1      36.0        29.2      0.13         0.18        1.23
=========  =====  ========  ========  ==========  ========  ===========  ==========  ==========

The keypoint-cache columns were added later and measured while the test suite ran on both
cores (so every figure of that run is ~2x slow): ``python benchmarks/pose.py --sizes 224
--photos 8 --frames 16 --repeats 1`` gave 132.8 ms/image for a first run (graph creation
included, amortised over 8 photos) and 0.84 ms/image for a later, cached run.

Estimating costs 30-90 ms per image or frame; reading the written poses back costs 0.1-1.2
ms, so a run that reuses them is 50-400x cheaper. The command's extra cost over bare
estimation is the image re-saved as PNG (grows with the image) and a mask PNG per frame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table
from timing import median_seconds

from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.data.formats.infiniteform import read_infiniteform
from sports_rec.data.io.image_io import load_image
from sports_rec.data.poses import load_mask_frames, read_pose_csv
from sports_rec.pose_estimation import PoseEstimator, create_estimator
from sports_rec.pose_estimation.keypoint_cache import EstimateOptions, KeypointCache
from sports_rec.pose_estimation.writers import CocoPoseWriter, VideoPoseWriter

DEFAULT_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared/data/sports100_sample/test"
SPORTS = ("archery", "boxing", "fencing", "golf", "tennis", "weightlifting", "bowling", "hurdles")


def pick_photos(folder: Path, count: int) -> list[Path]:
    """Up to ``count`` photos, round-robin over sports with one athlete in frame."""
    per_sport = [sorted((folder / s).glob("*.jpg")) for s in SPORTS if (folder / s).is_dir()]
    chosen = [p for group in zip(*per_sport, strict=False) for p in group]
    if not chosen:
        raise SystemExit(f"no photos under {folder} (give --photo-dir DIR)")
    return chosen[:count]


def clip_from(photo: np.ndarray, frames: int) -> list[np.ndarray]:
    """A panning, zooming clip of ``frames`` frames the size of ``photo``."""
    height, width = photo.shape[:2]
    out = []
    for t in range(frames):
        scale = 1.0 + 0.25 * t / max(1, frames - 1)
        big = Image.fromarray(photo).resize((round(width * scale), round(height * scale)))
        x0 = (big.width - width) // 2 + (t % 8) - 4
        y0 = (big.height - height) // 2
        box = (max(0, x0), y0, max(0, x0) + width, y0 + height)
        out.append(np.asarray(big.crop(box)))
    return out


def per_item(seconds: float, items: int) -> str:
    return f"{items / seconds:.1f}"


def measure(
    estimator: PoseEstimator, sources: list[Path], size: int, args: argparse.Namespace, tmp: Path
) -> list[str]:
    """One table row: every figure at ``size`` x ``size`` pixels."""
    layout = ExerciseVideoLayout()
    (tmp / "photos").mkdir(parents=True)
    files = []
    for i, source in enumerate(sources):
        path = tmp / "photos" / f"{i}.jpg"
        Image.open(source).convert("RGB").resize((size, size)).save(path, quality=92)
        files.append(path)
    arrays = [np.asarray(load_image(p)) for p in files]
    found = sum(bool(estimator.estimate(a)) for a in arrays)  # also the warm-up
    clip = clip_from(arrays[0], args.frames)
    list(estimator.estimate_frames(iter(clip)))  # warm-up of the video graph
    runs = iter(range(10**6))
    written: dict[str, Path] = {}

    def estimate_all() -> None:
        for array in arrays:
            estimator.estimate(array)

    def command() -> None:
        writer = CocoPoseWriter(tmp / f"dataset{next(runs)}", estimator.name)
        for path in files:
            rgb = np.asarray(load_image(path))
            writer.add(rgb, estimator.estimate(rgb), "sport", str(path))
        writer.close()
        written["dataset"] = writer.root

    def video_mode() -> None:
        for _ in estimator.estimate_frames(iter(clip)):
            pass

    def video_command() -> None:
        writer = VideoPoseWriter(tmp / f"video{next(runs)}", "clip", layout)
        for index, people in enumerate(estimator.estimate_frames(iter(clip))):
            writer.add(index, people, size, size)
        writer.close()
        written["video"] = writer.root

    seconds = {
        name: median_seconds(step, args.repeats)
        for name, step in (
            ("estimate", estimate_all),
            ("command", command),
            ("video", video_mode),
            ("video_command", video_command),
        )
    }
    csv_path = layout.pose_path(written["video"], "clip")
    mask_dir = layout.mask_folder(written["video"], "clip")
    json_s = median_seconds(lambda: read_infiniteform(written["dataset"]), args.repeats)
    csv_s = median_seconds(lambda: read_pose_csv(csv_path, layout, len(clip)), args.repeats)
    masks_s = median_seconds(
        lambda: load_mask_frames(mask_dir, range(len(clip)), layout), args.repeats
    )
    # data.dataset.keypoints=estimate: the first run estimates and caches, later runs hash
    # each file and read its entry (KeypointCache; the first pass includes graph creation)
    options = EstimateOptions(backend=estimator.name, cache_dir=str(tmp / "keypoint_cache"))
    start = time.perf_counter()
    KeypointCache(options).keypoints(files)
    first_s = time.perf_counter() - start
    cached_s = median_seconds(lambda: KeypointCache(options).keypoints(files), args.repeats)
    return [
        str(size),
        f"{found}/{len(arrays)}",
        per_item(seconds["estimate"], len(arrays)),
        per_item(seconds["command"], len(files)),
        per_item(seconds["video"], len(clip)),
        per_item(seconds["video_command"], len(clip)),
        f"{1000 * json_s / len(files):.2f}",
        f"{1000 * csv_s / len(clip):.2f}",
        f"{1000 * (csv_s + masks_s) / len(clip):.2f}",
        f"{1000 * first_s / len(files):.1f}",
        f"{1000 * cached_s / len(files):.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="mediapipe")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 640])
    parser.add_argument("--photos", type=int, default=16, help="photos per size")
    parser.add_argument("--frames", type=int, default=48, help="frames of the test clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--photo-dir", type=Path, default=DEFAULT_PHOTOS)
    args = parser.parse_args()
    sources = pick_photos(args.photo_dir, args.photos)
    table = Table(
        title=f"{args.backend} pose estimation on this CPU ({len(sources)} photos, "
        f"{args.frames}-frame clip; median of {args.repeats})"
    )
    for column in (
        "size (px)",
        "found",
        "images/s estimate",
        "images/s command",
        "frames/s video mode",
        "frames/s command",
        "cached: JSON ms/image",
        "cached: CSV ms/frame",
        "cached: +masks ms/frame",
        "keypoint cache: 1st run ms/image",
        "keypoint cache: later ms/image",
    ):
        table.add_column(column, justify="right")

    with tempfile.TemporaryDirectory() as tmp, create_estimator(args.backend) as estimator:
        for size in args.sizes:
            table.add_row(*measure(estimator, sources, size, args, Path(tmp) / str(size)))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
