"""Datasets by modality, generic over the index table.

The dataset class is a config node (``data.dataset: {_target_, _partial_: true, ...}``): the
datamodule builds one per split with ``factory(frame=..., transform=..., train=...,
checked=...)`` and never needs to know the modality. Each class also says how to validate
its files before training (:meth:`ImageDataset.check_files`: images are decoded once, and
written into the decoded-image store where it pays), so the start-up check works for every
modality, and exposes ``labels`` (one per sample, for the samplers and class counts).

Every dataset returns a dict: the input tensor(s) under their modality key (``image``;
``keypoints`` in :class:`KeypointImageDataset`; ``video`` in the video dataset), ``label``
and ``index`` (the row in the split's table, so callbacks can find the source file of any
prediction). Dict batches let one LightningModule train image, image+keypoint and video
models alike. Transforms take and return the sample dict (:mod:`sports_rec.data.transforms`).

A key is either a row index or ``(row index, draw seed)`` from the training sampler; the
sample is then transformed under that seed (:func:`sports_rec.utils.seeding.seeded`), so
augmentation is reproducible per draw whatever the worker count or a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from sports_rec.data.io.image_io import (
    CHECK_HINT,
    DATASET_SLACK,
    UNCHECKED_HINT,
    ImageDecodeError,
    decoding_cap,
    load_image,
    source_size,
)
from sports_rec.data.io.image_store import (
    DEFAULT_MAX_GB,
    cache_setting,
    note_unchecked,
    open_store,
    prepare_store,
)
from sports_rec.data.keypoints import encode_keypoints, keypoint_vector_size
from sports_rec.data.transforms import KeypointVisibility, TimmTransform
from sports_rec.errors import ConfigError
from sports_rec.utils.seeding import seeded

SampleKey = int | tuple[int, int]
KEYPOINT_ENCODINGS = ("pixels", "normalized", "original")


def split_key(key: SampleKey) -> tuple[int, int | None]:
    """``(row index, draw seed or None)`` of a dataset key."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return int(key), None


def apply_transform(transform: Callable | None, sample: dict[str, Any]) -> dict[str, Any]:
    """Run ``transform`` on a sample dict. v2 pipelines and :class:`TimmTransform` take the
    dict; any other callable (a user's own ``PIL -> tensor`` function) gets the image."""
    if transform is None:
        return sample
    if isinstance(transform, v2.Transform | TimmTransform):
        return transform(sample)
    return {**sample, "image": transform(sample["image"])}


def decoding(
    grayscale: bool, image_size: int, max_side: int | None, crop_pct: float | None
) -> tuple[str, int]:
    """``(colour mode, decoding cap)`` of an image dataset's options."""
    return ("L" if grayscale else "RGB"), decoding_cap(image_size, max_side, crop_pct)


class ImageDataset(Dataset):
    """Images listed in an index-table frame, decoded with :func:`load_image`.

    Args:
        frame: rows with ``path`` and ``label``.
        transform: sample-dict transform (torchvision v2 or timm); None keeps PIL images.
        train: whether this is the training split (image datasets do not care).
        grayscale: decode as single-channel ``L`` instead of ``RGB`` (models then get
            ``in_chans=1``: the input spec says so).
        image_size: the training resolution; bounds decoding of huge photos.
        crop_pct: the evaluation centre crop the transforms apply (``data.dataset.crop_pct``,
            read by the image transform configs; null: the pretrained weights' crop): a
            small crop resizes images up before cutting, so it raises the decoding cap.
        max_side: shorter-side cap applied while decoding (default ``2 * image_size``).
        checked: whether the files were decoded once at start-up (``data.check_images``);
            decides what an unreadable file's message advises.
        keypoints: must be null here; ``estimate`` makes the image config choose
            :class:`KeypointImageDataset` (``${image_dataset_class:...}``).
        cache: read the decoded pixels from the store the start-up check wrote
            (``data.dataset.cache``: ``auto``, the config's default, where it pays and fits
            the disk budget; ``true``; ``false``; see :mod:`sports_rec.data.io.image_store`).
            The start-up check decides; a dataset in a process that ran none (``predict``,
            ``checked=False``) decodes.
        cache_dir: the store's folder (``data.dataset.cache_dir``).
        cache_max_gb: the most disk ``auto`` gives the store (``data.dataset.cache_max_gb``;
            read by :meth:`check_files`).

    These options are the image modality's: they live in the image data configs'
    ``dataset`` node (``conf/base/data_image.yaml``), not on the DataModule.
    """

    modality = "image"

    def __init__(
        self,
        frame: pd.DataFrame,
        transform: Callable | None = None,
        train: bool = False,
        grayscale: bool = False,
        image_size: int = 224,
        max_side: int | None = None,
        checked: bool = True,
        cache: bool | str = False,
        cache_dir: str | None = None,
        crop_pct: float | None = None,
        keypoints: None = None,
        cache_max_gb: float = DEFAULT_MAX_GB,
    ) -> None:
        if keypoints is not None:  # the config's resolver picks the keypoint class for it
            raise ConfigError(
                "ImageDataset yields images only; data.dataset.keypoints needs "
                "data.dataset._target_=sports_rec.data.datasets.KeypointImageDataset"
            )
        self.frame = frame.reset_index(drop=True)
        self.paths = self.frame["path"].tolist()
        self._labels = self.frame["label"].astype(int).tolist()
        self.transform = transform
        self.train = bool(train)
        self.mode, self.max_side = decoding(grayscale, image_size, max_side, crop_pct)
        self.hint = CHECK_HINT if checked else UNCHECKED_HINT
        setting = cache_setting(cache)
        if setting == "true" and not cache_dir:
            raise ConfigError(
                "data.dataset.cache=true needs data.dataset.cache_dir (a folder for the store)"
            )
        self.store = None
        if setting != "false" and cache_dir:
            if checked:
                self.store = open_store(self.paths, self.mode, self.max_side, cache_dir)
            else:
                note_unchecked(cache_dir, self.mode, self.max_side)

    @classmethod
    def check_files(
        cls,
        frame: pd.DataFrame,
        grayscale: bool = False,
        image_size: int = 224,
        max_side: int | None = None,
        crop_pct: float | None = None,
        cache: bool | str = False,
        cache_dir: str | None = None,
        cache_max_gb: float = DEFAULT_MAX_GB,
        **options: Any,
    ) -> dict[str, str]:
        """``{path: reason}`` of the files that cannot be used: every image is decoded once,
        in threads. Given the dataset node's options (what its datasets are built with), it
        decodes at their colour mode and cap and, with ``cache`` on, writes those pixels into
        the store the datasets then read, or verifies the store a previous run wrote (see
        :mod:`sports_rec.data.io.image_store`); other options do not matter here."""
        mode, cap = decoding(grayscale, image_size, max_side, crop_pct)
        return prepare_store(frame["path"], mode, cap, cache, cache_dir, cache_max_gb)

    @property
    def labels(self) -> list[int]:
        return self._labels

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> dict[str, Any]:
        """The untransformed sample (a decoded PIL image under ``image``)."""
        path = self.paths[index]
        image = self.store.image(index) if self.store is not None else None
        try:
            if image is None:  # not stored (or changed since): decoded as the store would
                image = load_image(
                    path, mode=self.mode, max_side=self.max_side, slack=DATASET_SLACK
                )
        except ImageDecodeError as error:
            raise ImageDecodeError(path, error.reason, hint=self.hint) from None
        return {"image": image}

    def finish(self, sample: dict[str, Any], index: int) -> dict[str, Any]:
        """Whatever must follow the transforms (nothing for plain images)."""
        return sample

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, seed = split_key(key)
        sample = self.load(index)
        with seeded(seed):
            sample = apply_transform(self.transform, sample)
        sample = self.finish(sample, index)
        return {**sample, "label": self._labels[index], "index": index}


class KeypointImageDataset(ImageDataset):
    """Images plus 2D keypoints (17 COCO joints ``x, y, v`` per row: the ``keypoints``
    column), the InfiniteForm study's inputs.

    The keypoints go through the transforms as ``tv_tensors.KeyPoints``, so crops, resizes and
    flips move them with the pixels (a flip also swaps left and right joints). A ``crop``
    column (``x0, y0, x1, y1``; one avatar of a scene) crops the image first and shifts the
    keypoints into the crop. After the transforms, a joint that left the image becomes
    ``v = 0`` (outside) and placeholder slots (x = y = v = 0: InfiniteForm's nose and ears)
    stay zero. The net gets a float vector:

    * ``encoding="pixels"`` - coordinates in pixels of the image the net sees;
    * ``encoding="normalized"`` - the same divided by its width and height (0 to 1);
    * ``encoding="original"`` - the reader's coordinates in the original image, untouched by
      the transforms (the study fed the metadata's pixels next to a resized image);

    with the visibility values (``visibility=True``: 51 values) or without (34).
    """

    modality = "image+keypoints"

    def __init__(
        self,
        frame: pd.DataFrame,
        transform: Callable | None = None,
        train: bool = False,
        checked: bool = True,
        encoding: str = "pixels",
        visibility: bool = True,
        keypoints: str | dict[str, Any] | None = None,
        **image_options: Any,
    ) -> None:
        if encoding not in KEYPOINT_ENCODINGS:
            raise ConfigError(
                f"data.dataset.encoding must be one of {KEYPOINT_ENCODINGS}, got {encoding!r}"
            )
        self.notes: list[str] = []
        if keypoints is not None:
            frame = self._with_estimated_keypoints(frame, keypoints, image_options)
        if "keypoints" not in frame.columns:
            raise ConfigError(
                "KeypointImageDataset needs a 'keypoints' column; this dataset's reader has "
                "none. Estimate them from the images with data.dataset.keypoints=estimate, or "
                "use data.dataset._target_=sports_rec.data.datasets.ImageDataset"
            )
        super().__init__(frame, transform, train, checked=checked, **image_options)
        self.keypoints = [
            np.asarray(k, dtype=np.float32).reshape(-1, 3) for k in self.frame["keypoints"]
        ]
        self.crops = list(self.frame["crop"]) if "crop" in self.frame.columns else None
        self.encoding = encoding
        self.visibility = bool(visibility)
        self.vector_size = keypoint_vector_size(self.visibility)

    def _with_estimated_keypoints(
        self, frame: pd.DataFrame, keypoints: str | dict[str, Any], image_options: dict[str, Any]
    ) -> pd.DataFrame:
        """``frame`` with a ``keypoints`` column estimated from its images (cached by file
        content, :mod:`sports_rec.pose_estimation.keypoint_cache`); rows without a person
        get zeros or are dropped, as ``no_person`` says, and are counted in ``notes``."""
        from sports_rec.pose_estimation.keypoint_cache import (
            estimate_keypoints,
            zeros_where_missing,
        )

        options, found = estimate_keypoints(
            list(frame["path"]), keypoints, image_options.get("cache_dir")
        )
        missing = [i for i, k in enumerate(found) if k is None]
        frame = frame.assign(keypoints=zeros_where_missing(found))
        if missing:
            action = "dropped" if options.no_person == "skip" else "given all-zero keypoints"
            self.notes.append(
                f"{len(missing)} of {len(frame)} images: no person found by {options.backend}, "
                f"{action} (data.dataset.keypoints.no_person={options.no_person}); e.g. "
                + ", ".join(Path(frame["path"].iloc[i]).name for i in missing[:3])
            )
            if options.no_person == "skip":
                frame = frame.drop(index=frame.index[missing])
        return frame

    def _placed(
        self, index: int, sx: float = 1.0, sy: float = 1.0
    ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """The row's keypoints in the pixels of its image as loaded: the source scaled by
        ``sx, sy`` (decoding may have reduced it), then cut to the avatar crop if the row
        has one; and that crop box in the scaled image's pixels (None without a crop)."""
        keypoints = self.keypoints[index].copy()
        keypoints[:, 0] *= sx
        keypoints[:, 1] *= sy
        crop = self.crops[index] if self.crops is not None else None
        if crop is None:
            return keypoints, None
        x0, y0, x1, y1 = (float(v) for v in crop[:4])
        box = (round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy))
        placed = keypoints[:, 2] > 0
        keypoints[placed, 0] -= box[0]
        keypoints[placed, 1] -= box[1]
        return keypoints, box

    def load(self, index: int) -> dict[str, Any]:
        sample = super().load(index)
        image = sample["image"]
        # Crops and keypoints are in the source image's pixels; decoding may have reduced it
        # (``max_side``: InfiniteForm's renders are far larger than the net's input).
        width, height = source_size(self.paths[index])
        keypoints, box = self._placed(index, image.width / width, image.height / height)
        if box is not None:
            image = image.crop(box)
        zero = (keypoints[:, 2] == 0) & (keypoints[:, 0] == 0) & (keypoints[:, 1] == 0)
        return {
            "image": image,
            "keypoints": tv_tensors.KeyPoints(
                torch.from_numpy(keypoints[:, :2]), canvas_size=(image.height, image.width)
            ),
            "visibility": KeypointVisibility(
                np.stack([keypoints[:, 2], zero], axis=1).astype(np.int64)
            ),
        }

    def finish(self, sample: dict[str, Any], index: int) -> dict[str, Any]:
        height, width = sample["keypoints"].canvas_size
        xy = sample["keypoints"].as_subclass(torch.Tensor).float().numpy()
        state = sample["visibility"].as_subclass(torch.Tensor).numpy()
        v, zero = state[:, 0].astype(np.float32), state[:, 1].astype(bool)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
        v[~inside] = 0.0  # moved out of the image by a crop
        xy[zero] = 0.0
        v[zero] = 0.0
        if self.encoding == "original":
            source, _ = self._placed(index)  # the source's pixels (crop origin subtracted)
            vector = encode_keypoints(source, 1, 1, normalise=False, visibility=self.visibility)
        else:
            joints = np.concatenate([xy, v[:, None]], axis=1)
            vector = encode_keypoints(
                joints, width, height, self.encoding == "normalized", self.visibility
            )
        rest = {k: val for k, val in sample.items() if k not in ("keypoints", "visibility")}
        return {**rest, "keypoints": torch.from_numpy(np.asarray(vector, dtype=np.float32))}


def input_spec(sample: dict[str, Any], keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """``[{name, shape, dtype}]`` of a sample's inputs (every tensor but ``label``/``index``)."""
    names = list(keys) if keys is not None else [k for k in sample if k not in ("label", "index")]
    return [
        {"name": name, "shape": list(sample[name].shape), "dtype": str(sample[name].dtype)}
        for name in names
        if isinstance(sample.get(name), torch.Tensor)
    ]
