"""The exercise timeline of a raw video: ``python -m sports_rec.predict ckpt_path=VIDEO_CKPT
input=workout.mp4``.

The checkpoint of a clip model (``data=exercise_video model=c3d``) holds everything needed
to prepare a raw video as its training clips were: the frame size and resize mode, the
clip length, whether frames were masked or weighted by skeleton attention, and the eval
transform. The video is scored streaming (:mod:`sports_rec.predicting.clip_scoring`: any
length, flat memory except the ``T x C`` per-frame table), turned into segments
(:mod:`sports_rec.predicting.segments`) and written to the output folder:

* ``frame_probs.csv`` - ``frame, time_s`` and one probability column per class, per frame
  (the raw clip average, before smoothing; for a very long video this table is what grows);
* ``timeline.csv`` - ``exercise, class_id, start_s, end_s, frames, mean_confidence,
  start_frame, end_frame``, one row per segment;
* ``timeline.json`` - the segments plus the video (path, fps, frames, size), the model and
  the settings used;
* ``annotated.mp4`` (``annotate=true``) - the video with the current exercise and its
  confidence drawn on every frame (a second streaming pass).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sports_rec.data.formats.exercise_video import ExerciseVideoLayout
from sports_rec.data.io.video_io import VideoInfo, iter_frames, probe_video
from sports_rec.data.poses import read_pose_csv
from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.predicting.annotate import write_annotated_video
from sports_rec.predicting.clip_scoring import FramePreparation, score_video
from sports_rec.predicting.segments import UNCERTAIN, UNCERTAIN_NAME, timeline

#: Frames decoded per chunk: bounded memory whatever the video's length.
DECODE_CHUNK = 64


#: masks=auto / poses=auto: estimate them from the video with the pose backend.
AUTO = "auto"
AUTO_HINT = "needs the pose extra: make install, or pip install -e '.[pose]'"


class TimelineInputError(SportsRecError, ValueError):
    """The video, or the masks / poses it needs, cannot be used with this checkpoint."""


def frame_preparation(
    data_cfg: Mapping[str, Any],
    info: VideoInfo,
    video: Path,
    masks: str | None = None,
    poses: str | None = None,
) -> FramePreparation:
    """The training data's frame preparation for ``video``, with the masks / poses the
    model was trained with (a clear error when the user did not give them)."""
    dataset = dict(data_cfg.get("dataset") or {})
    layout = ExerciseVideoLayout.from_options(**dict(data_cfg.get("layout") or {}))
    mask_dir = keypoints = None
    if dataset.get("use_masks"):
        if not masks:
            raise TimelineInputError(
                "this model was trained on person-masked frames (data.dataset.use_masks=true), "
                f"so '{video}' needs its masks too: add masks=DIR, a folder of per-frame masks "
                f"named like {layout.mask_pattern!r} (frame numbers from "
                f"{layout.mask_frame_base}), or masks=auto to estimate them ({AUTO_HINT})"
            )
        if not Path(masks).is_dir():
            raise TimelineInputError(f"masks='{masks}' is not a folder of per-frame mask images")
        mask_dir = str(masks)
    if dataset.get("skeleton_attention"):
        if not poses:
            raise TimelineInputError(
                "this model was trained with skeleton attention "
                f"(data.dataset.skeleton_attention=true), so '{video}' needs its poses: add "
                "poses=CSV, a pose file in the dataset's columns (one row per frame), or "
                f"poses=auto to estimate them ({AUTO_HINT})"
            )
        keypoints = read_pose_csv(poses, layout, info.num_frames)
    return FramePreparation(
        size=int(data_cfg["image_size"]),
        resize=str(dataset.get("resize", "stretch")),
        layout=layout,
        mask_dir=mask_dir,
        keypoints=keypoints,
        source_hw=(info.height, info.width),
        sigma=float(dataset.get("skeleton_sigma", 10.0)),
    )


def estimated_when_needed(
    data_cfg: Mapping[str, Any],
    info: VideoInfo,
    video: Path,
    out: Path,
    masks: str | None,
    poses: str | None,
    video_backend: str,
) -> tuple[str | None, str | None, dict[str, Any] | None]:
    """``masks`` / ``poses`` with ``auto`` (or nothing given, when the checkpoint needs them
    and the pose backend is installed) replaced by files estimated from ``video``
    (:mod:`sports_rec.predicting.estimated_inputs`); and what was estimated, by which backend."""
    from sports_rec.pose_estimation.registry import DEFAULT_BACKEND, backend_installed

    def wanted(given: str | None, needed: bool) -> bool:
        if given == AUTO:
            return True
        return needed and given is None and backend_installed(DEFAULT_BACKEND)

    dataset = dict(data_cfg.get("dataset") or {})
    estimate_masks = wanted(masks, bool(dataset.get("use_masks")))
    estimate_poses = wanted(poses, bool(dataset.get("skeleton_attention")))
    if not (estimate_masks or estimate_poses):
        return masks, poses, None
    from sports_rec.predicting.estimated_inputs import estimate_video_inputs

    layout = ExerciseVideoLayout.from_options(**dict(data_cfg.get("layout") or {}))
    found = estimate_video_inputs(
        video,
        info,
        out,
        layout,
        masks=estimate_masks,
        poses=estimate_poses,
        video_backend=video_backend,
    )
    record = {
        "backend": found.backend,
        "masks": found.masks,
        "poses": found.poses,
        "frames_with_person": found.frames_with_person,
        "frames": found.frames,
    }
    return found.masks or masks, found.poses or poses, record


def frame_table(
    probs: np.ndarray, fps: float, class_names: list[str], first: int = 0
) -> pd.DataFrame:
    """``frame, time_s, <class>...``: the per-frame probabilities (from frame ``first``)."""
    frames = first + np.arange(len(probs))
    table = pd.DataFrame(probs, columns=class_names)
    table.insert(0, "time_s", frames / fps)
    table.insert(0, "frame", frames)
    return table


def predict_timeline(
    video: str | Path,
    run_batch: Callable[[torch.Tensor], torch.Tensor],
    metadata: CheckpointMetadata,
    transform: Callable | None,
    class_names: list[str],
    out_dir: str | Path,
    *,
    stride: int = 8,
    batch_size: int = 8,
    smoothing_s: float = 0.5,
    min_duration_s: float = 1.0,
    min_confidence: float | None = None,
    annotate: bool = False,
    masks: str | None = None,
    poses: str | None = None,
    model_name: str = "",
) -> dict[str, Any]:
    """Score ``video``, write the timeline files into ``out_dir``; returns a summary."""
    path = Path(video).expanduser()
    if not path.is_file():
        raise TimelineInputError(f"input='{path}' does not exist: give a video file")
    data_cfg = dict(metadata.data)
    dataset = dict(data_cfg.get("dataset") or {})
    backend = str(dataset.get("backend", "decord"))
    clip_len = int(dataset.get("clip_len", 16))
    if stride < 1:
        raise ConfigError(f"stride must be >= 1 frame, got {stride}")
    info = probe_video(path, backend)
    out = Path(out_dir)
    masks, poses, estimated = estimated_when_needed(
        data_cfg, info, path, out, masks, poses, backend
    )
    prepare = frame_preparation(data_cfg, info, path, masks, poses)
    probs = score_video(
        iter_frames(path, DECODE_CHUNK, backend),
        prepare,
        transform,
        run_batch,
        num_classes=len(class_names),
        clip_len=clip_len,
        stride=int(stride),
        batch_size=max(1, int(batch_size)),
        expected_frames=info.num_frames,
        source=str(path),
    )
    fps = float(info.fps)
    segments, labels, smoothed = timeline(
        probs, fps, class_names, smoothing_s, min_duration_s, min_confidence
    )
    out.mkdir(parents=True, exist_ok=True)
    frame_table(probs, fps, class_names).to_csv(out / "frame_probs.csv", index=False)
    segments.to_csv(out / "timeline.csv", index=False)
    settings = {
        "stride": int(stride),
        "clip_len": clip_len,
        "smoothing_s": smoothing_s,
        "min_duration_s": min_duration_s,
        "min_confidence": min_confidence,
        "masks": masks,
        "poses": poses,
        "estimated": estimated,  # masks / poses made by the pose backend (None: given)
    }
    document = {
        "video": {
            "path": str(path.resolve()),
            "fps": fps,
            "frames": len(probs),
            "width": info.width,
            "height": info.height,
        },
        "model": model_name,
        "classes": class_names,
        "settings": settings,
        "segments": segments.to_dict("records"),
    }
    (out / "timeline.json").write_text(json.dumps(document, indent=2))
    files = [out / "frame_probs.csv", out / "timeline.csv", out / "timeline.json"]
    if annotate:
        names = [UNCERTAIN_NAME if k == UNCERTAIN else class_names[k] for k in labels]
        confidence = np.where(
            labels == UNCERTAIN,
            smoothed.max(axis=1),
            smoothed[np.arange(len(labels)), np.maximum(labels, 0)],
        )
        target = out / "annotated.mp4"
        write_annotated_video(
            target,
            iter_frames(path, DECODE_CHUNK, backend),
            fps,
            names,
            confidence,
            keypoints=prepare.keypoints,
        )
        files.append(target)
    return {
        "video": str(path),
        "frames": len(probs),
        "duration_s": len(probs) / fps,
        "segments": segments,
        "files": files,
    }


def summary_lines(result: Mapping[str, Any], limit: int = 12) -> list[str]:
    """A short printed summary: the segments (the first ``limit``) and where the files are."""
    segments: pd.DataFrame = result["segments"]
    lines = [
        f"{result['video']}: {result['frames']} frames, {result['duration_s']:.1f} s, "
        f"{len(segments)} segment(s)"
    ]
    for row in segments.head(limit).itertuples():
        lines.append(
            f"  {row.start_s:8.2f}-{row.end_s:8.2f} s  {row.exercise}  "
            f"(confidence {row.mean_confidence:.2f})"
        )
    if len(segments) > limit:
        lines.append(f"  ... {len(segments) - limit} more in timeline.csv")
    lines.append(f"files: {', '.join(str(Path(f).resolve()) for f in result['files'])}")
    return lines
