"""MediaPipe BlazePose: one person per image, 33 landmarks mapped to COCO-17, and a mask.

Why this backend: ``mediapipe==0.10.21`` carries the person detector, the full landmark model
and the segmentation head inside its wheel, so it runs offline (newer releases download
their models at run time). BlazePose finds at most ONE person per image, the most
prominent; crowds give one pose. ``mediapipe`` is imported when an estimator is created,
never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from sports_rec.errors import ConfigError
from sports_rec.pose_estimation.base import (
    INSTALL_HINT,
    PersonPose,
    PoseBackendUnavailable,
    PoseEstimator,
    check_image,
    person_box,
)
from sports_rec.pose_estimation.coco_mapping import BLAZEPOSE_LANDMARKS, blazepose_to_coco

# The landmark model each model_complexity uses; only "full" (1) is inside the 0.10.21 wheel.
LANDMARK_MODELS = {0: "pose_landmark_lite", 1: "pose_landmark_full", 2: "pose_landmark_heavy"}


def _protobuf_major() -> int:
    from google.protobuf import __version__

    return int(__version__.split(".")[0])


def _add_get_prototype() -> None:
    """Give protobuf >= 5's ``MessageFactory`` the ``GetPrototype`` that protobuf 4 had.

    mediapipe's native module looks it up at import and, when it is missing, prints
    ``AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'`` to stderr
    (harmless: results are identical with and without it). Protobuf 4's ``GetPrototype`` was
    an alias of ``GetMessageClass``; adding it back, only where absent, silences that.
    """
    from google.protobuf import message_factory

    if not hasattr(message_factory.MessageFactory, "GetPrototype"):

        def get_prototype(self: Any, descriptor: Any) -> Any:
            return message_factory.GetMessageClass(descriptor)

        message_factory.MessageFactory.GetPrototype = get_prototype


def import_pose_solution() -> ModuleType:
    """``mediapipe.solutions.pose``, or :class:`PoseBackendUnavailable` naming the fix.

    A missing mediapipe is reported before a wrong protobuf: where mediapipe has no wheel
    (Python 3.13) protobuf 7 is expected, and the fix is the Python version, not protobuf.
    """
    try:
        _add_get_prototype()
        import mediapipe.python.solutions.pose as pose_solution
    except ImportError as err:
        raise PoseBackendUnavailable(
            f"The pose backend 'mediapipe' needs mediapipe 0.10.21, which cannot be "
            f"imported ({err}). {INSTALL_HINT}"
        ) from err
    # mediapipe imports with protobuf 7 but fails when a graph is built: refuse it here.
    major = _protobuf_major()
    if major >= 7:
        raise PoseBackendUnavailable(
            f"The pose backend 'mediapipe' (0.10.21) does not run with protobuf {major}.x "
            "(protobuf 7 dropped FieldDescriptor.label, which it uses): "
            '`pip install "protobuf>=4.25.3,<7"`. ' + INSTALL_HINT
        )
    return pose_solution


def _model_file(pose_solution: ModuleType, name: str, folder: str) -> Path:
    """Where mediapipe looks for ``name``.tflite (``mediapipe/modules/<folder>/``)."""
    package = Path(pose_solution.__file__).resolve().parents[2]  # .../mediapipe
    return package / "modules" / folder / f"{name}.tflite"


class MediaPipePoseEstimator(PoseEstimator):
    """BlazePose through ``mediapipe.solutions.pose.Pose``: ``[]`` or one :class:`PersonPose`.

    ``min_detection_confidence`` is the person detector's threshold; in video mode
    (:meth:`estimate_frames`) the landmarks of one frame seed the next and the detector runs
    again only when ``min_tracking_confidence`` is not met. The mask is the segmentation
    output above ``mask_threshold``; ``segmentation=False`` skips it (``mask=None``). The
    box covers the mask and the joints of confidence ``>= box_min_conf``. BlazePose reports
    no detection score, so ``score`` is the mean confidence of the 17 COCO joints.
    """

    name = "mediapipe"

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        segmentation: bool = True,
        mask_threshold: float = 0.5,
        box_min_conf: float = 0.5,
    ) -> None:
        if model_complexity not in LANDMARK_MODELS:
            raise ConfigError(
                f"pose.model_complexity must be 0, 1 or 2 (lite, full, heavy), "
                f"got {model_complexity!r}"
            )
        for key, value in (
            ("min_detection_confidence", min_detection_confidence),
            ("min_tracking_confidence", min_tracking_confidence),
            ("mask_threshold", mask_threshold),
        ):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"pose.{key} must be in [0, 1], got {value!r}")
        self._solution = import_pose_solution()
        # The detector and the full landmark model must be in the wheel: without them
        # mediapipe would download them on first use (and fail offline). Lite and heavy (0, 2)
        # are never in the wheel; mediapipe downloads those, which needs the network.
        for name, folder in (
            ("pose_detection", "pose_detection"),
            (LANDMARK_MODELS[1], "pose_landmark"),
        ):
            path = _model_file(self._solution, name, folder)
            if not path.is_file():
                raise PoseBackendUnavailable(
                    f"This mediapipe lacks {path}: it does not carry the BlazePose models "
                    f"(mediapipe 0.10.21 does). {INSTALL_HINT}"
                )
        self.model_complexity = model_complexity
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.segmentation = bool(segmentation)
        self.mask_threshold = float(mask_threshold)
        self.box_min_conf = float(box_min_conf)
        self._image_graph: Any = None

    def _graph(self, static_image_mode: bool) -> Any:
        try:
            return self._solution.Pose(
                static_image_mode=static_image_mode,
                model_complexity=self.model_complexity,
                smooth_landmarks=True,
                enable_segmentation=self.segmentation,
                smooth_segmentation=True,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
        except OSError as err:  # urllib's URLError too: models 0 and 2 are downloaded here
            model = LANDMARK_MODELS[self.model_complexity]
            raise PoseBackendUnavailable(
                f"pose.model_complexity={self.model_complexity} needs {model}.tflite, which "
                "the mediapipe wheel does not carry; mediapipe downloads it on first use and "
                f"that failed ({err}). Use pose.model_complexity=1 (its model is in the "
                "wheel), or run once with network access."
            ) from err

    def _people(self, result: Any, height: int, width: int) -> list[PersonPose]:
        if result.pose_landmarks is None:
            return []
        landmarks = np.array(
            [(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], dtype=np.float64
        )
        if len(landmarks) != len(BLAZEPOSE_LANDMARKS):
            raise RuntimeError(f"BlazePose returned {len(landmarks)} landmarks, expected 33")
        keypoints = blazepose_to_coco(landmarks, width, height)
        mask = None
        if self.segmentation and result.segmentation_mask is not None:
            scores = np.asarray(result.segmentation_mask)
            if scores.shape != (height, width):  # mediapipe returns it at the input size
                raise RuntimeError(f"mask of shape {scores.shape} for a {height}x{width} image")
            mask = (scores > self.mask_threshold).astype(np.uint8)
        box = person_box(keypoints, mask, width, height, self.box_min_conf)
        return [PersonPose(keypoints, box, float(keypoints[:, 2].mean()), mask)]

    def estimate(self, image: np.ndarray) -> list[PersonPose]:
        image = check_image(image)
        if self._image_graph is None:
            self._image_graph = self._graph(static_image_mode=True)
        result = self._image_graph.process(image)
        return self._people(result, image.shape[0], image.shape[1])

    def estimate_frames(self, frames: Iterable[np.ndarray]) -> Iterator[list[PersonPose]]:
        graph = self._graph(static_image_mode=False)  # a fresh track per video
        try:
            for frame in frames:
                frame = check_image(frame)
                yield self._people(graph.process(frame), frame.shape[0], frame.shape[1])
        finally:
            graph.close()

    def close(self) -> None:
        if self._image_graph is not None:
            self._image_graph.close()
            self._image_graph = None
