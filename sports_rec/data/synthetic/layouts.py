"""Writers that lay synthetic images out exactly like the real datasets on disk.

Each writer reproduces the layout *and its oddities* (see ``../shared/DATASETS.md``), so
the real readers are exercised on every run of the tests:

* ``sports100``   - ``train|valid|test/<class name>/NNN.jpg``, class names with spaces, a
  ``sports.csv`` in the newest format, a couple of grayscale JPEGs and the stray ``.h5``.
* ``sports_balls`` - ``train|test/<class>/<class>_<i>.jpg`` with varying sizes, CMYK and
  grayscale JPEGs, one very large image and a file name with a space; no validation split.
* ``workout``     - 22-style class folders at the root holding video frames named
  ``<prefix>_<video><frame:05d>.jpg``; frames of one video are near-duplicates and classes
  have uneven sizes.
* ``infiniteform`` - a COCO-style JSON and ``{id}.rgb.png`` stick figures in per-class poses
  (:mod:`sports_rec.data.synthetic.infiniteform`).
* ``exercise_video`` - subject videos of periodic stick-figure exercises with frame labels,
  masks, pose CSVs and ``split.csv`` (:mod:`sports_rec.data.synthetic.exercise_video`).

Every image is drawn from ``numpy.random.default_rng([seed, class, split, i])``, so the
output does not depend on the order of generation.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from sports_rec.data.formats import sports100 as sports100_format
from sports_rec.data.formats import sports_balls as sports_balls_format
from sports_rec.data.formats import workout as workout_format
from sports_rec.data.synthetic.draw import class_style, jitter_scene, random_scene, render
from sports_rec.data.synthetic.exercise_video import write_exercise_video
from sports_rec.data.synthetic.infiniteform import write_infiniteform

SPLIT_IDS = {"train": 0, "valid": 1, "test": 2}


def _rng(seed: int, label: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, label, SPLIT_IDS[split], index])


def _pick_classes(published: list[str], classes: int) -> list[str]:
    if not 2 <= classes <= len(published):
        raise ValueError(f"classes must be between 2 and {len(published)}, got {classes}")
    return sorted(published[:classes])


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)


def write_sports100(
    out: Path, classes: int, per_class: int, eval_per_class: int, size: int, seed: int
) -> None:
    names = _pick_classes(sports100_format.CLASS_NAMES, classes)
    rows = []
    for label, name in enumerate(names):
        style = class_style(label)
        for split, count in (
            ("train", per_class),
            ("valid", eval_per_class),
            ("test", eval_per_class),
        ):
            for i in range(count):
                rng = _rng(seed, label, split, i)
                image = render(style, random_scene(style, rng), size, rng)
                # As in the real set, a few images are single-channel grayscale.
                if i == 1 and label % 4 == 1:
                    image = image.convert("L")
                file_name = f"{i + 1:03d}.jpg" if split == "train" else f"{i + 1}.jpg"
                rel = f"{split}/{name}/{file_name}"
                _save(image, out / rel)
                rows.append((label, rel, name, split))
    with (out / "sports.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class id", "filepaths", "labels", "data set"])
        writer.writerows(rows)
    (out / "EfficientNetB0-100-(224 X 224)- 98.40.h5").write_bytes(b"\x89HDF\r\n\x1a\n")


def write_sports_balls(
    out: Path, classes: int, per_class: int, eval_per_class: int, size: int, seed: int
) -> None:
    names = _pick_classes(sports_balls_format.CLASS_NAMES, classes)
    for label, name in enumerate(names):
        style = class_style(label)
        for split, count in (("train", per_class), ("test", eval_per_class)):
            for i in range(count):
                rng = _rng(seed, label, split, i)
                # Sizes vary: aspect ratios from 0.6 to 1.6 around the requested size.
                height = int(size * rng.uniform(0.8, 1.4))
                width = int(height * rng.uniform(0.6, 1.6))
                if split == "train" and i == 0 and label == 0:
                    height, width = 8 * size, 12 * size  # a very large photo
                image = render(style, random_scene(style, rng), height, rng, width=width)
                stem = f"{name}_{i + 1}"
                if split == "train" and label in (1, classes - 1) and i == 1:
                    image = image.convert("CMYK")
                elif i == 2 and label % 5 == 0:
                    image = image.convert("L")
                if split == "train" and i == 3 and label == 1:
                    stem += " copy"
                _save(image, out / split / name / f"{stem}.jpg")


_WORKOUT_PREFIX = {"chest fly machine": "cfm", "lateral raises": "lateral raise"}


def write_workout(
    out: Path,
    classes: int,
    per_class: int,
    eval_per_class: int,
    size: int,
    seed: int,
    frames_per_video: int = 6,
) -> None:
    """``per_class`` frames on average per class, ``frames_per_video`` per video;
    ``eval_per_class`` is unused (the layout has no split)."""
    del eval_per_class
    names = _pick_classes(workout_format.CLASS_NAMES, classes)
    for label, name in enumerate(names):
        style = class_style(label)
        # Uneven classes, as in the real set (~390 to ~990 images).
        videos = max(2, round(per_class * (0.6 + 0.8 * (label % 3) / 2) / frames_per_video))
        prefix = _WORKOUT_PREFIX.get(name, name)
        for video in range(1, videos + 1):
            rng = _rng(seed, label, "train", video)
            scene = random_scene(style, rng)
            for frame in range(1, frames_per_video + 1):
                scene = jitter_scene(scene, rng)
                image = render(style, scene, size, rng)
                _save(image, out / name / f"{prefix}_{video}{frame:05d}.jpg")


WRITERS: dict[str, Callable[..., None]] = {
    "sports100": write_sports100,
    "sports_balls": write_sports_balls,
    "workout": write_workout,
    "infiniteform": write_infiniteform,
    "exercise_video": write_exercise_video,
}
