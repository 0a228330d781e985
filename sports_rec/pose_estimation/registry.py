"""Pose backends by name: ``create_estimator("mediapipe")``, the one way consumers get one.

Backends are listed as module paths, imported on demand, so choosing one never imports the
others' libraries, and an unknown name or option is refused with the accepted ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any

from sports_rec.errors import ConfigError
from sports_rec.pose_estimation.base import PoseEstimator

DEFAULT_BACKEND = "mediapipe"

_BACKENDS: dict[str, tuple[str, str]] = {
    "mediapipe": ("sports_rec.pose_estimation.mediapipe_backend", "MediaPipePoseEstimator"),
    "yolo": ("sports_rec.pose_estimation.yolo_backend", "YoloPoseEstimator"),
}


def available_backends() -> tuple[str, ...]:
    """Names ``create_estimator`` accepts (installed or not)."""
    return tuple(_BACKENDS)


#: The library each backend imports (checked without importing it).
_LIBRARIES = {"mediapipe": "mediapipe", "yolo": "ultralytics"}


def backend_installed(backend: str) -> bool:
    """Whether ``backend``'s library is installed (found, not imported: mediapipe takes ~1 s)."""
    library = _LIBRARIES.get(backend)
    return library is not None and importlib.util.find_spec(library) is not None


def backend_class(backend: str) -> type[PoseEstimator]:
    """The estimator class of ``backend``, or a ``ConfigError`` naming the accepted ones."""
    if backend not in _BACKENDS:
        raise ConfigError(
            f"pose.backend={backend!r} is not a pose backend; choose one of {', '.join(_BACKENDS)}"
        )
    module, name = _BACKENDS[backend]
    return getattr(importlib.import_module(module), name)


def create_estimator(backend: str = DEFAULT_BACKEND, **options: Any) -> PoseEstimator:
    """A ready estimator; raises ``PoseBackendUnavailable`` when its library or file is missing.

    ``options`` are the backend's keyword arguments (e.g. ``min_detection_confidence`` for
    mediapipe, ``weights`` for yolo); an unknown one is a ``ConfigError`` listing the valid.
    """
    cls = backend_class(backend)
    accepted = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"pose backend {backend!r} has no option(s) {', '.join(unknown)}; "
            f"its options: {', '.join(accepted)}"
        )
    return cls(**options)
