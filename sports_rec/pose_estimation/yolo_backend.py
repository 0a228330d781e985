"""Ultralytics YOLO-pose, the exercise-video study's own tool: every person, no mask.

Why it is optional and takes a file: ``ultralytics`` is not a project dependency, and it
would download weights on first use, which an offline machine cannot. The user supplies
the weights (``pose.weights=PATH``, e.g. ``yolo11n-pose.pt``) and installs the package;
without either the estimator says which is missing. YOLO-pose already emits 17 COCO joints
in the project's order, ``(x, y, conf)`` in pixels of the input image, so nothing is mapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sports_rec.errors import ConfigError
from sports_rec.pose_estimation.base import (
    PersonPose,
    PoseBackendUnavailable,
    PoseEstimator,
    check_image,
)

YOLO_HINT = (
    "The pose backend 'yolo' runs Ultralytics YOLO-pose with weights you supply "
    "(nothing is downloaded): pose.backend=yolo pose.weights=PATH/TO/yolo11n-pose.pt, and "
    "`pip install ultralytics` (not among the project's extras). The default backend, "
    "pose.backend=mediapipe, needs neither."
)


class YoloPoseEstimator(PoseEstimator):
    """YOLO-pose on one image at a time: every person above ``conf``, best first, mask ``None``.

    ``estimate_frames`` runs frame by frame (no tracker: a pose CSV keeps the most
    confident person per frame anyway, see :func:`sports_rec.data.poses.read_pose_csv`).
    """

    name = "yolo"

    def __init__(
        self,
        weights: str | Path | None = None,
        conf: float = 0.25,
        iou: float = 0.7,
        imgsz: int = 640,
        device: str | None = None,
    ) -> None:
        if weights is None or not str(weights).strip():
            raise PoseBackendUnavailable(f"No YOLO-pose weights given. {YOLO_HINT}")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise PoseBackendUnavailable(f"pose.weights={path} is not a file. {YOLO_HINT}")
        if not 0.0 <= float(conf) <= 1.0:
            raise ConfigError(f"pose.conf must be in [0, 1], got {conf!r}")
        try:
            from ultralytics import YOLO
        except ImportError as err:
            raise PoseBackendUnavailable(
                f"ultralytics cannot be imported ({err}). {YOLO_HINT}"
            ) from err
        self.weights = path
        self._predict_options: dict[str, Any] = {
            "conf": float(conf),
            "iou": float(iou),
            "imgsz": int(imgsz),
            "verbose": False,
            **({"device": device} if device is not None else {}),
        }
        self._model: Any = YOLO(str(path))

    def estimate(self, image: np.ndarray) -> list[PersonPose]:
        image = check_image(image)
        # Ultralytics reads a numpy image as OpenCV's BGR.
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        result = self._model.predict(bgr, **self._predict_options)[0]
        if result.keypoints is None or result.boxes is None or len(result.boxes) == 0:
            return []
        keypoints = _numpy(result.keypoints.data).astype(np.float32)  # [N, 17, 2 or 3]
        if keypoints.shape[-1] == 2:  # a model trained without visibility: all joints count
            keypoints = np.concatenate([keypoints, np.ones_like(keypoints[..., :1])], -1)
        boxes = _numpy(result.boxes.xyxy)
        scores = _numpy(result.boxes.conf)
        height, width = image.shape[:2]
        people = []
        for i in np.argsort(-scores, kind="stable"):
            x0, y0, x1, y1 = np.clip(boxes[i], 0, [width, height, width, height])
            people.append(PersonPose(keypoints[i], (x0, y0, x1, y1), float(scores[i])))
        return people


def _numpy(value: Any) -> np.ndarray:
    """A torch tensor (on any device) or array as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
