"""Draw the timeline onto the video: ``annotated.mp4`` of ``predict ... annotate=true``.

A second streaming pass over the original frames (full size, not the model's input) writes
each frame with a banner: the exercise of the segment the frame belongs to, the frame's
(smoothed) probability of it, and a bar of that probability. Text size follows the frame
height, so the banner stays legible on a phone video and on a 64-pixel test clip alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sports_rec.data.io.video_io import VideoWriter
from sports_rec.pose_estimation.drawing import draw_pose


def _font(height: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, height // 18))


def draw_banner(frame: np.ndarray, text: str, confidence: float) -> np.ndarray:
    """``frame`` (uint8 ``[H, W, 3]``) with a dark banner at the top holding ``text`` and a
    bar filled to ``confidence`` (0-1)."""
    image = Image.fromarray(frame)
    height, width = frame.shape[:2]
    font = _font(height)
    draw = ImageDraw.Draw(image, "RGBA")
    left, top, _, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(2, height // 80)
    bar = max(2, height // 60)
    banner = (bottom - top) + 3 * pad + bar
    draw.rectangle((0, 0, width, banner), fill=(0, 0, 0, 160))
    draw.text((pad - left, pad - top), text, fill=(255, 255, 255), font=font)
    y = banner - pad - bar
    draw.rectangle((pad, y, width - pad, y + bar), outline=(255, 255, 255, 200))
    filled = pad + round(float(np.clip(confidence, 0, 1)) * (width - 2 * pad))
    draw.rectangle((pad, y, filled, y + bar), fill=(80, 200, 120, 255))
    return np.asarray(image.convert("RGB"))


def write_annotated_video(
    path: str | Path,
    chunks: Iterable[np.ndarray],
    fps: float,
    names: Sequence[str],
    confidences: np.ndarray,
    keypoints: np.ndarray | None = None,
) -> int:
    """Write the frames of ``chunks`` with their banner (``names[t]``, ``confidences[t]``)
    to ``path``; returns the frame count. Frames past the scored ones (a decoder that
    yields more than the scoring pass saw) keep the last frame's banner. ``keypoints``
    (``[N, 17, 3]`` in the video's pixels: the poses the model was given, read or
    estimated) draws each frame's skeleton under the banner."""
    last = len(names) - 1
    written = 0
    with VideoWriter(path, fps) as writer:
        for chunk in chunks:
            drawn = []
            for frame in chunk:
                t = min(written, last)
                if keypoints is not None and written < len(keypoints):
                    frame = draw_pose(frame, keypoints[written])
                drawn.append(
                    draw_banner(frame, f"{names[t]}  {confidences[t]:.0%}", float(confidences[t]))
                )
                written += 1
            writer.write(np.stack(drawn))
    return written
