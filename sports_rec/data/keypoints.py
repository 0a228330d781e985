"""COCO-17 body keypoints: names, left/right symmetry, limbs, and the vectors models consume.

Keypoints are ``[17, 3]`` float arrays of ``(x, y, v)`` in COCO order, in **continuous** pixel
coordinates of the image they were annotated on (the image spans ``[0, W] x [0, H]``; this is
also ``sports_rec.data.poses``' convention), so a horizontal flip maps ``x`` to ``W - x`` and a
crop at ``(x0, y0)`` subtracts ``(x0, y0)``.

Visibility follows COCO as InfiniteForm uses it: ``0`` outside the frame (InfiniteForm keeps
the true, out-of-image ``x, y`` of such joints), ``1`` in the frame but occluded, ``2``
visible. A joint the annotation does not provide at all is a **zero slot** ``(0, 0, 0)``:
InfiniteForm has no nose and no ears. Every transform here leaves zero slots at exactly zero,
so "not provided" never turns into a real-looking point at the image corner or its mirror.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NUM_KEYPOINTS = len(COCO_KEYPOINTS)

V_OUTSIDE, V_OCCLUDED, V_VISIBLE = 0, 1, 2


def _flip_index(names: Sequence[str]) -> tuple[int, ...]:
    """Index of each joint's mirror twin: ``left_x`` <-> ``right_x``, centre joints fixed."""
    position = {name: i for i, name in enumerate(names)}

    def twin(name: str) -> str:
        if name.startswith("left_"):
            return "right_" + name[len("left_") :]
        if name.startswith("right_"):
            return "left_" + name[len("right_") :]
        return name

    return tuple(position[twin(name)] for name in names)


# Derived from the names so it cannot drift from them: after mirroring an image, the joint
# that sits where the left wrist was is the *right* wrist, so rows are permuted by this index.
COCO_FLIP_INDEX: tuple[int, ...] = _flip_index(COCO_KEYPOINTS)

# COCO's person skeleton (the 1-based pairs of person_keypoints.json, made 0-based): limbs to
# draw between joints.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
# The skeleton without the face (nose, eyes, ears): the limbs and torso a drawn figure has.
BODY_BONES: tuple[tuple[int, int], ...] = tuple(
    (a, b) for a, b in COCO_SKELETON if a >= 5 and b >= 5
)


def keypoint_vector_size(visibility: bool = True) -> int:
    """Length of :func:`encode_keypoints`' output: 51 with visibility, 34 without."""
    return NUM_KEYPOINTS * (3 if visibility else 2)


def keypoints_from_flat(values: Sequence[float]) -> np.ndarray:
    """COCO's flat ``[x1, y1, v1, x2, ...]`` list as a float32 ``[17, 3]`` array.

    Raises ``ValueError`` (with the reason) unless ``values`` is 51 finite numbers; readers
    turn that into a skip or an error that names the record.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"keypoints must be a list of numbers, got {type(values).__name__}")
    if len(values) != 3 * NUM_KEYPOINTS:
        raise ValueError(
            f"keypoints has {len(values)} numbers, expected {3 * NUM_KEYPOINTS} "
            f"({NUM_KEYPOINTS} COCO joints x (x, y, v))"
        )
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError("keypoints holds a value that is not a number")
    array = np.asarray(values, dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
    if not np.isfinite(array).all():
        raise ValueError("keypoints holds a NaN or infinite value")
    return array


def _check(keypoints: np.ndarray) -> np.ndarray:
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be [{NUM_KEYPOINTS}, 3] (x, y, v), got {keypoints.shape}")
    return keypoints


def zero_slots(keypoints: np.ndarray) -> np.ndarray:
    """Boolean ``[17]``: joints the annotation does not provide (``x = y = v = 0``)."""
    return ~np.any(_check(keypoints) != 0, axis=1)


def encode_keypoints(
    keypoints: np.ndarray,
    width: float,
    height: float,
    normalise: bool = False,
    visibility: bool = True,
) -> np.ndarray:
    """One float32 vector per keypoint set, joint-major: ``[x0, y0, (v0), x1, ...]``.

    Args:
        keypoints: ``[17, 3]`` ``(x, y, v)`` in pixels of a ``width x height`` image.
        normalise: ``False`` keeps raw pixels (what study 003 concatenated to the ResNet
            features); ``True`` divides ``x`` by ``width`` and ``y`` by ``height``, so joints in
            the frame land in ``[0, 1]`` whatever the resolution (joints outside the frame,
            ``v = 0``, keep their out-of-range position: it still describes the pose).
        visibility: keep ``v`` (0/1/2, unscaled) as every third value; ``False`` drops it.

    Zero slots stay exactly zero in every mode.
    """
    keypoints = _check(keypoints)
    out = keypoints.copy()
    if normalise:
        if width <= 0 or height <= 0:
            raise ValueError(f"width and height must be > 0 to normalise, got {width}x{height}")
        out[:, 0] /= np.float32(width)
        out[:, 1] /= np.float32(height)
    if not visibility:
        out = out[:, :2]
    return np.ascontiguousarray(out, dtype=np.float32).reshape(-1)


def flip_keypoints(keypoints: np.ndarray, width: float) -> np.ndarray:
    """Keypoints of the same image mirrored left-right (``x -> width - x``, sides swapped)."""
    keypoints = _check(keypoints)
    empty = zero_slots(keypoints)
    out = keypoints.copy()
    out[:, 0] = np.float32(width) - keypoints[:, 0]
    out[empty] = 0.0
    return out[list(COCO_FLIP_INDEX)]


def crop_keypoints(keypoints: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Keypoints in the coordinates of the crop ``box = (x0, y0, x1, y1)`` of their image.

    Only the origin moves; ``v`` keeps describing the original scene (a crop never hides a
    joint the full image showed: crops from the readers enclose the whole avatar).
    """
    keypoints = _check(keypoints)
    empty = zero_slots(keypoints)
    out = keypoints.copy()
    out[:, 0] -= np.float32(box[0])
    out[:, 1] -= np.float32(box[1])
    out[empty] = 0.0
    return out


def stack_keypoints(column: Iterable[np.ndarray]) -> np.ndarray:
    """A table's ``keypoints`` column (one ``[17, 3]`` array per row) as ``[N, 17, 3]``."""
    arrays = [_check(k) for k in column]
    if not arrays:
        return np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
    return np.stack(arrays)
