"""Datasets by modality, generic over the index table.

Every dataset returns a dict: the input tensor(s) under their modality key (``image`` here;
``keypoints`` and ``video`` in the fusion and video datasets), ``label`` and ``index`` (the
row in the split's table, so callbacks can find the source file of any prediction). Dict
batches let one LightningModule train image, image+keypoint and video models alike.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from torch.utils.data import Dataset

from sports_rec.data.image_io import load_image


class ImageDataset(Dataset):
    """Images listed in an index-table frame, decoded with :func:`load_image`.

    Args:
        frame: rows with ``path`` and ``label``.
        transform: callable mapping a PIL image to a tensor (torchvision v2 or timm).
        grayscale: decode as single-channel ``L`` instead of ``RGB``.
        max_side: shorter-side cap applied while decoding (keeps 4500 px photos cheap).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        transform: Callable | None = None,
        grayscale: bool = False,
        max_side: int | None = None,
    ) -> None:
        self.frame = frame.reset_index(drop=True)
        self.paths = self.frame["path"].tolist()
        self.labels = self.frame["label"].astype(int).tolist()
        self.transform = transform
        self.mode = "L" if grayscale else "RGB"
        self.max_side = max_side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        image = load_image(self.paths[index], mode=self.mode, max_side=self.max_side)
        tensor = self.transform(image) if self.transform is not None else image
        return {"image": tensor, "label": self.labels[index], "index": index}
