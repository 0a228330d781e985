"""Reader for frame-labelled exercise videos (study 004's layout; public source unknown).

Layout (every name below is a field of :class:`ExerciseVideoLayout`, settable as
``data.layout.<field>``)::

  <root>/dataset/anon/<subject>.mp4                       one video per subject
  <root>/dataset/mask/<subject>/<frame:06d>.png           person masks (optional)
  <root>/dataset/skeleton/yolo_pose_csv/<subject>.csv     YOLO-pose keypoints (optional)
  <root>/label/<subject>.csv                              frame_number, column1, column2
  <root>/split.csv                                        subject,split  (train / test)

The reader returns **one row per subject video**, because splits must keep a subject's
frames together and clips are cut later with a stride that depends on the split
(:mod:`sports_rec.data.clips`). The row's ``label`` is the video's dominant exercise and is
only used to stratify; the training labels are the clips'.

Bad input, and what happens (each case is named with its file):

======================================  =================================================
unreadable or truncated mp4              skipped
video shorter than ``clip_len`` frames   skipped
no label file                            skipped
label length != video length             within ``label_length_tolerance`` frames: both
                                         cut to the shorter (noted); beyond it: skipped
only background frames                   skipped
masks required, some frames missing      skipped, the missing frame numbers listed
poses required, no pose CSV              skipped
pose CSV without some joint columns      error (wrong ``pose_*`` settings affect all files)
label values outside the classes         error (wrong ``num_classes``/class column)
unparsable label file                    error naming the line
unknown split name in split.csv          error naming the row
video without a split.csv row            skipped (noted)
split.csv subject without a video        noted
nothing usable                           error with the expected layout
======================================  =================================================

Skipped videos are listed in ``VideoIndexTable.skipped`` (path -> reason; the run writes them to
``skipped_files.csv`` and ``data_report.txt``) and counted in ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sports_rec.data.clips import read_frame_labels
from sports_rec.data.formats.exercise_video_layout import (
    EXPECTED_LAYOUT,
    FORMAT,
    SPLIT_NAMES,
    ExerciseVideoLayout,
)
from sports_rec.data.index import DatasetLayoutError, IndexTable, require_dir
from sports_rec.data.io.video_io import VideoDecodeError, probe_video
from sports_rec.data.poses import (
    check_pose_header,
    describe_frames,
    missing_mask_frames,
)
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)


@dataclass
class VideoIndexTable(IndexTable):
    """An index of whole videos, with the layout that read them.

    ``skipped`` maps each left-out video to the reason; ``layout`` is what the clip, pose
    and mask loaders need to read the per-frame files the rows point to.
    """

    unit: str = "video"
    layout: ExerciseVideoLayout = field(default_factory=ExerciseVideoLayout)


def read_split_file(root: Path, layout: ExerciseVideoLayout) -> dict[str, str]:
    """``subject -> train|valid|test`` from split.csv; unknown split names are errors."""
    path = root / layout.split_file
    if not path.is_file():
        raise DatasetLayoutError(
            f"split file not found: '{path}'. Write it with the columns "
            f"'{layout.split_subject_column},{layout.split_column}' (one row per subject, "
            "split train or test), or set data.layout.split_file.\n"
            f"Expected layout:\n{EXPECTED_LAYOUT}"
        )
    try:
        table = pd.read_csv(
            path, header=None, dtype=str, skipinitialspace=True, keep_default_na=False
        )
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DatasetLayoutError(f"{path}: cannot read the split file ({err})") from err
    table = table.apply(lambda column: column.str.strip())
    first = list(table.iloc[0]) if len(table) else []
    wanted = [layout.split_subject_column, layout.split_column]
    if all(name in first for name in wanted):
        body = table.iloc[1:].set_axis(first, axis=1)[wanted]
        first_line = 2
    elif table.shape[1] == 2 and len(first) == 2 and first[1].lower() in SPLIT_NAMES:
        body = table.set_axis(wanted, axis=1)
        first_line = 1
    else:
        raise DatasetLayoutError(
            f"{path}: first row {first} is neither a header with "
            f"'{layout.split_subject_column}' and '{layout.split_column}' nor a "
            "'<subject>,<split>' row. Set data.layout.split_subject_column and "
            "data.layout.split_column to the header's names."
        )
    splits: dict[str, str] = {}
    for offset, (subject, split) in enumerate(body.itertuples(index=False, name=None)):
        line = first_line + offset
        name = SPLIT_NAMES.get(split.lower())
        if name is None:
            raise DatasetLayoutError(
                f"{path}, line {line}: subject {subject!r} has split {split!r}; accepted: "
                f"{sorted(SPLIT_NAMES)}"
            )
        subject = Path(subject).stem if subject.endswith(layout.video_suffix) else subject
        if splits.get(subject, name) != name:
            raise DatasetLayoutError(
                f"{path}, line {line}: subject {subject!r} is listed as both "
                f"{splits[subject]!r} and {name!r}"
            )
        splits[subject] = name
    return splits


def dominant_class(frame_labels: np.ndarray) -> int | None:
    """The most frequent non-background class (ties: lowest id); None if all background."""
    exercise = frame_labels[frame_labels >= 0]
    return int(np.bincount(exercise).argmax()) if len(exercise) else None


def _check_video(
    root: Path,
    subject: str,
    video: Path,
    layout: ExerciseVideoLayout,
    clip_len: int,
    require_masks: bool,
    require_poses: bool,
    label_length_tolerance: int,
    video_backend: str,
    notes: list[str],
) -> dict | str:
    """The index row of one video, or the reason to skip it."""
    label_path = layout.label_path(root, subject)
    if not label_path.is_file():
        return f"no label file ({label_path})"
    try:
        info = probe_video(video, backend=video_backend)
    except VideoDecodeError as err:
        return f"unreadable video: {err}"
    labels = read_frame_labels(label_path, layout)
    num_frames = info.num_frames
    if len(labels) != num_frames:
        difference = abs(len(labels) - num_frames)
        if difference > label_length_tolerance:
            return (
                f"{label_path.name} labels {len(labels)} frames but the video has {num_frames} "
                f"(more than data.reader.label_length_tolerance={label_length_tolerance} apart)"
            )
        num_frames = min(num_frames, len(labels))
        notes.append(
            f"{video}: {info.num_frames} video frames, {len(labels)} labelled; "
            f"using the first {num_frames}"
        )
    if num_frames < clip_len:
        return f"{num_frames} frames, shorter than one clip ({clip_len} frames)"
    label = dominant_class(labels[:num_frames])
    if label is None:
        return f"every frame of {label_path.name} is background"
    mask_dir = layout.mask_folder(root, subject)
    if require_masks:
        missing = missing_mask_frames(mask_dir, range(num_frames), layout)
        if missing:
            return f"masks missing in {mask_dir} for frame(s) {describe_frames(missing)}"
    pose_path = layout.pose_path(root, subject)
    if pose_path.is_file():
        try:
            header = pd.read_csv(pose_path, nrows=0).columns
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DatasetLayoutError(f"{pose_path}: cannot read the pose CSV ({err})") from err
        check_pose_header(pose_path, header, layout)
    elif require_poses:
        return f"no pose CSV ({pose_path})"
    return {
        "path": str(video),
        "label": label,
        "split": None,
        "group": subject,
        "label_path": str(label_path),
        "mask_dir": str(mask_dir) if mask_dir.is_dir() else None,
        "pose_path": str(pose_path) if pose_path.is_file() else None,
        "num_frames": num_frames,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
    }


def read_exercise_video(
    root: str | Path,
    clip_len: int = 16,
    require_masks: bool = False,
    require_poses: bool = False,
    label_length_tolerance: int = 5,
    video_backend: str = "decord",
    layout: Mapping[str, object] | None = None,
    **layout_options: object,
) -> VideoIndexTable:
    """Index the subject videos under ``root``: one row per usable video.

    Args:
        root: dataset root (holding ``dataset/``, ``label/`` and ``split.csv``).
        clip_len: frames per clip; shorter videos are skipped.
        require_masks: skip videos whose mask folder lacks any frame (for training with
            masks); otherwise ``mask_dir`` is filled where the folder exists.
        require_poses: skip videos without a pose CSV (for skeleton attention).
        label_length_tolerance: largest difference in frames between a label file and its
            video that is cut to the shorter (decoders and labelling tools often disagree by
            a frame or two); a larger one means the label file belongs elsewhere: skipped.
        video_backend: decoder that probes the videos (``sports_rec.data.io.video_io``).
        layout: fields of :class:`ExerciseVideoLayout` (``data.layout``, shared with the
            clip dataset); ``**layout_options`` are merged on top.

    Columns: ``path, label, split, group`` (= subject), ``label_path, mask_dir, pose_path``
    (None when absent), ``num_frames`` (usable frames: the video's, or fewer when its labels
    end earlier), ``fps, width, height`` (as probed).
    """
    layout = ExerciseVideoLayout.from_options(**{**dict(layout or {}), **layout_options})
    root = require_dir(Path(root).expanduser(), "exercise_video root", EXPECTED_LAYOUT, FORMAT)
    video_dir = require_dir(root / layout.video_dir, "video folder", EXPECTED_LAYOUT, FORMAT)
    require_dir(root / layout.label_dir, "label folder", EXPECTED_LAYOUT, FORMAT)
    splits = read_split_file(root, layout)
    videos = sorted(
        p for p in video_dir.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.name.lower().endswith(layout.video_suffix.lower())
    )  # fmt: skip
    notes: list[str] = []
    skipped: dict[str, str] = {}
    rows = []
    for video in videos:
        subject = video.name[: -len(layout.video_suffix)]
        split = splits.get(subject)
        if split is None:
            skipped[str(video)] = f"subject {subject!r} has no row in {layout.split_file}"
            continue
        row = _check_video(
            root, subject, video, layout, clip_len, require_masks, require_poses,
            label_length_tolerance, video_backend, notes,
        )  # fmt: skip
        if isinstance(row, str):
            skipped[str(video)] = row
            continue
        rows.append({**row, "split": split})
    subjects = {v.name[: -len(layout.video_suffix)] for v in videos}
    without_video = sorted(set(splits) - subjects)
    if without_video:
        notes.append(
            f"{root / layout.split_file}: {len(without_video)} subject(s) without a video: "
            + ", ".join(without_video[:10])
        )
    if skipped:
        notes.append(f"{root}: {len(skipped)} video(s) skipped (listed in skipped_files.csv)")
        for path, reason in skipped.items():
            log.warning("skipped %s: %s", path, reason)
    columns = ["path", "label", "split", "group", "label_path", "mask_dir", "pose_path",
               "num_frames", "fps", "width", "height"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    for optional in ("mask_dir", "pose_path"):  # None, not NaN, where the files are absent
        frame[optional] = frame[optional].astype(object).where(frame[optional].notna(), None)
    if frame.empty:
        raise DatasetLayoutError(
            f"{root}: no usable video ({len(videos)} found in {video_dir}, "
            f"{len(skipped)} skipped"
            + (": " + "; ".join(f"{Path(p).name}: {r}" for p, r in list(skipped.items())[:5]))
            * bool(skipped)
            + f").\nExpected layout:\n{EXPECTED_LAYOUT}\n"
            "Generate a synthetic stand-in with\n"
            f"  python -m sports_rec.data.synthetic {FORMAT} --out <dir>"
        )
    per_split = frame["split"].value_counts()
    notes.append(
        f"{root}: {len(frame)} videos ("
        + ", ".join(
            f"{s}={int(per_split[s])}" for s in ("train", "valid", "test") if s in per_split
        )
        + f"), {int(frame['num_frames'].sum())} frames"
    )
    return VideoIndexTable(
        frame=frame,
        class_names=layout.names(),
        root=str(root),
        notes=notes,
        skipped=skipped,
        layout=layout,
    )
