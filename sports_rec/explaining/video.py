"""GradCAM videos of a clip model (study 004's ``visualize_gradcam.py`` outputs).

For one clip: ``original.mp4`` (the frames the net saw), ``heatmap.mp4`` (the map alone),
``overlay.mp4`` (the map over the frames), ``overlay_with_probs.mp4`` (the overlay at 3x
beside a bar chart of the class probabilities, the true class in green and a wrong
prediction in red), ``side_by_side.mp4`` (original, heatmap, overlay) and ``metadata.txt``.
A *long sample* (hundreds of frames of one video) is written the same way, except that the
map and the probabilities come from the clip that covers each frame, so both change as
the video plays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sports_rec.data.io.video_io import VideoWriter
from sports_rec.explaining.panels import heat, overlay

VIDEO_NAMES = ("original", "heatmap", "overlay", "overlay_with_probs", "side_by_side")
TRUE_COLOUR = (60, 180, 90)
WRONG_COLOUR = (220, 60, 60)
OTHER_COLOUR = (150, 150, 150)


def scale(frame: np.ndarray, factor: int) -> np.ndarray:
    """``frame`` enlarged ``factor`` times (bilinear)."""
    height, width = frame.shape[:2]
    image = Image.fromarray(frame).resize((width * factor, height * factor), Image.BILINEAR)
    return np.asarray(image)


def probability_bars(
    probs: np.ndarray, names: Sequence[str], true: int | None, predicted: int, height: int
) -> np.ndarray:
    """A bar chart of ``probs`` (one row per class) as uint8 RGB ``[height, W, 3]``."""
    rows = len(names)
    row_height = max(6, height // max(rows, 1))
    font = ImageFont.load_default(size=max(6, min(14, row_height - 2)))
    label_width = int(max(font.getlength(str(n)) for n in names)) + 8
    bar_width = max(60, height // 2)
    image = Image.new("RGB", (label_width + bar_width + 48, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for k, name in enumerate(names):
        top = k * row_height
        colour = OTHER_COLOUR
        if k == true:
            colour = TRUE_COLOUR
        elif k == predicted:
            colour = WRONG_COLOUR
        draw.text((2, top), str(name), fill=(0, 0, 0), font=font)
        length = round(float(probs[k]) * bar_width)
        draw.rectangle(
            (label_width, top + 1, label_width + length, top + row_height - 2), fill=colour
        )
        draw.text(
            (label_width + length + 3, top), f"{float(probs[k]):.2f}", fill=(0, 0, 0), font=font
        )
    return np.asarray(image)


def _beside(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``right`` to the right of ``left``, padded with white to the taller height."""
    height = max(left.shape[0], right.shape[0])

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, ((0, height - a.shape[0]), (0, 0), (0, 0)), constant_values=255)

    return np.concatenate([pad(left), pad(right)], axis=1)


def compose_frames(
    rgb: np.ndarray,
    maps: np.ndarray,
    probs: np.ndarray,
    names: Sequence[str],
    true: np.ndarray,
    alpha: float = 0.5,
    zoom: int = 3,
) -> dict[str, np.ndarray]:
    """The five videos' frames (:data:`VIDEO_NAMES`) from ``rgb [T, H, W, 3]``,
    ``maps [T, H, W]`` in 0-1, ``probs [T, C]`` and per-frame true classes ``true [T]``
    (-1: none)."""
    heatmaps = heat(maps)
    overlays = np.stack([overlay(f, m, alpha) for f, m in zip(rgb, maps, strict=True)])
    with_probs = []
    cache: dict[tuple, np.ndarray] = {}
    for t in range(len(rgb)):
        big = scale(overlays[t], zoom)
        key = (tuple(np.round(probs[t], 4)), int(true[t]))
        if key not in cache:
            truth = int(true[t]) if true[t] >= 0 else None
            cache[key] = probability_bars(
                probs[t], names, truth, int(probs[t].argmax()), big.shape[0]
            )
        with_probs.append(_beside(big, cache[key]))
    side = np.concatenate([rgb, heatmaps, overlays], axis=2)
    return {
        "original": rgb,
        "heatmap": heatmaps,
        "overlay": overlays,
        "overlay_with_probs": np.stack(with_probs),
        "side_by_side": side,
    }


def write_clip_videos(
    folder: str | Path,
    rgb: np.ndarray,
    maps: np.ndarray,
    probs: np.ndarray,
    names: Sequence[str],
    true: np.ndarray,
    metadata: Mapping[str, Any],
    fps: float = 8.0,
    alpha: float = 0.5,
) -> list[Path]:
    """Write the videos and ``metadata.txt`` of one clip or long sample into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frames = compose_frames(rgb, maps, probs, names, true, alpha)
    written = []
    for name in VIDEO_NAMES:
        with VideoWriter(out / f"{name}.mp4", fps) as writer:
            writer.write(frames[name])
        written.append(out / f"{name}.mp4")
    lines = [f"{key}: {value}" for key, value in metadata.items()]
    (out / "metadata.txt").write_text("\n".join(lines) + "\n")
    return [*written, out / "metadata.txt"]
