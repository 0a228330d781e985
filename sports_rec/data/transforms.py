"""Transform factories (torchvision.transforms.v2 and timm), selected by ``conf/transforms``.

A transform takes the sample dict a dataset builds (``{"image": PIL image, "keypoints":
tv_tensors.KeyPoints, "visibility": KeypointVisibility, ...}``) and returns it transformed:
torchvision's v2 transforms move every tv_tensor of a sample together, so a crop, resize or
flip moves the keypoints with the pixels. The horizontal flip here also swaps the COCO
left/right joints (a mirrored left wrist is a right wrist) and their visibility. A plain
PIL image is accepted too (predict, export checks). The ``eval`` pipeline is deterministic,
so evaluating a checkpoint reproduces the run's test metrics exactly.

Where the statistics come from: a net that starts from pretrained (or local) weights was
trained on inputs normalised its own way (timm's ViT-B/16 weights expect mean = std = 0.5,
bicubic resizing and a 0.9 centre crop). Transform values left ``null`` in the config are
filled by :func:`resolve_transforms` from the net's timm data config
(``timm.data.resolve_data_config``); nets trained from scratch get the ImageNet values.
The resolved values are what the checkpoint stores, so evaluate, predict and export
prepare images exactly as training did. ``crop_pct`` is ``data.dataset.crop_pct``: datasets whose
images are already at the input size (sports100: 224 px) set it to 1.0, so nothing is cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from sports_rec.data.keypoints import COCO_FLIP_INDEX
from sports_rec.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCRATCH_DEFAULTS: dict[str, Any] = {
    "mean": list(IMAGENET_MEAN),
    "std": list(IMAGENET_STD),
    "interpolation": "bilinear",
    "crop_pct": 0.875,
}
RESOLVED_KEYS = tuple(SCRATCH_DEFAULTS)
INTERPOLATIONS = {
    "nearest": v2.InterpolationMode.NEAREST,
    "bilinear": v2.InterpolationMode.BILINEAR,
    "bicubic": v2.InterpolationMode.BICUBIC,
}


class KeypointVisibility(tv_tensors.TVTensor):
    """Per keypoint ``(v, zero_slot)``: COCO visibility (0 outside, 1 occluded, 2 visible) and
    whether the slot is a placeholder (InfiniteForm has no nose or ears: x = y = v = 0).

    A tv_tensor of its own so it travels through a v2 pipeline beside the keypoints:
    geometric transforms pass it through unchanged, :class:`RandomHorizontalFlip` permutes
    it with the joints. (A numpy array in the sample would be taken for an image.)
    """

    def __new__(cls, data: Any) -> KeypointVisibility:
        return torch.as_tensor(data, dtype=torch.int64).as_subclass(cls)


class RandomHorizontalFlip(v2.RandomHorizontalFlip):
    """torchvision's flip, plus the left/right swap of keypoints: after mirroring, joint
    ``i`` takes the place of ``flip_index[i]`` (COCO: left shoulder <-> right shoulder ...),
    and so does its :class:`KeypointVisibility` row. Samples without keypoints flip as usual.
    """

    def __init__(self, p: float = 0.5, flip_index: Sequence[int] = COCO_FLIP_INDEX) -> None:
        super().__init__(p)
        self.flip_index = list(flip_index)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        out = super().transform(inpt, params)
        joints = len(self.flip_index)
        if isinstance(inpt, tv_tensors.KeyPoints) and inpt.shape[-2] == joints:
            return tv_tensors.wrap(out[..., self.flip_index, :], like=out)
        if isinstance(inpt, KeypointVisibility) and inpt.shape[0] == joints:
            return KeypointVisibility(inpt[self.flip_index])
        return out


def _timm_names(net_cfg: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The net config nodes that name a timm model (the net itself or its backbone)."""
    nodes = [net_cfg, net_cfg.get("backbone") or {}]
    return [n for n in nodes if isinstance(n, Mapping) and n.get("name")]


def model_data_config(net_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Mean, std, interpolation and crop of the weights the net starts from.

    A timm net with ``pretrained`` or ``weights`` gets the values of its default pretrained
    tag (a local weights file is assumed to be that tag's); anything else gets
    :data:`SCRATCH_DEFAULTS`.
    """
    import timm.data
    from timm.models import get_pretrained_cfg

    for node in _timm_names(net_cfg):
        if not (node.get("pretrained") or node.get("weights")):
            continue
        pretrained_cfg = get_pretrained_cfg(str(node["name"]))
        if pretrained_cfg is None:
            continue
        data = timm.data.resolve_data_config(pretrained_cfg=pretrained_cfg.to_dict())
        return {
            "mean": [float(v) for v in data["mean"]],
            "std": [float(v) for v in data["std"]],
            "interpolation": str(data["interpolation"]),
            "crop_pct": float(data["crop_pct"]),
        }
    return dict(SCRATCH_DEFAULTS)


def resolve_transforms(
    transforms_cfg: Mapping[str, Any], net_cfg: Mapping[str, Any]
) -> dict[str, Any]:
    """``transforms_cfg`` (plain dict) with every ``null`` mean/std/interpolation/crop_pct
    filled from :func:`model_data_config`; explicit values are kept."""
    defaults = model_data_config(net_cfg)
    resolved: dict[str, Any] = {}
    for name, node in transforms_cfg.items():
        if isinstance(node, Mapping):
            node = dict(node)
            for key in RESOLVED_KEYS:
                if key in node and node[key] is None:
                    node[key] = defaults[key]
        resolved[name] = node
    return resolved


def channel_stats(
    mean: Sequence[float], std: Sequence[float], grayscale: bool
) -> tuple[list[float], list[float]]:
    """Normalisation statistics for 1 or 3 channels (grayscale averages the RGB ones)."""
    if grayscale and len(mean) == 3:
        return [sum(mean) / 3], [sum(std) / 3]
    return list(mean), list(std)


def interpolation_mode(name: str | None) -> v2.InterpolationMode:
    key = str(name or "bilinear").lower()
    if key not in INTERPOLATIONS:
        raise ConfigError(
            f"transforms interpolation must be one of {sorted(INTERPOLATIONS)}, got {name!r}"
        )
    return INTERPOLATIONS[key]


def _check_stats(mean: Sequence[float] | None, std: Sequence[float] | None) -> None:
    if mean is None or std is None:
        raise ConfigError(
            "transforms mean/std are null: they are filled in from the model when training "
            "(sports_rec.data.transforms.resolve_transforms); give values to build the "
            "transform on its own"
        )


def image_transforms(
    train: bool,
    size: int,
    grayscale: bool = False,
    random_resized_crop: bool = True,
    scale: Sequence[float] = (0.6, 1.0),
    hflip: float = 0.5,
    color_jitter: float = 0.0,
    crop_pct: float | None = 0.875,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    interpolation: str | None = "bilinear",
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
            (timm's convention); 1.0 resizes straight to ``size`` (nothing is cut).
        mean, std: normalisation (RGB values; averaged for grayscale).
        interpolation: ``bilinear``, ``bicubic`` or ``nearest`` resizing.
    """
    _check_stats(mean, std)
    mean, std = channel_stats(mean, std, grayscale)
    mode = interpolation_mode(interpolation)
    steps: list[v2.Transform] = [v2.ToImage()]
    if train:
        if random_resized_crop:
            steps.append(
                v2.RandomResizedCrop(size, scale=tuple(scale), interpolation=mode, antialias=True)
            )
        else:
            steps.append(v2.Resize((size, size), interpolation=mode, antialias=True))
        if hflip > 0:
            steps.append(RandomHorizontalFlip(hflip))
        if color_jitter > 0:
            steps.append(
                v2.ColorJitter(color_jitter, color_jitter, 0 if grayscale else color_jitter)
            )
    elif crop_pct is not None and crop_pct < 1.0:
        steps += [
            v2.Resize(round(size / crop_pct), interpolation=mode, antialias=True),
            v2.CenterCrop(size),
        ]
    else:
        steps.append(v2.Resize((size, size), interpolation=mode, antialias=True))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(steps)


class TimmTransform:
    """timm's ``create_transform`` pipeline (RandAugment etc.) that also serves grayscale nets.

    timm's augmentations work on RGB images and its normalisation assumes 3 channels, so a
    grayscale image is augmented as RGB, then converted to one channel and normalised with
    the averaged statistics; RGB images get exactly timm's pipeline.
    """

    def __init__(
        self,
        train: bool,
        size: int,
        grayscale: bool = False,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        interpolation: str | None = "bilinear",
        crop_pct: float | None = None,
        **timm_kwargs: Any,
    ) -> None:
        from timm.data import create_transform

        _check_stats(mean, std)
        interpolation_mode(interpolation)  # validate the name with our message
        self.grayscale = bool(grayscale)
        self.augment = create_transform(
            input_size=int(size),
            is_training=bool(train),
            interpolation=str(interpolation or "bilinear"),
            crop_pct=crop_pct,
            normalize=False,  # uint8 tensor; normalised below for 1 or 3 channels
            **timm_kwargs,
        )
        mean, std = channel_stats(mean, std, self.grayscale)
        finish: list[v2.Transform] = [v2.ToDtype(torch.float32, scale=True)]
        if self.grayscale:
            finish.append(v2.Grayscale(num_output_channels=1))
        finish.append(v2.Normalize(mean, std))
        self.finish = v2.Compose(finish)

    def __call__(self, sample: Image.Image | dict[str, Any]) -> torch.Tensor | dict[str, Any]:
        """A PIL image, or a sample dict whose ``image`` is transformed.

        Image-only: timm's augmentations (RandAugment's shears and rotations ...) do not move
        keypoints, so a sample that has them is refused rather than silently misaligned.
        """
        if not isinstance(sample, dict):
            return self.finish(self.augment(sample.convert("RGB")))
        if "keypoints" in sample:
            raise ConfigError(
                "timm's transforms (transforms=randaugment|timm_default) move only the image, "
                "not keypoints; use transforms=default|simple|plain with keypoint data"
            )
        return {**sample, "image": self(sample["image"])}

    def __repr__(self) -> str:
        return f"TimmTransform(grayscale={self.grayscale}, augment={self.augment})"


def video_transforms(
    train: bool,
    hflip: float = 0.5,
    rotation: float = 10.0,
    color_jitter: Mapping[str, float] | None = None,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
) -> v2.Compose:
    """Clip pipeline on ``tv_tensors.Video`` ``[T, C, H, W]`` floats in 0-1 (study 004).

    The clip dataset has already resized the frames to the training size (and applied masks
    and skeleton attention), so this only augments and normalises. Every random parameter
    is drawn once per call, i.e. once per clip: the 16 frames are flipped, rotated and
    jittered alike, so the motion between frames is the data's, not the augmentation's.
    Rotation fills the corners with 0, the value masked background already has.

    Args:
        train: augment (flip, rotation, colour jitter) or only normalise (evaluation).
        hflip: horizontal flip probability.
        rotation: largest rotation in degrees (uniform in ``[-rotation, rotation]``).
        color_jitter: ``{brightness, contrast, saturation, hue}`` strengths (torchvision's
            meaning); None or all 0 disables it.
        mean, std: per-channel normalisation (null in the config: the net's, ImageNet for a
            net trained from scratch).
    """
    _check_stats(mean, std)
    steps: list[v2.Transform] = [v2.ToDtype(torch.float32, scale=True)]
    if train:
        if hflip > 0:
            steps.append(v2.RandomHorizontalFlip(hflip))
        if rotation > 0:
            steps.append(
                v2.RandomRotation(float(rotation), interpolation=v2.InterpolationMode.BILINEAR)
            )
        jitter = {k: float(v) for k, v in (color_jitter or {}).items()}
        unknown = set(jitter) - {"brightness", "contrast", "saturation", "hue"}
        if unknown:
            raise ConfigError(
                f"transforms color_jitter accepts brightness, contrast, saturation and hue; "
                f"got {sorted(unknown)}"
            )
        if any(jitter.values()):
            steps.append(v2.ColorJitter(**jitter))
    steps.append(v2.Normalize(list(mean), list(std)))
    return v2.Compose(steps)
