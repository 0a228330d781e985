"""BlazePose's 33 landmarks as the project's 17 COCO joints: the one table, and the conversion.

BlazePose (MediaPipe Pose) names its landmarks from the subject's point of view, as COCO
does: ``left_shoulder`` is the person's own left shoulder, on the image's right when they
face the camera. Every COCO joint exists in BlazePose under the same name, so the table is
a pure selection, no averaging; BlazePose's extra points (inner/outer eyes, mouth, hands,
heels, toes) are dropped. Landmarks come normalised to the image (``x / W``, ``y / H``, the
image spanning ``[0, 1]``), so ``x * W, y * H`` is already the continuous pixel convention of
:mod:`sports_rec.data.poses`. BlazePose's ``visibility`` (the probability that the landmark is
in frame and not occluded) becomes the confidence.
"""

from __future__ import annotations

import numpy as np

from sports_rec.data.keypoints import COCO_KEYPOINTS, V_OCCLUDED, V_OUTSIDE, V_VISIBLE

# mediapipe.solutions.pose.PoseLandmark, in order (index = landmark id).
BLAZEPOSE_LANDMARKS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

# BLAZEPOSE_TO_COCO[i] is the BlazePose landmark that gives COCO joint i.
BLAZEPOSE_TO_COCO: tuple[int, ...] = (
    0,       # nose
    2, 5,    # left_eye, right_eye
    7, 8,    # left_ear, right_ear
    11, 12,  # left_shoulder, right_shoulder
    13, 14,  # left_elbow, right_elbow
    15, 16,  # left_wrist, right_wrist
    23, 24,  # left_hip, right_hip
    25, 26,  # left_knee, right_knee
    27, 28,  # left_ankle, right_ankle
)  # fmt: skip


def blazepose_to_coco(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """COCO keypoints float32 ``[17, 3]`` in pixels from BlazePose landmarks ``[33, 3]``.

    ``landmarks`` rows are ``(x, y, visibility)`` with ``x, y`` normalised to the image of
    ``width x height`` pixels. Confidence is the visibility clipped to ``[0, 1]``.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (len(BLAZEPOSE_LANDMARKS), 3):
        raise ValueError(
            f"landmarks must be [{len(BLAZEPOSE_LANDMARKS)}, 3] (x, y, visibility), "
            f"got {landmarks.shape}"
        )
    chosen = landmarks[list(BLAZEPOSE_TO_COCO)]
    out = np.empty((len(COCO_KEYPOINTS), 3), dtype=np.float32)
    out[:, 0] = chosen[:, 0] * width
    out[:, 1] = chosen[:, 1] * height
    out[:, 2] = np.clip(chosen[:, 2], 0.0, 1.0)
    return out


#: What becomes of an image in which no person was found: a sample with all-zero
#: keypoints, or none.
NO_PERSON_POLICIES = ("zeros", "skip")


def coco_keypoints(
    keypoints: np.ndarray, width: int, height: int, min_conf: float = 0.5
) -> np.ndarray:
    """Estimated ``[17, 3]`` ``(x, y, conf)`` as COCO ``(x, y, v)`` float32, the one rule
    the ``pose`` command's files and the keypoint cache share: ``v = 2`` inside the image
    with ``conf >= min_conf``, 1 inside but less confident (occluded), 0 outside the image
    (its ``x, y`` kept, as InfiniteForm keeps them), and the zero slot ``x = y = v = 0`` for
    a joint not placed at all. The image spans ``[0, width] x [0, height]``."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    x, y, conf = keypoints[:, 0], keypoints[:, 1], keypoints[:, 2]
    placed = np.isfinite(x) & np.isfinite(y) & np.isfinite(conf) & (conf > 0)
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    v = np.where(inside, np.where(conf >= min_conf, V_VISIBLE, V_OCCLUDED), V_OUTSIDE)
    out = np.stack([x, y, v], axis=1)
    out[~placed] = 0.0
    return out.astype(np.float32)
