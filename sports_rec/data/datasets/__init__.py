"""The dataset classes of each modality (``data.dataset``), bound by the contract in
:mod:`sports_rec.data.contract`.

* :mod:`.images` - :class:`ImageDataset` (``image``) and :class:`KeypointImageDataset`
  (``image`` + ``keypoints``, the InfiniteForm fusion nets);
* :mod:`.video_clips` - :class:`VideoClipDataset` (``video`` clips cut from labelled videos,
  with masks and skeleton attention).

The classes are importable from here (``sports_rec.data.datasets.ImageDataset``), the name
the data configs use.
"""

from sports_rec.data.datasets.images import (
    ImageDataset,
    KeypointImageDataset,
    SampleKey,
    apply_transform,
    input_spec,
    split_key,
)
from sports_rec.data.datasets.video_clips import VideoClipDataset

__all__ = [
    "ImageDataset",
    "KeypointImageDataset",
    "SampleKey",
    "VideoClipDataset",
    "apply_transform",
    "input_spec",
    "split_key",
]
