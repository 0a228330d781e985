"""``explain``'s long-sample mode for clip models: one stretch of a video of the split,
explained clip by clip, as a GradCAM video with per-frame probability bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from torchvision import tv_tensors

from sports_rec.data.clips import read_frame_labels
from sports_rec.data.datasets import apply_transform
from sports_rec.data.formats.exercise_video import ExerciseVideoLayout
from sports_rec.data.io.video_io import VideoInfo, probe_video, read_frames
from sports_rec.errors import ConfigError
from sports_rec.explaining.attribution import attribute
from sports_rec.explaining.panels import class_list, display_stats, slug, to_rgb
from sports_rec.explaining.video import write_clip_videos
from sports_rec.models.classifier import Classifier
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.predicting.clip_scoring import FrameProbabilities, clip_starts
from sports_rec.predicting.timeline import frame_preparation, frame_table


def explain_long_sample(cfg: DictConfig, model: Classifier, dataset: Any, method: str) -> Path:
    """A long stretch of one video of the split: per frame the GradCAM map of the clip that
    starts at or before it, and bars of the class probabilities averaged over the clips
    covering it, the clips and numbers of ``predict``'s timeline with the same ``stride``
    (written beside the videos as ``frame_probs.csv``, the format of the timeline's)."""
    options = cfg.long_sample
    row = chosen_video(dataset.videos, options.get("video"))
    data_cfg = CheckpointMetadata.of(model).data
    clip_len = int(data_cfg["dataset"]["clip_len"])
    stride = max(1, int(options.stride))
    info = probe_video(row["path"])
    start = int(options.start_frame)
    end = min(start + int(options.frames), info.num_frames)
    if end - start < clip_len:
        raise ConfigError(
            f"long_sample: frames {start}-{end} of '{row['path']}' ({info.num_frames} frames) "
            f"hold less than one clip ({clip_len}); lower long_sample.start_frame"
        )
    # The clips predict's timeline scores the whole video with (clip_starts), those that
    # touch the stretch: each frame's bar is the mean of its clips, as in frame_probs.csv.
    starts = [
        s
        for s in clip_starts(info.num_frames, clip_len, stride)
        if s < end and s + clip_len > start
    ]
    first = starts[0]
    probs, maps, rgb = explained_clips(cfg, model, dataset.transform, row, info, starts, method)
    span = slice(start - first, end - first)
    probs, maps, rgb = probs[span], maps[span], rgb[span]
    names = list(model.class_names)
    folder = (
        Path(cfg.paths.output_dir) / "explanations" / f"long_{slug(Path(row['path']).stem)}_{start}"
    )
    write_clip_videos(
        folder,
        rgb,
        maps,
        probs,
        names,
        true_labels(row["label_path"], data_cfg, start, end),
        {
            "video": row["path"],
            "start_frame": start,
            "frames": end - start,
            "clip_len": clip_len,
            "stride": stride,
            "clips": len(starts),
            "method": method,
            "explained": "each clip's predicted class",
            "checkpoint": cfg.ckpt_path,
        },
        fps=float(cfg.fps),
        alpha=float(cfg.alpha),
    )
    frame_table(probs, info.fps, names, first=start).to_csv(folder / "frame_probs.csv", index=False)
    return folder


def chosen_video(videos: pd.DataFrame, wanted: str | None) -> pd.Series:
    """The split's video named ``wanted`` (path or file stem), or its first one."""
    if not wanted:
        return videos.iloc[0]
    match = videos[
        (videos["path"] == str(wanted))
        | (videos["path"].map(lambda p: Path(p).stem) == str(wanted))
    ]
    if match.empty:
        stems = [Path(p).stem for p in videos["path"]]
        raise ConfigError(
            f"long_sample.video={wanted!r} is not a video of this split; its videos are "
            f"{class_list(stems, limit=30)}"
        )
    return match.iloc[0]


def explained_clips(
    cfg: DictConfig,
    model: Classifier,
    transform: Any,
    row: pd.Series,
    info: VideoInfo,
    starts: list[int],
    method: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every clip of ``starts`` scored and explained, over the frames they span (from
    ``starts[0]``): per frame the mean probabilities of its clips, and the map and display
    frame of the clip that starts at or before it."""
    metadata = CheckpointMetadata.of(model)
    data_cfg = metadata.data
    clip_len = int(data_cfg["dataset"]["clip_len"])
    prepare = frame_preparation(
        data_cfg,
        info,
        Path(row["path"]),
        masks=row.get("mask_dir") if data_cfg["dataset"].get("use_masks") else None,
        poses=row.get("pose_path") if data_cfg["dataset"].get("skeleton_attention") else None,
    )
    first, last = starts[0], starts[-1] + clip_len
    raw = read_frames(row["path"], range(first, last), data_cfg["dataset"].get("backend", "decord"))
    prepared = prepare(raw, first)
    maps = np.zeros((last - first, prepare.size, prepare.size), np.float32)
    rgb = np.zeros((last - first, prepare.size, prepare.size, 3), np.uint8)
    table = FrameProbabilities(len(model.class_names), last - first)
    mean, std = display_stats(metadata.eval_transform, metadata.channels)
    for clip_start in starts:
        offset = clip_start - first
        clip = prepared[offset : offset + clip_len]
        video = tv_tensors.Video(torch.from_numpy(clip).permute(0, 3, 1, 2))
        tensor = torch.as_tensor(apply_transform(transform, {"video": video})["video"])
        tensor = tensor.permute(1, 0, 2, 3)[None].to(model.device)
        with torch.inference_mode():
            p = model({"video": tensor}).float().softmax(dim=1)[0].cpu().numpy()
        table.add(offset, clip_len, p)
        result = attribute(
            model.net,
            {"video": tensor},
            model.input_keys,
            torch.tensor([int(p.argmax())]),
            method,
            layer=cfg.get("layer"),
            steps=int(cfg.steps),
        )
        # The map and frames a clip shows: from its start on, until a later clip starts.
        maps[offset : offset + clip_len] = result.maps[0]
        rgb[offset : offset + clip_len] = to_rgb(tensor[0], mean, std)
    return table.mean(), maps, rgb


def true_labels(label_path: str, data_cfg: dict[str, Any], start: int, end: int) -> np.ndarray:
    """The labelled class of frames ``start..end`` (-1 past the label file's end)."""
    layout = ExerciseVideoLayout.from_options(**dict(data_cfg.get("layout") or {}))
    labels = read_frame_labels(label_path, layout)
    true = np.full(end - start, -1)
    known = labels[start:end]
    true[: len(known)] = known
    return true
