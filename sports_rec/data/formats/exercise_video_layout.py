"""The exercise-video layout's naming conventions (:class:`ExerciseVideoLayout`).

A module of its own so that everything reading a part of the layout (the reader, frame
labels, poses and masks, the clip dataset) depends on it and nothing else: it imports
nothing of theirs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from sports_rec.data.keypoints import COCO_KEYPOINTS
from sports_rec.errors import ConfigError

FORMAT = "exercise_video"
COCO_JOINTS: tuple[str, ...] = tuple(COCO_KEYPOINTS)  # the pose CSV's joints, YOLO order

EXPECTED_LAYOUT = """\
  <root>/dataset/anon/<subject>.mp4
  <root>/dataset/mask/<subject>/<frame:06d>.png             (optional person masks)
  <root>/dataset/skeleton/yolo_pose_csv/<subject>.csv       (optional: frame,<joint>_x,_y,_conf)
  <root>/label/<subject>.csv      rows 'frame_number, column1, column2' (class; -1 background)
  <root>/split.csv                columns 'subject,split' (split: train / test)"""

# Accepted split names in split.csv (case-insensitive) and what they mean here.
SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "test": "test",
    "testing": "test",
}


@dataclass(frozen=True)
class ExerciseVideoLayout:
    """Every naming convention of the layout, in one place (all paths relative to the root).

    The study does not publish its source, so the label columns, split.csv columns, mask
    names and pose CSV columns are conventions chosen here; each can be overridden from the
    data config (``data.layout.<field>=...``).

    Attributes:
        video_dir, video_suffix: where the subject videos are (``<subject><suffix>``).
        label_dir, label_suffix: one label file per subject.
        label_columns: column names of a label file without a header row, in order.
        label_frame_column, label_class_column: the frame-number and class columns (by
            name, in the header when there is one, else in ``label_columns``).
        label_frame_base: number of the first video frame in label files; None detects
            it per file (the first frame number, which must be 0 or 1).
        background_label: class value of frames between exercises.
        split_file, split_subject_column, split_column: the subject -> split table; a
            file whose first row is not this header is read as headerless (subject, split).
        mask_dir, mask_pattern, mask_frame_base: ``<mask_dir>/<subject>/<pattern>``,
            ``pattern`` formatted with ``frame`` = 0-based frame index + ``mask_frame_base``.
        pose_dir, pose_suffix: one pose CSV per subject.
        pose_frame_column, pose_joints, pose_coords, pose_column_pattern, pose_frame_base:
            pose CSV columns are ``pose_frame_column`` plus, for every joint and coordinate,
            ``pose_column_pattern.format(joint=..., coord=...)``; by default the 17 COCO
            joints in YOLO-pose order as ``<joint>_x, <joint>_y, <joint>_conf`` in pixels.
        num_classes: exercise classes (ids ``0..num_classes-1``).
        class_names: their names; default ``"0"`` .. ``"<num_classes - 1>"``.
        background: what a clip of background frames becomes: ``exclude`` (dropped) or
            ``class`` (an extra class ``background``, id ``num_classes``).
    """

    video_dir: str = "dataset/anon"
    video_suffix: str = ".mp4"
    label_dir: str = "label"
    label_suffix: str = ".csv"
    label_columns: tuple[str, ...] = ("frame_number", "column1", "column2")
    label_frame_column: str = "frame_number"
    label_class_column: str = "column2"
    label_frame_base: int | None = None
    background_label: int = -1
    split_file: str = "split.csv"
    split_subject_column: str = "subject"
    split_column: str = "split"
    mask_dir: str = "dataset/mask"
    mask_pattern: str = "{frame:06d}.png"
    mask_frame_base: int = 0
    pose_dir: str = "dataset/skeleton/yolo_pose_csv"
    pose_suffix: str = ".csv"
    pose_frame_column: str = "frame"
    pose_joints: tuple[str, ...] = COCO_JOINTS
    pose_coords: tuple[str, ...] = ("x", "y", "conf")
    pose_column_pattern: str = "{joint}_{coord}"
    pose_frame_base: int = 0
    num_classes: int = 17
    class_names: tuple[str, ...] | None = None
    background: str = "exclude"

    def __post_init__(self) -> None:
        if self.background not in ("exclude", "class"):
            raise ConfigError(
                f"data.layout.background must be exclude or class, got {self.background!r}"
            )
        if self.num_classes < 1:
            raise ConfigError(f"data.layout.num_classes must be >= 1, got {self.num_classes}")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ConfigError(
                f"data.layout.class_names has {len(self.class_names)} names but "
                f"data.layout.num_classes is {self.num_classes}"
            )
        if len(self.pose_coords) != 3:
            raise ConfigError(
                "data.layout.pose_coords must name 3 columns per joint (x, y, confidence), "
                f"got {list(self.pose_coords)}"
            )
        if 0 <= self.background_label < self.num_classes:
            raise ConfigError(
                f"data.layout.background_label={self.background_label} collides with a class id"
            )

    @classmethod
    def from_options(cls, **options: object) -> ExerciseVideoLayout:
        """A layout from config values (Hydra lists become tuples; unknown keys are errors)."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown data.layout option(s) {unknown} for exercise_video; "
                f"accepted: {sorted(known)}"
            )
        values = {
            key: tuple(str(v) for v in value)
            if value is not None and not isinstance(value, str) and "tuple" in str(known[key].type)
            else value
            for key, value in options.items()
        }
        return cls(**values)

    def names(self) -> list[str]:
        """The class names, ``background`` last when background clips are a class."""
        names = (
            list(self.class_names)
            if self.class_names
            else [str(i) for i in range(self.num_classes)]
        )
        return [*names, "background"] if self.background == "class" else names

    def label_path(self, root: Path, subject: str) -> Path:
        return root / self.label_dir / f"{subject}{self.label_suffix}"

    def mask_folder(self, root: Path, subject: str) -> Path:
        return root / self.mask_dir / subject

    def pose_path(self, root: Path, subject: str) -> Path:
        return root / self.pose_dir / f"{subject}{self.pose_suffix}"
