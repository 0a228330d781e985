"""Datasets by modality, generic over the index table.

Every dataset returns a dict: the input tensor(s) under their modality key (``image`` here;
``keypoints`` and ``video`` in the fusion and video datasets), ``label`` and ``index`` (the
row in the split's table, so callbacks can find the source file of any prediction). Dict
batches let one LightningModule train image, image+keypoint and video models alike.

A key is either a row index or ``(row index, draw seed)`` from the training sampler; the
sample is then transformed under that seed (:func:`sports_rec.utils.seeding.seeded`), so
augmentation is reproducible per draw whatever the worker count or a restart.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from torch.utils.data import Dataset

from sports_rec.data.image_io import CHECK_HINT, UNCHECKED_HINT, ImageDecodeError, load_image
from sports_rec.utils.seeding import seeded

SampleKey = int | tuple[int, int]


def split_key(key: SampleKey) -> tuple[int, int | None]:
    """``(row index, draw seed or None)`` of a dataset key."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return int(key), None


class ImageDataset(Dataset):
    """Images listed in an index-table frame, decoded with :func:`load_image`.

    Args:
        frame: rows with ``path`` and ``label``.
        transform: callable mapping a PIL image to a tensor (torchvision v2 or timm).
        grayscale: decode as single-channel ``L`` instead of ``RGB``.
        max_side: shorter-side cap applied while decoding (keeps 4500 px photos cheap).
        checked: whether the files were decoded once at start-up (``data.check_images``);
            decides what an unreadable file's message advises.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        transform: Callable | None = None,
        grayscale: bool = False,
        max_side: int | None = None,
        checked: bool = True,
    ) -> None:
        self.frame = frame.reset_index(drop=True)
        self.paths = self.frame["path"].tolist()
        self.labels = self.frame["label"].astype(int).tolist()
        self.transform = transform
        self.mode = "L" if grayscale else "RGB"
        self.max_side = max_side
        self.hint = CHECK_HINT if checked else UNCHECKED_HINT

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: SampleKey) -> dict[str, torch.Tensor | int]:
        index, seed = split_key(key)
        path = self.paths[index]
        try:
            image = load_image(path, mode=self.mode, max_side=self.max_side)
        except ImageDecodeError as error:
            raise ImageDecodeError(path, error.reason, hint=self.hint) from None
        with seeded(seed):
            tensor = self.transform(image) if self.transform is not None else image
        return {"image": tensor, "label": self.labels[index], "index": index}
