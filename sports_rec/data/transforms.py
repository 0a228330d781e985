"""Image transform factories (torchvision.transforms.v2), selected by ``conf/transforms``.

Each factory maps a decoded PIL image to a normalised float tensor. The ``eval`` pipeline
is deterministic (resize + centre crop), so evaluating a checkpoint reproduces the run's
test metrics exactly. timm's ``create_transform`` (RandAugment etc.) plugs in through the
same config slot; see ``conf/transforms/randaugment.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def channel_stats(
    mean: Sequence[float], std: Sequence[float], grayscale: bool
) -> tuple[list[float], list[float]]:
    """Normalisation statistics for 1 or 3 channels (grayscale averages the RGB ones)."""
    if grayscale and len(mean) == 3:
        return [sum(mean) / 3], [sum(std) / 3]
    return list(mean), list(std)


def image_transforms(
    train: bool,
    size: int,
    grayscale: bool = False,
    random_resized_crop: bool = True,
    scale: Sequence[float] = (0.6, 1.0),
    hflip: float = 0.5,
    color_jitter: float = 0.0,
    crop_pct: float = 0.875,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> v2.Compose:
    """Build a train or eval pipeline.

    Args:
        train: augmenting (train) or deterministic (eval) pipeline.
        size: output side in pixels.
        grayscale: inputs are single-channel; statistics are averaged accordingly.
        random_resized_crop: train with RandomResizedCrop(``scale``); else plain resize.
        hflip: horizontal flip probability (train).
        color_jitter: brightness/contrast/saturation jitter strength (train; 0 = off).
        crop_pct: eval resizes the shorter side to ``size / crop_pct`` then centre-crops
            (timm's convention); 1.0 resizes straight to ``size``.
    """
    mean, std = channel_stats(mean, std, grayscale)
    steps: list[v2.Transform] = [v2.ToImage()]
    if train:
        if random_resized_crop:
            steps.append(v2.RandomResizedCrop(size, scale=tuple(scale), antialias=True))
        else:
            steps.append(v2.Resize((size, size), antialias=True))
        if hflip > 0:
            steps.append(v2.RandomHorizontalFlip(hflip))
        if color_jitter > 0:
            steps.append(
                v2.ColorJitter(color_jitter, color_jitter, 0 if grayscale else color_jitter)
            )
    elif crop_pct < 1.0:
        steps += [v2.Resize(round(size / crop_pct), antialias=True), v2.CenterCrop(size)]
    else:
        steps.append(v2.Resize((size, size), antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)
