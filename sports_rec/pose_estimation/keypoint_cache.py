"""Keypoints of image files estimated once, cached by file content.

``data.dataset.keypoints=estimate`` gives any image dataset (sports100, sports balls, workout,
a folder of one's own) the 17 COCO keypoints the InfiniteForm fusion nets take, and ``predict``
gives a fusion-net checkpoint plain photos the same way. Estimating costs ~30 ms an image on
a CPU core, so each result is kept as one small JSON file under ``cache_dir``, keyed by the
SHA-1 of the file's bytes and the estimator's settings: a renamed or copied photo is a hit,
an edited one a miss, and runs, sweeps and DDP ranks share the cache.

Keypoints are returned in COCO's ``(x, y, v)`` convention in pixels of the **source image**
(the convention of the InfiniteForm reader, so :class:`~sports_rec.data.datasets.
KeypointImageDataset` treats both alike), by the rule the ``pose`` command writes
(:func:`~sports_rec.pose_estimation.coco_mapping.coco_keypoints`). An image in which no
person is found has no keypoints (``None``): what that means for a sample is the
dataset's ``no_person`` policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

from sports_rec.data.io.image_io import load_image, source_size
from sports_rec.data.keypoints import NUM_KEYPOINTS
from sports_rec.errors import ConfigError
from sports_rec.pose_estimation.coco_mapping import NO_PERSON_POLICIES, coco_keypoints
from sports_rec.pose_estimation.registry import DEFAULT_BACKEND, create_estimator
from sports_rec.utils.atomic import write_text_atomic
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

#: Images are estimated at most this large (shorter side): BlazePose works at 256 px.
ESTIMATE_SIDE = 512


@dataclass(frozen=True)
class EstimateOptions:
    """How keypoints are estimated for a dataset (``data.dataset.keypoints``).

    ``keypoints=estimate`` uses these defaults; a mapping sets any of them, e.g.
    ``data.dataset.keypoints={backend: mediapipe, no_person: skip}``.
    """

    backend: str = DEFAULT_BACKEND
    min_conf: float = 0.5
    no_person: str = "zeros"
    cache_dir: str | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: Any, default_cache: str | None) -> EstimateOptions:
        """``"estimate"`` or a mapping of the fields; anything else is refused."""
        if value == "estimate":
            options: dict[str, Any] = {}
        elif isinstance(value, dict):
            options = dict(value)
        else:
            raise ConfigError(
                f"data.dataset.keypoints must be null (keypoints from the reader), estimate, "
                f"or a mapping of {sorted(cls.__dataclass_fields__)}; got {value!r}"
            )
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"data.dataset.keypoints: unknown option(s) {unknown}; valid: "
                f"{sorted(cls.__dataclass_fields__)}"
            )
        options.setdefault("cache_dir", default_cache)
        parsed = cls(**options)
        if parsed.no_person not in NO_PERSON_POLICIES:
            raise ConfigError(
                f"data.dataset.keypoints.no_person must be one of {NO_PERSON_POLICIES}, got "
                f"{parsed.no_person!r}"
            )
        return parsed

    def key(self) -> str:
        """What a cached result depends on besides the file: backend and its settings."""
        settings = {"backend": self.backend, "side": ESTIMATE_SIDE, **self.backend_options}
        return json.dumps(settings, sort_keys=True)


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class KeypointCache:
    """Estimated keypoints of image files (see the module docstring)."""

    def __init__(self, options: EstimateOptions) -> None:
        self.options = options
        self.folder = Path(options.cache_dir) if options.cache_dir else None
        self.settings = hashlib.sha1(options.key().encode()).hexdigest()[:12]
        self._estimator: Any = None
        self.hits = 0
        self.misses = 0

    def _entry(self, digest: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / self.options.backend / self.settings / digest[:2] / f"{digest}.json"

    def keypoints(self, paths: Sequence[str | Path]) -> list[np.ndarray | None]:
        """COCO keypoints of each image's most confident person in its source pixels
        (None where no person was found), estimated only for files not in the cache."""
        results: list[np.ndarray | None] = []
        with Progress(transient=True) as progress:
            task = progress.add_task("Poses (cached by file)", total=len(paths))
            for path in paths:
                results.append(self._one(path))
                progress.advance(task)
        if self.misses:
            log.info(
                "Estimated keypoints of %d image(s) with %s (%d from the cache)",
                self.misses,
                self.options.backend,
                self.hits,
            )
        self.close()
        return results

    def _one(self, path: str | Path) -> np.ndarray | None:
        entry = self._entry(file_digest(path))
        if entry is not None and entry.is_file():
            try:
                stored = json.loads(entry.read_text())
                self.hits += 1
                return None if stored is None else np.asarray(stored, np.float32)
            except (OSError, ValueError):
                log.warning("Unreadable keypoint cache entry %s: estimating again", entry)
        self.misses += 1
        found = self._estimate(path)
        if entry is not None:
            try:
                write_text_atomic(entry, json.dumps(None if found is None else found.tolist()))
            except OSError as error:  # e.g. a checkpoint's cache path from another machine
                log.warning(
                    "Cannot write the keypoint cache in %s (%s): estimating without it; set "
                    "data.dataset.keypoints.cache_dir to a writable folder",
                    self.folder,
                    error.strerror or error,
                )
                self.folder = None
        return found

    def _estimate(self, path: str | Path) -> np.ndarray | None:
        if self._estimator is None:
            self._estimator = create_estimator(self.options.backend, **self.options.backend_options)
        image = load_image(path, "RGB", max_side=ESTIMATE_SIDE)
        with image:
            pixels = np.asarray(image)
            width, height = image.size
        people = self._estimator.estimate(pixels)
        if not people:
            return None
        best = max(people, key=lambda person: person.score)
        scaled = best.keypoints.copy()
        source_w, source_h = _source_size(path, width, height)
        scaled[:, 0] *= source_w / width
        scaled[:, 1] *= source_h / height
        return coco_keypoints(scaled, source_w, source_h, self.options.min_conf)

    def close(self) -> None:
        if self._estimator is not None:
            self._estimator.close()
            self._estimator = None


def _source_size(path: str | Path, width: int, height: int) -> tuple[int, int]:
    try:
        return source_size(path)
    except OSError:
        return width, height


def estimate_keypoints(
    paths: Sequence[str | Path], setting: Any, image_cache_dir: str | None
) -> tuple[EstimateOptions, list[np.ndarray | None]]:
    """The options of ``data.dataset.keypoints`` (``estimate`` or a mapping) and each
    image's keypoints (None: no person). The cache defaults to ``poses/`` beside the image
    cache, so the datasets and ``predict`` (with a checkpoint's stored image cache) find the
    same entries."""
    default_cache = str(Path(image_cache_dir).parent / "poses") if image_cache_dir else None
    options = EstimateOptions.parse(setting, default_cache)
    return options, KeypointCache(options).keypoints(paths)


def zeros_where_missing(found: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """``found`` with all-zero keypoints (17 zero slots) for images without a person."""
    return [np.zeros((NUM_KEYPOINTS, 3), np.float32) if k is None else k for k in found]
