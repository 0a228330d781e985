"""Figures of image explanations: one PNG panel per sample.

Columns: the image as the net saw it (after the eval transform, un-normalised), the map,
the map over the image, and for keypoint nets the skeleton with each joint drawn by its
share of the keypoints' attribution. The title names the true class, the predicted class
and its probability, and the class explained.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from sports_rec.data.keypoints import COCO_SKELETON, NUM_KEYPOINTS
from sports_rec.data.transforms import channel_stats

COLORMAP = "jet"


def display_stats(eval_transform: dict, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The eval transform's mean and std (per channel) to undo the normalisation."""
    mean = eval_transform.get("mean") or [0.485, 0.456, 0.406]
    std = eval_transform.get("std") or [0.229, 0.224, 0.225]
    mean, std = channel_stats(mean, std, grayscale=channels == 1)
    return np.asarray(mean, np.float32), np.asarray(std, np.float32)


def to_rgb(frames: torch.Tensor, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Normalised ``[C, H, W]`` (or ``[C, T, H, W]``) -> uint8 RGB ``[H, W, 3]``
    (``[T, H, W, 3]``); one channel is repeated to grey."""
    array = frames.detach().cpu().float().numpy()
    shape = (-1,) + (1,) * (array.ndim - 1)
    array = array * std.reshape(shape) + mean.reshape(shape)
    array = np.moveaxis(array, 0, -1)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return (np.clip(array, 0, 1) * 255).round().astype(np.uint8)


def heat(attribution: np.ndarray) -> np.ndarray:
    """A 0-1 map (any shape) -> uint8 RGB in the colormap."""
    colours = plt.get_cmap(COLORMAP)(np.clip(attribution, 0, 1))[..., :3]
    return (colours * 255).round().astype(np.uint8)


def overlay(rgb: np.ndarray, attribution: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The map's colours blended over ``rgb`` (``alpha`` = weight of the map)."""
    blended = (1 - alpha) * rgb.astype(np.float32) + alpha * heat(attribution).astype(np.float32)
    return blended.round().clip(0, 255).astype(np.uint8)


def _skeleton(ax: plt.Axes, keypoints: np.ndarray, joints: np.ndarray, share: float) -> None:
    """Draw the pose (its own coordinates, y down) with joints sized by their attribution."""
    per_joint = keypoints.reshape(NUM_KEYPOINTS, -1)
    xy = per_joint[:, :2]
    present = ~((xy == 0).all(axis=1))
    weight = joints / joints.sum() if joints.sum() > 0 else np.zeros_like(joints)
    for a, b in COCO_SKELETON:
        if present[a] and present[b]:
            ax.plot(xy[[a, b], 0], xy[[a, b], 1], color="0.6", linewidth=1.5, zorder=1)
    points = ax.scatter(
        xy[present, 0], xy[present, 1], s=20 + 400 * weight[present], c=weight[present],
        cmap=COLORMAP, vmin=0, vmax=max(float(weight.max()), 1e-6), zorder=2,
    )  # fmt: skip
    ax.invert_yaxis()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"keypoints: {share:.0%} of attribution", fontsize=9)
    plt.colorbar(points, ax=ax, fraction=0.046, pad=0.04, label="joint share")


def write_image_panel(
    path: str | Path,
    rgb: np.ndarray,
    attribution: np.ndarray,
    title: str,
    method: str,
    alpha: float = 0.5,
    keypoints: np.ndarray | None = None,
    joints: np.ndarray | None = None,
    keypoint_share: float | None = None,
) -> Path:
    """One sample's panel (see the module docstring); returns the PNG path."""
    columns = 4 if keypoints is not None and joints is not None else 3
    figure, axes = plt.subplots(1, columns, figsize=(3.2 * columns, 3.6))
    axes[0].imshow(rgb)
    axes[0].set_title("input", fontsize=9)
    shown = axes[1].imshow(attribution, cmap=COLORMAP, vmin=0, vmax=1)
    axes[1].set_title(method, fontsize=9)
    figure.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04)
    axes[2].imshow(overlay(rgb, attribution, alpha))
    axes[2].set_title("overlay", fontsize=9)
    for ax in axes[:3]:
        ax.axis("off")
    if columns == 4:
        _skeleton(axes[3], np.asarray(keypoints), np.asarray(joints), float(keypoint_share or 0))
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    plt.close(figure)
    return target


def panel_title(true: str, predicted: str, probability: float, target: str) -> str:
    return f"true {true} | predicted {predicted} ({probability:.0%}) | explained: {target}"


def class_list(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" ... ({len(names)} classes)" if len(names) > limit else "")


def slug(text: str) -> str:
    """``text`` as a part of a file name (explanation panels and videos are named by it)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "x"
