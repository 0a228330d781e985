"""Estimated poses written as the project's readers read them.

* Images -> an **InfiniteForm-style dataset** (:class:`CocoPoseWriter`), which
  :func:`sports_rec.data.formats.infiniteform.read_infiniteform` indexes and
  ``data=infiniteform data.root=<output>`` trains on::

    <output>/annotations.json          COCO-style: images, annotations, categories
    <output>/images/<id>.rgb.png       every readable image, re-saved upright as PNG

  Image ids run 1, 2, ... in the (sorted) input order; unreadable files get none. Each
  annotation is one person: ``keypoints`` (51 numbers, COCO ``x, y, v`` in continuous
  pixels), ``bbox`` ``[x, y, w, h]``, ``area`` (mask pixels, else the box's),
  ``pose_category`` (the class: the image's folder), ``num_keypoints`` (joints with
  ``v > 0``), ``score`` and ``estimated_by`` (the backend). ``v`` follows
  :mod:`sports_rec.data.keypoints` (InfiniteForm's use of COCO): **2** for a joint inside the
  image with confidence ``>= min_conf``, **1** inside but less confident (BlazePose's
  confidence is the probability that the joint is visible, so a low one means occluded),
  **0** for a joint predicted outside the image (its ``x, y`` kept, as InfiniteForm keeps
  them), and the zero slot ``x = y = v = 0`` for a joint the backend did not place at all
  (confidence exactly 0, or no finite position). An image without a person gets, with
  ``no_person="zeros"`` (default), one annotation of 17 zero slots, ``bbox [0, 0, 0, 0]``
  and ``area 0`` - it keeps its label and trains with "no keypoints" (``unit=avatar``
  skips it: it has no box) - or, with ``no_person="skip"``, none (the reader then skips
  the image and counts it in its notes).

* Videos -> the **exercise-video layout's** per-frame files (:class:`VideoPoseWriter`),
  which :func:`sports_rec.data.poses.read_pose_csv`, :func:`~sports_rec.data.poses.
  load_mask_frames` and ``read_exercise_video(require_poses=True, require_masks=True)``
  accept::

    <root>/dataset/skeleton/yolo_pose_csv/<subject>.csv   frame,<joint>_x,<joint>_y,<joint>_conf
    <root>/dataset/mask/<subject>/<frame:06d>.png          0/255 uint8, every frame

  (names from :class:`ExerciseVideoLayout`, so ``data.layout``-style overrides apply). The
  CSV has one row per person found (frames are 0-based, ``pose_frame_base``); a frame
  without a person has no row, which ``read_pose_csv`` reads as zeros. Every frame gets a
  mask: the union of the people's masks, all zeros when nobody was found. Existing files
  are kept unless ``overwrite``: a complete data root is completed in place.

Files appear atomically (a staging file renamed when complete), so an interrupted run never
leaves a half-written JSON, CSV or PNG behind.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from PIL import Image

from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.data.formats.infiniteform import IMAGE_SUFFIX
from sports_rec.data.keypoints import (
    COCO_KEYPOINTS,
    COCO_SKELETON,
    NUM_KEYPOINTS,
)
from sports_rec.data.poses import mask_file_names, pose_column_names
from sports_rec.pose_estimation.base import PersonPose
from sports_rec.pose_estimation.coco_mapping import NO_PERSON_POLICIES, coco_keypoints
from sports_rec.utils.atomic import atomic_write, staging_file

ANNOTATIONS_FILE = "annotations.json"
IMAGES_DIR = "images"
UNKNOWN_CATEGORY = "unknown"
PNG_COMPRESSION = 3  # zlib level: ~2x faster than PIL's default 6, files ~10% larger


def _round(value: float, digits: int = 2) -> float:
    return float(round(float(value), digits))


def coco_box(box: Sequence[float]) -> list[float]:
    """``(x0, y0, x1, y1)`` as COCO's ``[x, y, w, h]``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return [_round(x0), _round(y0), _round(max(0.0, x1 - x0)), _round(max(0.0, y1 - y0))]


def person_category() -> dict[str, Any]:
    """COCO's person category with the keypoint names and the (1-based) skeleton."""
    return {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO_KEYPOINTS),
        "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
    }


class CocoPoseWriter:
    """Collects images and their people; :meth:`close` writes ``annotations.json``.

    ``add`` saves the image at once (``images/<id>.rgb.png``) and keeps only its records in
    memory (a few hundred bytes per person), so any number of images fits.
    """

    def __init__(
        self,
        root: str | Path,
        backend: str,
        min_conf: float = 0.5,
        no_person: str = "zeros",
        description: str = "",
    ) -> None:
        if no_person not in NO_PERSON_POLICIES:
            raise ValueError(f"no_person must be one of {NO_PERSON_POLICIES}, got {no_person!r}")
        self.root = Path(root)
        self.backend = backend
        self.min_conf = float(min_conf)
        self.no_person = no_person
        self.description = description
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        (self.root / IMAGES_DIR).mkdir(parents=True, exist_ok=True)

    @property
    def annotations_path(self) -> Path:
        return self.root / ANNOTATIONS_FILE

    def image_path(self, image_id: int) -> Path:
        return self.root / IMAGES_DIR / f"{image_id}{IMAGE_SUFFIX}"

    def add(
        self, rgb: np.ndarray, people: Sequence[PersonPose], category: str, source: str = ""
    ) -> int:
        """Save ``rgb`` as the next image and record ``people`` in it; returns its id."""
        image_id = len(self.images) + 1
        height, width = rgb.shape[:2]
        path = self.image_path(image_id)
        with atomic_write(path) as staging:
            Image.fromarray(rgb).save(staging, format="PNG", compress_level=PNG_COMPRESSION)
        self.images.append(
            {
                "id": image_id,
                "file_name": path.name,
                "width": int(width),
                "height": int(height),
                "source": source,
            }
        )
        if not people and self.no_person == "zeros":
            self._annotate(
                image_id, np.zeros((NUM_KEYPOINTS, 3), np.float32), None, 0.0, 0.0, category
            )
        for person in people:
            keypoints = coco_keypoints(person.keypoints, width, height, self.min_conf)
            self._annotate(image_id, keypoints, person.box, person.area, person.score, category)
        return image_id

    def _annotate(
        self,
        image_id: int,
        keypoints: np.ndarray,
        box: Sequence[float] | None,
        area: float,
        score: float,
        category: str,
    ) -> None:
        flat = [
            _round(v) if i % 3 != 2 else int(v)
            for i, v in enumerate(keypoints.reshape(-1).tolist())
        ]
        self.annotations.append(
            {
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "category_id": 1,
                "keypoints": flat,
                "num_keypoints": int((keypoints[:, 2] > 0).sum()),
                "bbox": coco_box(box) if box is not None else [0.0, 0.0, 0.0, 0.0],
                "area": _round(area),
                "iscrowd": 0,
                "pose_category": category,
                "score": _round(score, 4),
                "estimated_by": self.backend,
            }
        )

    def close(self) -> Path:
        """Write ``annotations.json`` (atomically) and return its path."""
        data = {
            "info": {
                "description": self.description
                or "poses estimated by sports_rec.pose (InfiniteForm-style layout)",
                "estimated_by": self.backend,
                "min_conf": self.min_conf,
                "no_person": self.no_person,
                "keypoint_visibility": "2: inside, conf >= min_conf; 1: inside, lower; "
                "0: outside the image (x, y kept); x = y = v = 0: not placed",
            },
            "images": self.images,
            "annotations": self.annotations,
            "categories": [person_category()],
        }
        with atomic_write(self.annotations_path) as staging:
            staging.write_text(json.dumps(data, separators=(",", ":")))
        return self.annotations_path


def pose_table_columns() -> list[str]:
    """Columns of ``poses.csv``: one row per input image, its most confident person."""
    joints = [f"{joint}_{coord}" for joint in COCO_KEYPOINTS for coord in ("x", "y", "conf")]
    return [
        "path", "image_id", "width", "height", "category", "persons", "score",
        "box_x0", "box_y0", "box_x1", "box_y1", *joints, "error",
    ]  # fmt: skip


def pose_table_row(
    path: str,
    people: Sequence[PersonPose] = (),
    image_id: int | None = None,
    size: tuple[int, int] | None = None,
    category: str = "",
    error: str = "",
) -> dict[str, Any]:
    """The ``poses.csv`` row of one image (joints and box empty without a person)."""
    row: dict[str, Any] = dict.fromkeys(pose_table_columns(), "")
    row.update(path=path, category=category, error=error, persons=len(people))
    if image_id is not None:
        row["image_id"] = image_id
    if size is not None:
        row["width"], row["height"] = size
    if people:
        best = people[0]
        row["score"] = _round(best.score, 4)
        for key, value in zip(("box_x0", "box_y0", "box_x1", "box_y1"), best.box, strict=True):
            row[key] = _round(value)
        for joint, (x, y, conf) in zip(COCO_KEYPOINTS, best.keypoints.tolist(), strict=True):
            row[f"{joint}_x"], row[f"{joint}_y"] = _round(x), _round(y)
            row[f"{joint}_conf"] = _round(conf, 4)
    return row


def union_mask(people: Sequence[PersonPose], height: int, width: int) -> np.ndarray:
    """The people's masks combined, uint8 0/1 ``[height, width]`` (zeros for nobody)."""
    mask = np.zeros((height, width), np.uint8)
    for person in people:
        if person.mask is not None:
            if person.mask.shape != mask.shape:
                raise ValueError(f"mask {person.mask.shape} for a {height}x{width} frame")
            mask |= person.mask
    return mask


def save_mask(path: Path, mask: np.ndarray) -> None:
    """A 0/1 mask as a 0/255 grayscale PNG, atomically."""
    with atomic_write(path) as staging:
        Image.fromarray((mask != 0).astype(np.uint8) * 255, mode="L").save(
            staging, format="PNG", compress_level=PNG_COMPRESSION
        )


class VideoPoseWriter:
    """The pose CSV and mask PNGs of one video, written frame by frame (flat memory).

    ``write_csv``: write ``<subject>.csv`` (a staging file renamed by :meth:`close`, so an
    error mid-video leaves any earlier CSV untouched). ``write_masks``: save each frame's
    mask, except files that exist when ``overwrite`` is false (counted in ``masks_kept``).
    """

    def __init__(
        self,
        root: str | Path,
        subject: str,
        layout: ExerciseVideoLayout | None = None,
        write_csv: bool = True,
        write_masks: bool = True,
        overwrite: bool = False,
    ) -> None:
        self.layout = layout or ExerciseVideoLayout()
        self.root = Path(root)
        self.subject = subject
        self.csv_path = self.layout.pose_path(self.root, subject)
        self.mask_dir = self.layout.mask_folder(self.root, subject)
        self.write_masks = write_masks
        self.overwrite = overwrite
        self.frames = 0
        self.frames_with_person = 0
        self.persons = 0
        self.masks_written = 0
        self.masks_kept = 0
        self._existing_masks: set[str] = set()
        if write_masks:
            self.mask_dir.mkdir(parents=True, exist_ok=True)
            self._existing_masks = {p.name for p in self.mask_dir.iterdir()}
        self._handle: TextIO | None = None
        self._staging: Path | None = None
        self._writer: Any = None
        if write_csv:
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            self._staging = staging_file(self.csv_path)
            self._handle = self._staging.open("w", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow([self.layout.pose_frame_column, *pose_column_names(self.layout)])

    def add(self, index: int, people: Sequence[PersonPose], height: int, width: int) -> None:
        """Record frame ``index`` (0-based) and the people found in it."""
        self.frames += 1
        self.persons += len(people)
        self.frames_with_person += bool(people)
        if self._writer is not None:
            number = index + self.layout.pose_frame_base
            for person in people:
                values = [
                    f"{v:.2f}" if i % 3 != 2 else f"{v:.4f}"
                    for i, v in enumerate(person.keypoints.reshape(-1).tolist())
                ]
                self._writer.writerow([number, *values])
        if self.write_masks:
            name = mask_file_names(self.layout, [index])[0]
            if name in self._existing_masks and not self.overwrite:
                self.masks_kept += 1
            else:
                save_mask(self.mask_dir / name, union_mask(people, height, width))
                self.masks_written += 1

    def close(self, complete: bool = True) -> None:
        """Finish the CSV: renamed onto ``<subject>.csv`` when ``complete``, else dropped."""
        if self._handle is None or self._staging is None:
            return
        try:
            self._handle.close()
            if complete:
                os.replace(self._staging, self.csv_path)
        finally:
            self._staging.unlink(missing_ok=True)
            self._handle = None

    @property
    def writes_csv(self) -> bool:
        return self._staging is not None


def missing_masks(root: Path, subject: str, num_frames: int, layout: ExerciseVideoLayout) -> int:
    """How many of the video's ``num_frames`` mask files are absent."""
    folder = layout.mask_folder(root, subject)
    present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return sum(name not in present for name in mask_file_names(layout, range(num_frames)))
