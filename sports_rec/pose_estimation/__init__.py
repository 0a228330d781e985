"""Poses and person masks from any RGB image or video frame, behind one small interface.

``create_estimator(backend)`` returns a :class:`PoseEstimator` whose ``estimate(image)`` gives
one :class:`PersonPose` per person found: 17 COCO keypoints in the project's order and
conventions (:mod:`sports_rec.data.poses`), a box, a 0/1 mask. Backends: ``mediapipe``
(BlazePose, offline, one person per image; the ``pose`` extra) and ``yolo`` (Ultralytics
YOLO-pose with weights the user supplies). No backend library is imported until an
estimator is created.
"""

from sports_rec.pose_estimation.base import (
    INSTALL_HINT,
    PersonPose,
    PoseBackendUnavailable,
    PoseEstimator,
    check_image,
    person_box,
)
from sports_rec.pose_estimation.coco_mapping import (
    BLAZEPOSE_LANDMARKS,
    BLAZEPOSE_TO_COCO,
    blazepose_to_coco,
)
from sports_rec.pose_estimation.registry import (
    DEFAULT_BACKEND,
    available_backends,
    backend_class,
    create_estimator,
)

__all__ = [
    "BLAZEPOSE_LANDMARKS",
    "BLAZEPOSE_TO_COCO",
    "DEFAULT_BACKEND",
    "INSTALL_HINT",
    "PersonPose",
    "PoseBackendUnavailable",
    "PoseEstimator",
    "available_backends",
    "backend_class",
    "blazepose_to_coco",
    "check_image",
    "create_estimator",
    "person_box",
]
