"""Clips of frame-labelled videos (study 004): the dataset class of ``data=exercise_video``.

The reader indexes whole subject videos, because splits must keep a subject together; this
dataset cuts each split's videos into clips with the split's stride (training overlaps,
stride 8; evaluation does not, stride 16), labels them from the per-frame labels
(:mod:`sports_rec.data.clips`) and, for training only, can downsample the dominant class
once (the study's ``--downsample-class1``).

A sample is ``{"video": float [C, T, H, W], "label", "index"}``. Frames come from the
decoded-frame cache (:mod:`sports_rec.data.io.frame_cache`: every video decoded once at the
training resolution, memory-mapped, shared by epochs, runs and DDP ranks) or, with
``cache_dir=None``, straight from the decoder. Before the transforms, optional person masks
zero the background and optional skeleton-guided attention weights every frame by Gaussian
blobs on 8 joints (shoulders, elbows, wrists, hips); both are part of the data config, so the
checkpoint, predict and explain apply them alike. The transforms get a
``tv_tensors.Video`` ``[T, C, H, W]`` in 0-1: one flip, rotation and colour jitter for all 16
frames of a clip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors

from sports_rec.data.clips import downsample_class, make_clips, video_frame_labels
from sports_rec.data.datasets import SampleKey, apply_transform, split_key
from sports_rec.data.formats.exercise_video import ExerciseVideoLayout
from sports_rec.data.io.frame_cache import FrameCache
from sports_rec.data.io.video_io import VideoDecodeError, probe_video, read_frames, resize_frames
from sports_rec.data.poses import load_mask_frames, read_pose_csv, skeleton_attention
from sports_rec.utils.seeding import seeded


def resized_maps(maps: np.ndarray, size: int, resize: str) -> np.ndarray:
    """Per-frame maps ``[T, H0, W0]`` in 0-1, resized as the frames are (float 0-1)."""
    as_frames = np.repeat((np.clip(maps, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
    return resize_frames(as_frames, (size, size), resize)[..., 0].astype(np.float32) / 255.0


def frame_weights(
    indices: list[int],
    size: int,
    resize: str,
    layout: ExerciseVideoLayout,
    mask_dir: str | None = None,
    keypoints: np.ndarray | None = None,
    source_hw: tuple[int, int] | None = None,
    sigma: float = 10.0,
) -> np.ndarray | None:
    """What frames ``indices`` are multiplied by before the transforms: ``[T, size, size]``.

    The person masks (``mask_dir``) times the skeleton attention (``keypoints`` ``[N, J, 3]``
    of the whole video, in pixels of its ``source_hw`` frames), each resized as the frames
    are; None when neither is used. Shared by the dataset and the video timeline of
    ``predict``, so a raw video is prepared exactly as the training clips were.
    """
    weight: np.ndarray | None = None
    if mask_dir is not None:
        masks = load_mask_frames(mask_dir, indices, layout).astype(np.float32)
        weight = resized_maps(masks, size, resize)
    if keypoints is not None:
        if source_hw is None:
            raise ValueError("skeleton attention needs the video's frame size (source_hw)")
        maps = skeleton_attention(keypoints[indices], *source_hw, sigma=sigma)
        attention = resized_maps(maps, size, resize)
        weight = attention if weight is None else weight * attention
    return weight


class VideoClipDataset(Dataset):
    """Clips of the videos listed in ``frame`` (one row per video, from the reader).

    Args:
        frame: video rows (``path``, ``num_frames``, ``label_path``, ``mask_dir``,
            ``pose_path``, ``height``, ``width`` ...).
        transform: sample-dict transform for ``video`` (``sports_rec.data.transforms``).
        train: the training split: clips every ``train_stride`` frames, else every
            ``eval_stride``; only the training split is downsampled.
        checked: unused here (videos are probed by the reader and :meth:`check_files`).
        clip_len: frames per clip (16, the study's).
        train_stride, eval_stride: the study's 8 and 16.
        label_rule: ``majority`` or ``centre`` frame label of a clip.
        layout: the dataset's layout options (``data.layout``; class count, label columns,
            mask naming, pose columns).
        size: frames are resized to ``size x size`` (112, the study's).
        resize: ``stretch`` (the study's direct resize) or ``short_side_crop`` (MMAction2's
            C3D recipe: short side to 128/112 of the size, then a centre crop).
        cache_dir: folder of the decoded-frame cache; None decodes every clip again.
        backend: video decoder (``decord``, ``pyav`` ...).
        cache_workers: processes that build the cache.
        use_masks: zero each frame's background with its person mask.
        skeleton_attention: weight frames by Gaussian blobs on the 8 attention joints.
        skeleton_sigma: blob sigma in pixels of the original video (scaled with the frames).
        downsample: class id cut (training split only, once) to the median clip count of the
            other classes; None keeps all clips.
        downsample_seed: seed of that random subset.
    """

    modality = "video"
    unit = "clip"  # what one sample is (the run writes clips.csv)

    def __init__(
        self,
        frame: pd.DataFrame,
        transform: Callable | None = None,
        train: bool = False,
        checked: bool = True,
        clip_len: int = 16,
        train_stride: int = 8,
        eval_stride: int = 16,
        label_rule: str = "majority",
        layout: Mapping[str, Any] | None = None,
        size: int = 112,
        resize: str = "stretch",
        cache_dir: str | None = None,
        backend: str = "decord",
        cache_workers: int = 2,
        use_masks: bool = False,
        skeleton_attention: bool = False,
        skeleton_sigma: float = 10.0,
        downsample: int | None = None,
        downsample_seed: int = 42,
    ) -> None:
        self.layout = ExerciseVideoLayout.from_options(**dict(layout or {}))
        self.transform = transform
        self.train = bool(train)
        self.clip_len = int(clip_len)
        self.size = int(size)
        self.resize = resize
        self.backend = backend
        self.use_masks = bool(use_masks)
        self.attention = bool(skeleton_attention)
        self.sigma = float(skeleton_sigma)
        self.videos = frame.reset_index(drop=True)
        frame_labels = video_frame_labels(self.videos, self.layout)
        stride = train_stride if self.train else eval_stride
        clips = make_clips(
            self.videos,
            frame_labels,
            clip_len=self.clip_len,
            stride=int(stride),
            label_rule=label_rule,
            background=self.layout.background,
            num_classes=self.layout.num_classes,
        )
        self.notes: list[str] = []  # for the data report
        self.downsampled: dict[str, Any] | None = None
        self.all_clips = clips.assign(used=True)  # before downsampling, for the data report
        if self.train and downsample is not None:
            clips = downsample_class(clips, class_id=int(downsample), seed=int(downsample_seed))
            self.all_clips["used"] = self.all_clips.index.isin(clips.index)
            self.downsampled = dict(clips.attrs.get("downsample", {}))
            self.notes.append(
                f"class {downsample} downsampled once to the median clip count of the other "
                f"classes: {self.downsampled['before']} -> {self.downsampled['after']} clips "
                f"(seed {downsample_seed})"
            )
        self.clips = clips.reset_index(drop=True)
        self.paths = self.clips["path"].tolist()
        self._labels = self.clips["label"].astype(int).tolist()
        self._videos = {row["path"]: row for row in self.videos.to_dict("records")}
        self.cache = (
            FrameCache(cache_dir, size=(self.size, self.size), resize=resize, backend=backend,
                       workers=cache_workers)
            if cache_dir else None
        )  # fmt: skip
        if self.cache is not None:
            self.cache.ensure(sorted(set(self.paths)))
        self.poses = (
            {
                path: read_pose_csv(row["pose_path"], self.layout, int(row["num_frames"]))
                for path, row in self._videos.items()
                if path in set(self.paths)
            }
            if self.attention
            else {}
        )

    @classmethod
    def check_files(cls, frame: pd.DataFrame, **options: Any) -> dict[str, str]:
        """``{path: reason}`` of the videos that cannot be probed (no decoding needed; the
        dataset node's ``options`` do not matter: the frame cache is built per split)."""
        unreadable = {}
        for path in frame["path"]:
            try:
                probe_video(path)
            except VideoDecodeError as error:
                unreadable[str(path)] = str(error)
        return unreadable

    @property
    def labels(self) -> list[int]:
        return self._labels

    @property
    def table(self) -> pd.DataFrame:
        """Every clip of the split (video, start frame, label), ``used`` False for the clips
        that downsampling removed (so the data report shows both distributions)."""
        return self.all_clips

    def __len__(self) -> int:
        return len(self._labels)

    def _frames(self, path: str, indices: list[int]) -> np.ndarray:
        """uint8 ``[T, size, size, 3]`` frames of ``path``."""
        if self.cache is not None:
            return np.asarray(self.cache.frames(path)[indices])
        return read_frames(path, indices, self.backend, size=(self.size, self.size),
                           resize=self.resize)  # fmt: skip

    def load(self, index: int) -> torch.Tensor:
        """The clip as float ``[T, 3, H, W]`` in 0-1, masks and attention applied."""
        row = self.clips.iloc[index]
        path, start = row["path"], int(row["start_frame"])
        indices = list(range(start, start + self.clip_len))
        video = self._frames(path, indices).astype(np.float32) / 255.0
        source = self._videos[path]
        weight = frame_weights(
            indices,
            self.size,
            self.resize,
            self.layout,
            mask_dir=source["mask_dir"] if self.use_masks else None,
            keypoints=self.poses[path] if self.attention else None,
            source_hw=(int(source["height"]), int(source["width"])),
            sigma=self.sigma,
        )
        if weight is not None:
            video *= weight[..., None]
        return torch.from_numpy(video).permute(0, 3, 1, 2).contiguous()

    def preview(self, index: int) -> Image.Image:
        """The clip's middle frame as the net sees it (for galleries of misclassified clips)."""
        frames = self.load(index)
        middle = frames[frames.shape[0] // 2].permute(1, 2, 0).numpy()
        return Image.fromarray((middle * 255).clip(0, 255).astype(np.uint8))

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, seed = split_key(key)
        sample = {"video": tv_tensors.Video(self.load(index))}
        with seeded(seed):
            sample = apply_transform(self.transform, sample)
        video = torch.as_tensor(sample["video"]).permute(1, 0, 2, 3).contiguous()  # C, T, H, W
        return {"video": video, "label": self._labels[index], "index": index}
