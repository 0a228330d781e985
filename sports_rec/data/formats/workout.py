"""Reader for Kaggle's "Workout/Exercises Images" (hasyimabdillah).

Layout: 22 class folders directly under ``<root>``, no split. Files are video frames named
``<prefix>_<number>.jpg`` (``plank_100001.jpg``, ``cfm_100001.jpg``,
``lateral raise_100001.jpg``): the trailing ``frame_digits`` digits number the frame inside
one video and the digits before them number the video. Frames of one video are
near-duplicates, so the reader adds a ``group`` column (``<class>/<prefix>#<video>``) that a
grouped split keeps together; the study's random per-image split leaks across it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from sports_rec.data.index import (
    DatasetLayoutError,
    IndexTable,
    class_folders,
    list_images,
    report_empty_classes,
    require_dir,
)

EXPECTED_LAYOUT = """\
  <root>/<class name>/<prefix>_<video><frame>.jpg   (22 class folders, no split folders)
  e.g. <root>/plank/plank_100001.jpg  = video 1, frame 00001"""

CLASS_NAMES: list[str] = [
    "barbell biceps curl", "bench press", "chest fly machine", "deadlift",
    "decline bench press", "hammer curl", "hip thrust", "incline bench press", "lat pulldown",
    "lateral raises", "leg extension", "leg raises", "plank", "pull up", "push up",
    "romanian deadlift", "russian twist", "shoulder press", "squat", "t bar row", "tricep dips",
    "tricep pushdown",
]  # fmt: skip

_FRAME_NAME = re.compile(r"^(?P<prefix>.*?)[ _-]*(?P<number>\d+)$")


def video_group(class_name: str, stem: str, frame_digits: int = 5) -> str:
    """Group id of a frame file: ``<class>/<prefix>#<video number>``.

    Names without a trailing number form a group of their own (no leakage is possible).
    """
    match = _FRAME_NAME.match(stem)
    if match is None:
        return f"{class_name}/{stem}"
    number = match.group("number")
    video = number[:-frame_digits] if len(number) > frame_digits else "0"
    return f"{class_name}/{match.group('prefix')}#{int(video)}"


def read_workout(root: str | Path, frame_digits: int = 5) -> IndexTable:
    """Index the workout layout; rows carry ``group`` (video id) and ``split=None``."""
    root = require_dir(Path(root).expanduser(), "workout root", EXPECTED_LAYOUT, "workout")
    folders = class_folders(root)
    split_like = [f.name for f in folders if f.name in {"train", "valid", "test"}]
    if split_like:
        raise DatasetLayoutError(
            f"{root}: found split folder(s) {split_like}; the workout layout has the 22 class "
            f"folders directly under the root.\nExpected layout:\n{EXPECTED_LAYOUT}"
        )
    class_names = [f.name for f in folders]
    rows = []
    for label, folder in enumerate(folders):
        for image in list_images(folder):
            rows.append(
                {
                    "path": str(image),
                    "label": label,
                    "split": None,
                    "group": video_group(folder.name, image.stem, frame_digits),
                }
            )
    frame = pd.DataFrame(rows, columns=["path", "label", "split", "group"])
    if frame.empty:
        raise DatasetLayoutError(f"{root}: no images found.\nExpected layout:\n{EXPECTED_LAYOUT}")
    notes = report_empty_classes(frame, class_names, str(root))
    notes.append(
        f"{root}: {frame['group'].nunique()} videos (groups) across {len(class_names)} classes"
    )
    return IndexTable(frame=frame, class_names=class_names, root=str(root), notes=notes)
