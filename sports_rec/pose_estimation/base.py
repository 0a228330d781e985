"""The one interface every pose backend meets, and what it returns per person.

Consumers (the ``pose`` command, ``predict``, datasets with ``data.keypoints=estimate``)
see only :class:`PoseEstimator` and :class:`PersonPose`, so a backend is swapped by name and
its library is imported only when that backend is created: the package imports without any
pose library installed.

Conventions are those of :mod:`sports_rec.data.poses` and :mod:`sports_rec.data.keypoints`:
17 COCO joints in YOLO-pose order, ``(x, y, conf)`` in pixels of the input image in
continuous coordinates (the image spans ``[0, W] x [0, H]``, pixel ``(i, j)`` has its centre
at ``(j + 0.5, i + 0.5)``), masks as ``0/1`` uint8 ready to multiply frames with.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from sports_rec.data.keypoints import NUM_KEYPOINTS
from sports_rec.errors import ConfigError

# What to run, in one place, so every "not installed" message says the same thing.
INSTALL_HINT = (
    "Install the pose extra with `make install` (it does both steps), or by hand: "
    '`pip install -e ".[pose]"` then `pip install --no-deps -r constraints/pose-no-deps.txt` '
    "(mediapipe 0.10.21 declares numpy<2 and protobuf<5 but runs with numpy 2 and "
    "protobuf<7, so it is installed without its declared dependencies; the extra carries "
    "the ones it needs). mediapipe 0.10.21 has wheels for CPython 3.9-3.12 on Linux x86_64, "
    "macOS and Windows only: there is none for Python 3.13 or Linux aarch64, so use a "
    "Python 3.12 (or older) virtualenv there."
)


class PoseBackendUnavailable(ConfigError):
    """The chosen pose backend cannot run here; the message names what to install or give."""


@dataclass(frozen=True)
class PersonPose:
    """One person found in one image.

    ``keypoints`` is float32 ``[17, 3]`` ``(x, y, conf)`` in pixels of the input image
    (continuous convention; joints outside the frame keep their predicted position, with
    whatever confidence the backend gives them). ``box`` is ``(x0, y0, x1, y1)`` in the same
    coordinates, inside the image. ``mask`` is ``0/1`` uint8 ``[H, W]`` at the input size, or
    ``None`` when the backend makes no mask. ``score`` in ``[0, 1]`` ranks people in one image.
    """

    keypoints: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        keypoints = np.ascontiguousarray(self.keypoints, dtype=np.float32)
        if keypoints.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(
                f"keypoints must be [{NUM_KEYPOINTS}, 3] (x, y, conf), got {keypoints.shape}"
            )
        object.__setattr__(self, "keypoints", keypoints)
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))
        object.__setattr__(self, "score", float(self.score))
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.ndim != 2:
                raise ValueError(f"mask must be [H, W], got shape {mask.shape}")
            object.__setattr__(self, "mask", (mask != 0).astype(np.uint8))

    @property
    def area(self) -> float:
        """Person pixels of the mask when there is one, else the box area (COCO's ``area``)."""
        if self.mask is not None:
            return float(self.mask.sum())
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as a C-contiguous RGB uint8 ``[H, W, 3]`` array, or a ``ValueError`` saying why.

    Backends need exactly this layout (MediaPipe refuses anything else with a terse
    message), and a silently converted float or BGR image would give wrong poses.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be RGB uint8 [H, W, 3], got {image.dtype} of shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def person_box(
    keypoints: np.ndarray,
    mask: np.ndarray | None,
    width: int,
    height: int,
    min_conf: float = 0.5,
) -> tuple[float, float, float, float]:
    """The box around a person: its mask pixels and its confident joints, inside the image.

    Joints alone miss the top of the head and the feet's extent, so the mask (when it has
    pixels) widens the box; joints below ``min_conf`` are left out because a backend may place
    unseen joints far off. With neither, all joints are used. A mask pixel ``(i, j)`` spans
    ``[j, j + 1] x [i, i + 1]`` in the continuous convention.
    """
    xs: list[float] = []
    ys: list[float] = []
    if mask is not None and mask.any():
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        xs += [float(cols[0]), float(cols[-1] + 1)]
        ys += [float(rows[0]), float(rows[-1] + 1)]
    confident = keypoints[keypoints[:, 2] >= min_conf]
    if not len(confident) and not xs:
        confident = keypoints
    xs += confident[:, 0].tolist()
    ys += confident[:, 1].tolist()
    x0, x1 = np.clip([min(xs), max(xs)], 0.0, float(width))
    y0, y1 = np.clip([min(ys), max(ys)], 0.0, float(height))
    return float(x0), float(y0), float(x1), float(y1)


class PoseEstimator(abc.ABC):
    """Finds people and their poses in RGB images; a context manager that frees its models.

    ``estimate`` treats every image on its own. ``estimate_frames`` reads consecutive
    frames of one video and may track the person from frame to frame (faster and steadier);
    each call starts a new track, so two videos never share state.
    """

    name: str = "base"

    @abc.abstractmethod
    def estimate(self, image: np.ndarray) -> list[PersonPose]:
        """People in one RGB uint8 ``[H, W, 3]`` image, most confident first ([] for none)."""

    def estimate_frames(self, frames: Iterable[np.ndarray]) -> Iterator[list[PersonPose]]:
        """People per frame of one video, lazily, in frame order (default: frame by frame)."""
        for frame in frames:
            yield self.estimate(frame)

    def close(self) -> None:  # noqa: B027 - backends without resources need not override
        """Free the backend's models and threads; the estimator is unusable afterwards."""

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
