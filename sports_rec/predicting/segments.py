"""From per-frame class probabilities to a timeline of exercise segments.

A clip classifier gives every frame a probability vector (the average of the clips that
cover it, :mod:`sports_rec.predicting.clip_scoring`). Taken frame by frame its argmax
flickers where clips disagree, so the timeline is built in three steps, each configurable:

1. **smoothing** - a centred moving average of the probabilities over ``smoothing_s``
   seconds (0 disables it);
2. **labels** - the argmax per frame; with ``min_confidence`` a frame whose top probability
   is below it is ``uncertain`` (no exercise is claimed there);
3. **runs** - consecutive frames of one label form a segment; a segment shorter than
   ``min_duration_s`` is merged into a neighbour, shortest first. The neighbour chosen is
   the one whose class the short segment's frames give the higher mean probability (the
   one it resembles more); with one neighbour, that one. Short ``uncertain`` runs are
   merged like any other.

Times are ``frame / fps``; ``end_s`` is exclusive (the end of the segment's last frame), so
consecutive segments touch and their durations add up to the video's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sports_rec.errors import ConfigError

UNCERTAIN = -1
UNCERTAIN_NAME = "uncertain"
TIMELINE_COLUMNS = [
    "exercise", "class_id", "start_s", "end_s", "frames", "mean_confidence",
    "start_frame", "end_frame",
]  # fmt: skip


def smooth_probabilities(probs: np.ndarray, fps: float, smoothing_s: float) -> np.ndarray:
    """Centred moving average of ``probs [T, C]`` over ``smoothing_s`` seconds.

    The window is ``round(smoothing_s * fps)`` frames, made odd so it is centred; at the
    ends it shrinks to the frames there are. Rows still sum to 1.
    """
    if smoothing_s < 0:
        raise ConfigError(f"smoothing_s must be >= 0 seconds, got {smoothing_s}")
    window = round(float(smoothing_s) * float(fps))
    if window <= 1:
        return probs.astype(np.float64, copy=True)
    window += 1 - window % 2
    frame = pd.DataFrame(probs, dtype=np.float64)
    return frame.rolling(window, center=True, min_periods=1).mean().to_numpy()


def frame_labels(probs: np.ndarray, min_confidence: float | None = None) -> np.ndarray:
    """Per-frame class ids (argmax); ``UNCERTAIN`` where the top probability is below
    ``min_confidence``."""
    labels = probs.argmax(axis=1).astype(np.int64)
    if min_confidence is not None:
        if not 0 <= min_confidence <= 1:
            raise ConfigError(f"min_confidence must be in [0, 1] or null, got {min_confidence}")
        labels[probs.max(axis=1) < min_confidence] = UNCERTAIN
    return labels


def runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(label, start, end)`` of each run of equal labels; ``end`` exclusive."""
    if not len(labels):
        return []
    cuts = np.flatnonzero(np.diff(labels)) + 1
    starts = np.r_[0, cuts]
    ends = np.r_[cuts, len(labels)]
    return [(int(labels[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _support(probs: np.ndarray, start: int, end: int, label: int) -> float:
    """Mean probability of ``label`` over frames ``[start, end)`` (of the top class for
    ``UNCERTAIN``)."""
    window = probs[start:end]
    values = window.max(axis=1) if label == UNCERTAIN else window[:, label]
    return float(values.mean())


def merge_short_runs(labels: np.ndarray, probs: np.ndarray, min_frames: int) -> np.ndarray:
    """Relabel runs shorter than ``min_frames`` as a neighbour (rule: module docstring)."""
    labels = labels.copy()
    while True:
        pieces = runs(labels)
        if len(pieces) < 2:
            return labels
        short = [i for i, (_, s, e) in enumerate(pieces) if e - s < min_frames]
        if not short:
            return labels
        i = min(short, key=lambda k: (pieces[k][2] - pieces[k][1], pieces[k][1]))
        _, start, end = pieces[i]
        neighbours = [pieces[k][0] for k in (i - 1, i + 1) if 0 <= k < len(pieces)]
        labels[start:end] = max(neighbours, key=lambda n: _support(probs, start, end, n))


def timeline(
    probs: np.ndarray,
    fps: float,
    class_names: Sequence[str],
    smoothing_s: float = 0.5,
    min_duration_s: float = 1.0,
    min_confidence: float | None = None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Segments of a video from its per-frame probabilities ``[T, C]``.

    Returns ``(segments, labels, smoothed)``: the segment table (:data:`TIMELINE_COLUMNS`;
    ``mean_confidence`` is the mean smoothed probability of the segment's class over its
    frames, of the top class for ``uncertain``), the final per-frame labels and the
    smoothed probabilities.
    """
    if fps <= 0:
        raise ConfigError(f"the video's frame rate must be > 0, got {fps}")
    if min_duration_s < 0:
        raise ConfigError(f"min_duration_s must be >= 0 seconds, got {min_duration_s}")
    smoothed = smooth_probabilities(np.asarray(probs), fps, smoothing_s)
    labels = frame_labels(smoothed, min_confidence)
    labels = merge_short_runs(labels, smoothed, round(float(min_duration_s) * float(fps)))
    rows = [
        {
            "exercise": UNCERTAIN_NAME if label == UNCERTAIN else str(class_names[label]),
            "class_id": label,
            "start_s": start / fps,
            "end_s": end / fps,
            "frames": end - start,
            "mean_confidence": _support(smoothed, start, end, label),
            "start_frame": start,
            "end_frame": end - 1,
        }
        for label, start, end in runs(labels)
    ]
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS), labels, smoothed
