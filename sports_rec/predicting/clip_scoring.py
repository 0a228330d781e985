"""Score a whole video with a clip classifier, streaming: per-frame class probabilities.

Frames are decoded in order a chunk at a time (:func:`sports_rec.data.io.video_io.iter_frames`),
each frame is prepared once (resized to the training size, masks and skeleton attention
multiplied in, as the training dataset does), and a ring buffer of the last ``clip_len``
prepared frames yields a clip every ``stride`` frames. Clips go through the model in
batches; each clip's probabilities are added to the frames it covers, and a frame's
probability is the mean over the clips covering it. When the clips do not end on the last
frame, one more clip aligned to the video's end covers the tail, so every frame is scored
by real clips. Memory stays flat in the video's length except for the per-frame table
(``T x C`` floats), which is the output.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torchvision import tv_tensors

from sports_rec.data.datasets import apply_transform
from sports_rec.data.datasets.video_clips import frame_weights
from sports_rec.data.formats.exercise_video import ExerciseVideoLayout
from sports_rec.data.io.video_io import resize_frames
from sports_rec.errors import ConfigError, SportsRecError

BatchRunner = Callable[[torch.Tensor], torch.Tensor]


class VideoTooShortError(SportsRecError, ValueError):
    """The video has fewer frames than one clip of the model."""


@dataclass
class FramePreparation:
    """How the checkpoint's clip dataset turned decoded frames into the net's frames.

    Attributes:
        size: frame side the net was trained on (``data.image_size``).
        resize: ``stretch`` or ``short_side_crop`` (``data.dataset.resize``).
        layout: the dataset layout (mask file naming).
        mask_dir: folder of per-frame person masks, when the model was trained on masked frames.
        keypoints: ``[N, J, 3]`` pose keypoints of the whole video in pixels, when it was
            trained with skeleton attention.
        source_hw: the video's frame size (for the attention maps).
        sigma: skeleton attention blob sigma (``data.dataset.skeleton_sigma``).
    """

    size: int
    resize: str = "stretch"
    layout: ExerciseVideoLayout | None = None
    mask_dir: str | None = None
    keypoints: np.ndarray | None = None
    source_hw: tuple[int, int] | None = None
    sigma: float = 10.0

    def __call__(self, frames: np.ndarray, first: int) -> np.ndarray:
        """uint8 ``[n, H, W, 3]`` frames numbered from ``first`` -> float ``[n, size, size, 3]``
        in 0-1, weighted like the training clips."""
        video = resize_frames(frames, (self.size, self.size), self.resize).astype(np.float32)
        video /= 255.0
        if self.mask_dir is not None or self.keypoints is not None:
            indices = list(range(first, first + len(frames)))
            weight = frame_weights(
                indices,
                self.size,
                self.resize,
                self.layout or ExerciseVideoLayout(),
                mask_dir=self.mask_dir,
                keypoints=self.keypoints,
                source_hw=self.source_hw,
                sigma=self.sigma,
            )
            if weight is not None:
                video *= weight[..., None]
        return video


def clip_starts(num_frames: int, clip_len: int, stride: int) -> list[int]:
    """The first frames of the clips that score a video of ``num_frames``: every ``stride``
    frames from 0, then one clip aligned to the end if the last stopped short of it.

    The one rule for which clips cover which frames: :func:`sliding_clips` (``predict``'s
    timeline) yields exactly these, and ``explain``'s long-sample mode scores a stretch of
    a video with the same clips, so both give a frame the same probability.
    """
    if clip_len < 1 or stride < 1:
        raise ConfigError(f"clip_len and stride must be >= 1, got {clip_len} and {stride}")
    if num_frames < clip_len:
        return []
    starts = list(range(0, num_frames - clip_len + 1, stride))
    if starts[-1] != num_frames - clip_len:
        starts.append(num_frames - clip_len)
    return starts


def sliding_clips(
    chunks: Iterable[np.ndarray], clip_len: int, stride: int
) -> Iterator[tuple[int, np.ndarray]]:
    """``(start_frame, clip [clip_len, ...])`` of a stream of frame chunks, at the starts
    :func:`clip_starts` gives (every ``stride`` frames, then one aligned to the end).

    Only ``clip_len`` frames are held at a time, so the stream's length need not be known.
    A stream shorter than one clip yields nothing (the caller reports it).
    """
    if clip_len < 1 or stride < 1:
        raise ConfigError(f"clip_len and stride must be >= 1, got {clip_len} and {stride}")
    window: deque[np.ndarray] = deque(maxlen=clip_len)
    seen = 0
    last_start = -1
    for chunk in chunks:
        for frame in chunk:
            window.append(frame)
            seen += 1
            start = seen - clip_len
            if start >= 0 and start % stride == 0:
                last_start = start
                yield start, np.stack(window)
    if seen >= clip_len and last_start != seen - clip_len:
        yield seen - clip_len, np.stack(window)


class FrameProbabilities:
    """Per-frame sums of the probabilities of the clips covering each frame."""

    def __init__(self, num_classes: int, expected_frames: int = 0) -> None:
        self.num_classes = int(num_classes)
        self._sums = np.zeros((max(int(expected_frames), 1), self.num_classes), np.float64)
        self._counts = np.zeros(len(self._sums), np.int64)
        self.frames = 0  # frames covered so far (the highest end seen)

    def add(self, start: int, clip_len: int, probs: np.ndarray) -> None:
        """Add one clip's probability vector to frames ``[start, start + clip_len)``."""
        end = start + clip_len
        if end > len(self._sums):  # the probe undercounted: grow geometrically
            grown = max(end, 2 * len(self._sums))
            sums, counts = np.zeros((grown, self.num_classes)), np.zeros(grown, np.int64)
            sums[: len(self._sums)], counts[: len(self._counts)] = self._sums, self._counts
            self._sums, self._counts = sums, counts
        self._sums[start:end] += probs
        self._counts[start:end] += 1
        self.frames = max(self.frames, end)

    def mean(self) -> np.ndarray:
        """``[T, C]``: each frame's mean over its clips (every frame is covered)."""
        counts = self._counts[: self.frames]
        if not self.frames or (counts == 0).any():
            raise ValueError("some frames are covered by no clip")
        return self._sums[: self.frames] / counts[:, None]


def score_video(
    chunks: Iterable[np.ndarray],
    prepare: FramePreparation,
    transform: Callable | None,
    run_batch: BatchRunner,
    num_classes: int,
    clip_len: int,
    stride: int = 8,
    batch_size: int = 8,
    expected_frames: int = 0,
    source: str = "the video",
) -> np.ndarray:
    """Per-frame class probabilities ``[T, C]`` of a stream of uint8 frame chunks.

    Args:
        chunks: decoded frames in order, ``[n, H, W, 3]`` uint8 each.
        prepare: the training data's frame preparation.
        transform: the checkpoint's eval transform (on ``tv_tensors.Video`` ``[T, C, H, W]``).
        run_batch: clips ``[B, C, T, H, W]`` -> logits ``[B, num_classes]``.
        clip_len, stride: frames per clip (the model's) and between clip starts.
        batch_size: clips per forward pass.
        expected_frames: the probed frame count (pre-sizes the table).
        source: the video's name for error messages.
    """

    def prepared() -> Iterator[np.ndarray]:
        first = 0
        for chunk in chunks:
            yield prepare(chunk, first)
            first += len(chunk)

    table = FrameProbabilities(num_classes, expected_frames)
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        batch = torch.stack([clip for _, clip in pending])
        probs = run_batch(batch).float().softmax(dim=1).cpu().numpy()
        for (start, _), row in zip(pending, probs, strict=True):
            table.add(start, clip_len, row)
        pending.clear()

    for start, clip in sliding_clips(prepared(), clip_len, stride):
        video = tv_tensors.Video(torch.from_numpy(clip).permute(0, 3, 1, 2))
        sample = apply_transform(transform, {"video": video})
        pending.append((start, torch.as_tensor(sample["video"]).permute(1, 0, 2, 3)))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    if not table.frames:
        raise VideoTooShortError(
            f"'{source}' is shorter than one clip of the model ({clip_len} frames): predict "
            "a longer video"
        )
    return table.mean()
