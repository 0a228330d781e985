"""Per-frame body keypoints, person masks and skeleton-guided attention for exercise videos.

Study 004 trains on frames multiplied by person masks and by "spatial attention masks centred
on key body joints (shoulders, elbows, wrists, hips)" built from YOLO-pose keypoints with a
Gaussian ``--skeleton-sigma`` (default 10). It leaves the formula open; the choices made here:

* **Keypoints** are 17 COCO joints in YOLO-pose order, ``(x, y, conf)`` in pixels of the
  original video frame, continuous coordinates (the image spans ``[0, W] x [0, H]``, pixel
  ``(i, j)`` has its centre at ``(j + 0.5, i + 0.5)``), so resizing a frame by a factor
  scales keypoints by the same factor (:func:`resize_keypoints`).
* **Masks** are returned as ``0/1`` uint8, ready to multiply frames with; any non-zero pixel
  of the PNG counts as person, so masks saved as 0/255 and as 0/1 both work.
* **Attention** is the maximum (not the sum: overlapping joints must not exceed 1) of one
  isotropic Gaussian per confident joint, ``exp(-d^2 / (2 sigma^2))``, peak 1 at the joint.
  ``sigma`` is in pixels of the map being computed; with ``reference_height`` it is instead
  in pixels at that frame height and is scaled by ``height / reference_height``, so a blob
  covers the same body region whatever resolution the map is computed at (the study's
  sigma 10 at a ~550 px video is ~2 px at 112 px). A frame without any joint above
  ``min_conf`` gets an all-ones map: no attention rather than a black frame, so a missed
  detection does not erase the person.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.data.index import DatasetLayoutError

# COCO keypoint order, as YOLO-pose (Ultralytics) emits it: the one list of sports_rec.

# The study's 8 attention joints: shoulders, elbows, wrists, hips (COCO indices 5..12).
ATTENTION_JOINTS: tuple[int, ...] = tuple(range(5, 13))

# Ultralytics draws a keypoint only above this confidence; the study states no threshold.
DEFAULT_MIN_CONF = 0.5


def pose_column_names(layout: ExerciseVideoLayout) -> list[str]:
    """The ``3 * len(pose_joints)`` coordinate columns, joint-major (x, y, conf per joint)."""
    return [
        layout.pose_column_pattern.format(joint=joint, coord=coord)
        for joint in layout.pose_joints
        for coord in layout.pose_coords
    ]


def check_pose_header(
    path: str | Path, columns: Sequence[str], layout: ExerciseVideoLayout
) -> None:
    """Raise a layout error naming every expected pose column that ``columns`` lacks."""
    expected = [layout.pose_frame_column, *pose_column_names(layout)]
    present = {str(c).strip() for c in columns}
    missing = [c for c in expected if c not in present]
    if missing:
        shown = ", ".join(missing[:12]) + (
            f" ... ({len(missing)} in all)" if len(missing) > 12 else ""
        )
        raise DatasetLayoutError(
            f"{path}: pose CSV lacks the column(s) {shown}.\n"
            f"Found columns: {', '.join(map(str, columns))}.\n"
            "Set data.layout.pose_frame_column, data.layout.pose_joints, "
            "data.layout.pose_coords or data.layout.pose_column_pattern to match the file "
            f"(now: frame column {layout.pose_frame_column!r}, pattern "
            f"{layout.pose_column_pattern!r}, coords {list(layout.pose_coords)})."
        )


def read_pose_csv(path: str | Path, layout: ExerciseVideoLayout, num_frames: int) -> np.ndarray:
    """Keypoints of every frame as float32 ``[num_frames, J, 3]`` (x, y, conf).

    Frames without a row get zeros (conf 0, so attention ignores them). When a frame has
    several rows (several detected people), the row with the highest mean confidence is
    kept: the exercising subject is the clearest person in frame. Rows numbered beyond the
    video are dropped; missing values read as 0.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DatasetLayoutError(f"{path}: cannot read the pose CSV ({err})") from err
    table.columns = [str(c).strip() for c in table.columns]
    check_pose_header(path, list(table.columns), layout)
    frames = pd.to_numeric(table[layout.pose_frame_column], errors="coerce")
    if frames.isna().any():
        line = int(np.flatnonzero(frames.isna().to_numpy())[0]) + 2  # 1-based, after header
        raise DatasetLayoutError(
            f"{path}, line {line}: frame number "
            f"{table[layout.pose_frame_column].iloc[line - 2]!r} is not a number "
            f"(column data.layout.pose_frame_column={layout.pose_frame_column!r})"
        )
    values = (
        table[pose_column_names(layout)]
        .apply(pd.to_numeric, errors="coerce")
        .fillna(0.0)
        .to_numpy(np.float32)
        .reshape(len(table), len(layout.pose_joints), len(layout.pose_coords))
    )
    index = frames.to_numpy().astype(np.int64) - layout.pose_frame_base
    keep = (index >= 0) & (index < num_frames)
    index, values = index[keep], values[keep]
    # Per frame keep the most confident person: sort by (frame, mean conf) and take the last.
    order = np.lexsort((values[:, :, 2].mean(axis=1), index))
    index, values = index[order], values[order]
    last = np.r_[index[1:] != index[:-1], True] if len(index) else np.zeros(0, bool)
    out = np.zeros((num_frames, len(layout.pose_joints), 3), np.float32)
    out[index[last]] = values[last]
    return out


def resize_keypoints(
    keypoints: np.ndarray, from_hw: tuple[int, int], to_hw: tuple[int, int]
) -> np.ndarray:
    """Keypoints of a ``from_hw`` frame moved to the same frame stretched to ``to_hw``."""
    scale = np.array([to_hw[1] / from_hw[1], to_hw[0] / from_hw[0], 1.0], np.float32)
    return (keypoints * scale).astype(np.float32)


def skeleton_attention(
    keypoints: np.ndarray,
    height: int,
    width: int,
    sigma: float = 10.0,
    joints: Sequence[int] = ATTENTION_JOINTS,
    min_conf: float = DEFAULT_MIN_CONF,
    reference_height: int | None = None,
) -> np.ndarray:
    """Attention maps ``[T, height, width]`` float32 in [0, 1] from keypoints ``[T, J, 3]``.

    Keypoints are in pixels of a ``height x width`` frame (see the module docstring for
    the conventions). The Gaussians are separable, so each joint costs one outer product of
    a column and a row profile per frame; the maximum is accumulated joint by joint, which
    keeps memory at one ``[T, H, W]`` array even at full video resolution.
    """
    keypoints = np.asarray(keypoints, np.float32)
    if keypoints.ndim != 3 or keypoints.shape[2] < 3:
        raise ValueError(f"keypoints must be [T, J, 3], got shape {keypoints.shape}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if reference_height is not None:
        sigma = sigma * height / reference_height
    chosen = keypoints[:, list(joints)]  # [T, J', 3]
    confident = chosen[:, :, 2] >= min_conf  # [T, J']
    xs = np.arange(width, dtype=np.float32) + 0.5
    ys = np.arange(height, dtype=np.float32) + 0.5
    inv = np.float32(-0.5 / sigma**2)
    # Row/column profiles per frame and joint; zero for joints below min_conf.
    gx = np.exp(inv * (xs[None, None, :] - chosen[:, :, 0:1]) ** 2) * confident[..., None]
    gy = np.exp(inv * (ys[None, None, :] - chosen[:, :, 1:2]) ** 2)
    maps = np.zeros((len(keypoints), height, width), np.float32)
    for j in range(chosen.shape[1]):
        np.maximum(maps, gy[:, j, :, None] * gx[:, j, None, :], out=maps)
    maps[~confident.any(axis=1)] = 1.0
    return maps


def mask_file_names(layout: ExerciseVideoLayout, frame_indices: Sequence[int]) -> list[str]:
    """File names of the masks of 0-based ``frame_indices`` (``mask_pattern`` with its base)."""
    return [
        layout.mask_pattern.format(frame=int(i) + layout.mask_frame_base) for i in frame_indices
    ]


def missing_mask_frames(
    mask_dir: str | Path, frame_indices: Sequence[int], layout: ExerciseVideoLayout
) -> list[int]:
    """The 0-based frames among ``frame_indices`` without a mask file (one directory listing)."""
    mask_dir = Path(mask_dir)
    present = {p.name for p in mask_dir.iterdir()} if mask_dir.is_dir() else set()
    names = mask_file_names(layout, frame_indices)
    return [int(i) for i, name in zip(frame_indices, names, strict=True) if name not in present]


def describe_frames(frames: Sequence[int], limit: int = 8) -> str:
    """``"0, 1, 2 ... (40 in all)"``: a short list of frame numbers for error messages."""
    shown = ", ".join(str(f) for f in frames[:limit])
    return shown + (f" ... ({len(frames)} in all)" if len(frames) > limit else "")


def load_mask_frames(
    mask_dir: str | Path, frame_indices: Sequence[int], layout: ExerciseVideoLayout
) -> np.ndarray:
    """Person masks of 0-based ``frame_indices`` as uint8 ``[T, H, W]`` with values 0/1."""
    mask_dir = Path(mask_dir)
    missing = missing_mask_frames(mask_dir, frame_indices, layout)
    if missing:
        raise DatasetLayoutError(
            f"{mask_dir}: no mask file for frame(s) {describe_frames(missing)} "
            f"(expected e.g. '{mask_file_names(layout, missing[:1])[0]}').\n"
            "Set data.layout.mask_pattern / data.layout.mask_frame_base to the naming of "
            f"the mask files (now {layout.mask_pattern!r}, base {layout.mask_frame_base}), "
            "or train without masks."
        )
    masks = []
    for name in mask_file_names(layout, frame_indices):
        with Image.open(mask_dir / name) as image:
            masks.append(np.asarray(image.convert("L")) > 0)
    shapes = {m.shape for m in masks}
    if len(shapes) > 1:
        raise DatasetLayoutError(f"{mask_dir}: mask frames differ in size: {sorted(shapes)}")
    return np.stack(masks).astype(np.uint8)
