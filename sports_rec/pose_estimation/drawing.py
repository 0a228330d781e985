"""Skeletons drawn on images: ``draw_pose(rgb, keypoints)`` for overlays, predict and explain.

Keypoints are the project's ``[17, 3]`` COCO arrays in the continuous pixel convention of
:mod:`sports_rec.data.poses` (the image spans ``[0, W] x [0, H]``): OpenCV draws on pixel
centres, so ``0.5`` is subtracted and coordinates are passed with sub-pixel precision
(``shift`` bits), which keeps a 64 px test frame and a 4K photo equally exact. The third
column is a confidence (``PersonPose``) or a COCO visibility ``v`` (0/1/2, InfiniteForm):
joints below ``min_conf`` are not drawn, nor the bones touching them, so ``v = 0`` (outside
the frame) and the zero slots of joints an annotation lacks never appear.

Colours follow the subject's sides (COCO names joints from the person's point of view):
left joints and bones in one colour, right in another, the centre (nose, the shoulder and
hip bars, face bones that cross) in a third. Line width and dot size follow the image size.
Everything returns a drawn copy; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from sports_rec.data.keypoints import COCO_KEYPOINTS, COCO_SKELETON, NUM_KEYPOINTS
from sports_rec.pose_estimation.base import PersonPose

Colour = tuple[int, int, int]

LEFT_COLOUR: Colour = (255, 140, 0)  # orange: the subject's left side
RIGHT_COLOUR: Colour = (30, 144, 255)  # blue: the subject's right side
CENTRE_COLOUR: Colour = (240, 240, 240)  # near-white: nose, shoulder and hip bars
MASK_COLOUR: Colour = (0, 200, 80)  # green tint over the person's mask
BOX_COLOUR: Colour = (255, 255, 0)
MASK_ALPHA = 0.35

_SHIFT = 4  # OpenCV fixed-point bits: coordinates are drawn to 1/16 px
_SCALE = 1 << _SHIFT


def _side(joint: int) -> int:
    """-1 for a left joint, 1 for a right one, 0 for the nose."""
    name = COCO_KEYPOINTS[joint]
    return -1 if name.startswith("left_") else 1 if name.startswith("right_") else 0


def joint_colour(joint: int) -> Colour:
    """The colour of COCO joint ``joint`` (by the subject's side)."""
    return {-1: LEFT_COLOUR, 1: RIGHT_COLOUR, 0: CENTRE_COLOUR}[_side(joint)]


def bone_colour(a: int, b: int) -> Colour:
    """Left or right when both ends are on that side, else the centre colour."""
    side_a, side_b = _side(a), _side(b)
    return joint_colour(a) if side_a == side_b else CENTRE_COLOUR


def line_width(height: int, width: int) -> int:
    """Bone thickness in pixels for an image of that size (1 px up to ~200 px images)."""
    return max(1, round(min(height, width) / 200))


def _as_keypoints(keypoints: np.ndarray | PersonPose) -> np.ndarray:
    array = keypoints.keypoints if isinstance(keypoints, PersonPose) else keypoints
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != NUM_KEYPOINTS or array.shape[1] < 3:
        raise ValueError(
            f"keypoints must be [{NUM_KEYPOINTS}, 3] (x, y, confidence or v), got {array.shape}"
        )
    return array


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be RGB uint8 [H, W, 3], got {rgb.dtype} {rgb.shape}")
    return rgb


def _point(x: float, y: float) -> tuple[int, int]:
    """A continuous-convention point as OpenCV fixed-point pixel-centre coordinates."""
    return round((x - 0.5) * _SCALE), round((y - 0.5) * _SCALE)


def tint_mask(
    rgb: np.ndarray, mask: np.ndarray, colour: Colour = MASK_COLOUR, alpha: float = MASK_ALPHA
) -> np.ndarray:
    """A copy of ``rgb`` with the non-zero pixels of ``mask`` (``[H, W]``) tinted."""
    rgb = _check_rgb(rgb)
    mask = np.asarray(mask)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask of shape {mask.shape} for an image of {rgb.shape[:2]}")
    out = rgb.copy()
    on = mask != 0
    if on.any():
        blended = (1 - alpha) * out[on].astype(np.float32) + alpha * np.float32(colour)
        out[on] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def _draw_skeleton(
    canvas: np.ndarray,
    keypoints: np.ndarray,
    min_conf: float,
    bones: Sequence[tuple[int, int]],
    thickness: int,
    radius: int,
) -> None:
    """Draw in place on a contiguous uint8 RGB canvas."""
    shown = (keypoints[:, 2] >= min_conf) & np.isfinite(keypoints[:, :2]).all(axis=1)
    for a, b in bones:
        if shown[a] and shown[b]:
            cv2.line(
                canvas,
                _point(*keypoints[a, :2]),
                _point(*keypoints[b, :2]),
                bone_colour(a, b),
                thickness,
                cv2.LINE_AA,
                _SHIFT,
            )
    for joint in np.flatnonzero(shown):
        centre = _point(*keypoints[joint, :2])
        cv2.circle(
            canvas, centre, radius * _SCALE, joint_colour(int(joint)), -1, cv2.LINE_AA, _SHIFT
        )
        cv2.circle(canvas, centre, radius * _SCALE, (0, 0, 0), 1, cv2.LINE_AA, _SHIFT)


def draw_pose(
    rgb: np.ndarray,
    keypoints: np.ndarray | PersonPose,
    min_conf: float = 0.5,
    mask: np.ndarray | None = None,
    bones: Sequence[tuple[int, int]] = COCO_SKELETON,
    thickness: int | None = None,
    radius: int | None = None,
) -> np.ndarray:
    """A copy of ``rgb`` (uint8 ``[H, W, 3]``) with one skeleton drawn on it.

    Args:
        keypoints: ``[17, 3]`` ``(x, y, conf or v)`` in pixels of ``rgb`` (continuous
            convention), or a :class:`PersonPose` (its keypoints; pass ``mask=person.mask``
            to tint its mask too).
        min_conf: joints below it (and their bones) are not drawn; with COCO visibility
            values any threshold in ``(0, 1]`` draws ``v = 1, 2`` and hides ``v = 0``.
        mask: ``[H, W]``, non-zero = person: tinted translucently under the skeleton.
        bones: joint pairs to connect (``COCO_SKELETON``; ``BODY_BONES`` leaves the face out).
        thickness, radius: line width and dot radius in pixels (default: from the size).
    """
    rgb = _check_rgb(rgb)
    points = _as_keypoints(keypoints)
    canvas = tint_mask(rgb, mask) if mask is not None else rgb.copy()
    canvas = np.ascontiguousarray(canvas)
    height, width = canvas.shape[:2]
    thickness = thickness or line_width(height, width)
    radius = radius or thickness + 1
    _draw_skeleton(canvas, points, min_conf, bones, thickness, radius)
    return canvas


def draw_people(
    rgb: np.ndarray,
    people: Iterable[PersonPose],
    min_conf: float = 0.5,
    masks: bool = True,
    boxes: bool = False,
    bones: Sequence[tuple[int, int]] = COCO_SKELETON,
) -> np.ndarray:
    """A copy of ``rgb`` with every person's mask (union, when ``masks``), box (when
    ``boxes``) and skeleton drawn; ``[]`` gives an unchanged copy."""
    rgb = _check_rgb(rgb)
    people = list(people)
    canvas = rgb.copy()
    person_masks = [p.mask for p in people if p.mask is not None]
    if masks and person_masks:
        canvas = tint_mask(canvas, np.any(np.stack(person_masks), axis=0))
    canvas = np.ascontiguousarray(canvas)
    height, width = canvas.shape[:2]
    thickness = line_width(height, width)
    for person in people:
        if boxes:
            x0, y0, x1, y1 = person.box
            cv2.rectangle(
                canvas, _point(x0 + 0.5, y0 + 0.5), _point(x1 - 0.5, y1 - 0.5), BOX_COLOUR,
                thickness, cv2.LINE_AA, _SHIFT,
            )  # fmt: skip
        _draw_skeleton(canvas, person.keypoints, min_conf, bones, thickness, thickness + 1)
    return canvas
