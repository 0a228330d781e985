"""Frame labels of exercise videos and the fixed-length clips cut from them.

The reader indexes whole videos (one row per subject) so that splits stay per subject; the
clips are cut afterwards because study 004 samples them differently per split (training:
overlapping windows, stride 8; evaluation: stride 16). Everything but
:func:`read_frame_labels` is a pure function of tables and arrays.

Choices the study leaves open (checklist 004, "clip label rule"):

* **Label rule, default ``majority``**: a clip is labelled with the label most of its frames
  carry, background counting as a label; ties go to the centre frame's label when it is
  among the tied ones, else to the lowest id (background lowest). A clip straddling the end
  of an exercise therefore gets the exercise that fills most of it, where ``centre`` (the
  label of frame ``start + clip_len // 2``) can pick a label that covers a minority.
* **Background**: a clip whose label is background (all its frames, or most of them)
  is dropped (``background="exclude"``) or gets the extra class id ``num_classes``
  (``background="class"``).
* Clips never cross the end of a video (or of its labels, if those are shorter).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.data.index import DatasetLayoutError
from sports_rec.errors import ConfigError
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

LABEL_RULES = ("majority", "centre")
BACKGROUND_OPTIONS = ("exclude", "class")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _integers(values: pd.Series, path: Path, column: str, key: str, first_line: int) -> np.ndarray:
    """``values`` as int64; a non-integer cell raises an error naming its line."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers.round() != numbers)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DatasetLayoutError(
            f"{path}, line {first_line + row}: {column!r} value {values.iloc[row]!r} is not an "
            f"integer; check data.layout.{key}"
        )
    return numbers.to_numpy().astype(np.int64)


def read_frame_labels(label_path: str | Path, layout: ExerciseVideoLayout) -> np.ndarray:
    """Class id of every frame (int64, background = -1) from a ``label/<subject>.csv``.

    The header row is optional: a first row with a non-numeric cell is a header and the
    frame/class columns are found by name (``label_frame_column``, ``label_class_column``);
    without one, the columns are named positionally by ``label_columns``. Frames are placed
    by their number (minus the frame base; auto: the first frame number, 0 or 1); frame
    numbers the file skips count as background.
    """
    path = Path(label_path)
    try:
        raw = pd.read_csv(
            path, header=None, dtype=str, skipinitialspace=True, keep_default_na=False
        )
    except pd.errors.EmptyDataError as err:
        raise DatasetLayoutError(f"{path}: the label file is empty") from err
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DatasetLayoutError(f"{path}: cannot read the label file ({err})") from err
    raw = raw.apply(lambda column: column.str.strip())
    has_header = not all(_is_number(cell) for cell in raw.iloc[0] if cell != "")
    if has_header:
        columns = list(raw.iloc[0])
        body, first_line = raw.iloc[1:], 2
        wanted = [layout.label_frame_column, layout.label_class_column]
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise DatasetLayoutError(
                f"{path}: header {columns} lacks {missing}. Set data.layout.label_frame_column "
                "and data.layout.label_class_column to the header's names (now "
                f"{layout.label_frame_column!r}, {layout.label_class_column!r})."
            )
    else:
        columns = list(layout.label_columns)
        body, first_line = raw, 1
        if raw.shape[1] != len(columns):
            raise DatasetLayoutError(
                f"{path}: {raw.shape[1]} columns and no header, but data.layout.label_columns "
                f"names {len(columns)} ({columns}); set it to one name per column."
            )
    body = body.set_axis(columns, axis=1)
    if body.empty:
        raise DatasetLayoutError(f"{path}: the label file has a header but no rows")
    frames = _integers(
        body[layout.label_frame_column], path, layout.label_frame_column,
        "label_frame_column", first_line,
    )  # fmt: skip
    classes = _integers(
        body[layout.label_class_column], path, layout.label_class_column,
        "label_class_column", first_line,
    )  # fmt: skip
    base = layout.label_frame_base
    if base is None:
        base = int(frames.min())
        if base not in (0, 1):
            raise DatasetLayoutError(
                f"{path}: frames start at {base}; cannot tell whether they count from 0 or 1. "
                "Set data.layout.label_frame_base."
            )
    index = frames - base
    if (index < 0).any():
        raise DatasetLayoutError(
            f"{path}: frame number {int(frames.min())} is below data.layout.label_frame_base={base}"
        )
    unique, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        raise DatasetLayoutError(
            f"{path}: frame {int(unique[counts > 1][0]) + base} is labelled more than once"
        )
    valid = (classes == layout.background_label) | ((classes >= 0) & (classes < layout.num_classes))
    if not valid.all():
        row = int(np.flatnonzero(~valid)[0])
        raise DatasetLayoutError(
            f"{path}, line {first_line + row}: class {int(classes[row])} is neither background "
            f"({layout.background_label}) nor in 0..{layout.num_classes - 1}. Set "
            "data.layout.num_classes, or data.layout.label_class_column if this is the wrong "
            "column."
        )
    labels = np.full(int(index.max()) + 1, -1, dtype=np.int64)
    labels[index] = np.where(classes == layout.background_label, -1, classes)
    if len(index) < len(labels):
        log.debug(
            "%s: %d frame numbers missing, read as background", path, len(labels) - len(index)
        )
    return labels


def video_frame_labels(videos: pd.DataFrame, layout: ExerciseVideoLayout) -> dict[str, np.ndarray]:
    """Frame labels of every video row (``path`` -> labels cut to the row's ``num_frames``)."""
    return {
        row.path: read_frame_labels(row.label_path, layout)[: int(row.num_frames)]
        for row in videos.itertuples(index=False)
    }


def clip_starts(num_frames: int, clip_len: int, stride: int) -> np.ndarray:
    """First frames of every clip that fits: ``0, stride, ...`` while ``start + clip_len <= n``."""
    if clip_len < 1 or stride < 1:
        raise ConfigError(f"clip_len and stride must be >= 1, got {clip_len} and {stride}")
    return np.arange(0, max(num_frames - clip_len + 1, 0), stride, dtype=np.int64)


def clip_labels(
    frame_labels: np.ndarray, starts: np.ndarray, clip_len: int, rule: str = "majority"
) -> np.ndarray:
    """Label (background -1) of each clip ``[start, start + clip_len)`` under ``rule``."""
    if rule not in LABEL_RULES:
        raise ConfigError(f"label_rule must be one of {LABEL_RULES}, got {rule!r}")
    frame_labels = np.asarray(frame_labels, dtype=np.int64)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    centre = frame_labels[starts + clip_len // 2]
    if rule == "centre":
        return centre
    windows = np.lib.stride_tricks.sliding_window_view(frame_labels, clip_len)[starts] + 1
    counts = np.zeros((len(starts), int(windows.max()) + 1), dtype=np.int64)
    np.add.at(counts, (np.arange(len(starts))[:, None], windows), 1)
    tied = counts == counts.max(axis=1, keepdims=True)
    centre_wins = tied[np.arange(len(starts)), centre + 1]
    return np.where(centre_wins, centre, counts.argmax(axis=1) - 1)


def make_clips(
    videos: pd.DataFrame,
    frame_labels: Mapping[str, np.ndarray],
    clip_len: int = 16,
    stride: int = 8,
    label_rule: str = "majority",
    background: str = "exclude",
    num_classes: int = 17,
) -> pd.DataFrame:
    """One row per clip: ``path, group, split, start_frame, label`` + the other video columns.

    ``videos`` is the reader's table (or a split of it); ``frame_labels`` maps each video's
    ``path`` to its frame labels. A video's clips stop at ``min(num_frames, len(labels))``.
    """
    if background not in BACKGROUND_OPTIONS:
        raise ConfigError(f"background must be one of {BACKGROUND_OPTIONS}, got {background!r}")
    if label_rule not in LABEL_RULES:
        raise ConfigError(f"label_rule must be one of {LABEL_RULES}, got {label_rule!r}")
    carried = [c for c in videos.columns if c not in ("path", "group", "split", "label")]
    columns = ["path", "group", "split", "start_frame", "label", *carried]
    parts: list[pd.DataFrame] = []
    for video in videos.to_dict("records"):
        if video["path"] not in frame_labels:
            raise ValueError(f"no frame labels given for {video['path']}")
        labels = np.asarray(frame_labels[video["path"]], dtype=np.int64)
        if len(labels) and labels.max() >= num_classes:
            raise ConfigError(
                f"{video['path']}: frame label {int(labels.max())} >= num_classes={num_classes}"
            )
        usable = min(int(video.get("num_frames", len(labels))), len(labels))
        starts = clip_starts(usable, clip_len, stride)
        clip_label = clip_labels(labels, starts, clip_len, label_rule)
        if background == "exclude":
            starts, clip_label = starts[clip_label >= 0], clip_label[clip_label >= 0]
        else:
            clip_label = np.where(clip_label < 0, num_classes, clip_label)
        part = pd.DataFrame({"start_frame": starts, "label": clip_label})
        for column in ("path", "group", "split", *carried):
            part[column] = [video.get(column)] * len(part)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def downsample_class(
    clips: pd.DataFrame,
    class_id: int = 1,
    target: str | int = "median_of_others",
    seed: int = 42,
    split: str | None = "train",
) -> pd.DataFrame:
    """Keep a random ``target`` of class ``class_id``'s clips in ``split``; the rest untouched.

    The study's ``--downsample-class1``: "Downsample Class 1 to match median count of other
    classes". Applied once, to clips (the unit that is trained on), at the dataset level,
    so every epoch sees the same subset and the removal is visible in ``splits.csv``.
    ``target="median_of_others"`` is the median clip count of the other classes present in
    ``split`` (rounded down); an int sets it directly. Row order is preserved. The counts
    before and after are logged and stored in ``result.attrs["downsample"]``.
    """
    rows = clips["split"] == split if split is not None else pd.Series(True, index=clips.index)
    labels = clips.loc[rows, "label"]
    counts = labels.value_counts()
    before = int(counts.get(class_id, 0))
    if target == "median_of_others":
        others = counts.drop(class_id, errors="ignore")
        if others.empty:
            raise ConfigError(
                f"cannot downsample class {class_id} to the median of the other classes: "
                f"no other class has clips in split {split!r}"
            )
        goal = int(np.median(others.to_numpy()))
    elif isinstance(target, int) or str(target).isdigit():
        goal = int(target)
    else:
        raise ConfigError(f"downsample target must be 'median_of_others' or an int, got {target!r}")
    result = clips
    if before > goal:
        members = labels.index[labels == class_id]
        rng = np.random.default_rng(seed)
        dropped = rng.choice(members.to_numpy(), size=before - goal, replace=False)
        result = clips.drop(index=dropped)
    after = min(before, goal)
    log.info(
        "downsampled class %s in %s clips: %d -> %d (target %s = %d)",
        class_id, split or "all", before, after, target, goal,
    )  # fmt: skip
    result = result.copy()
    result.attrs["downsample"] = {
        "class_id": class_id,
        "split": split,
        "target": goal,
        "before": before,
        "after": after,
    }
    return result
