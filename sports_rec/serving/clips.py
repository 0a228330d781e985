"""Clip models in the app: the exercise timeline of a video and a GradCAM video of a moment.

The timeline is ``predict``'s (:func:`~sports_rec.predicting.timeline.predict_timeline`, with
``annotate=true`` and masks / poses estimated when the checkpoint needs them), written into
the request's folder: ``frame_probs.csv``, ``timeline.csv``, ``timeline.json``,
``annotated.mp4``; the app adds ``timeline.png`` (:func:`timeline_chart`: each class's
probability over time above the segments). The GradCAM video of a moment is ``explain``'s
(:func:`~sports_rec.explaining.long_sample.explained_clips` and
:func:`~sports_rec.explaining.video.write_clip_videos`) for the clip centred on it, prepared
with the masks / poses the timeline used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from sports_rec.data.io.video_io import probe_video
from sports_rec.errors import SportsRecError
from sports_rec.explaining.long_sample import explained_clips
from sports_rec.explaining.video import write_clip_videos
from sports_rec.predicting.inputs import VIDEO_SUFFIXES, is_video_path
from sports_rec.predicting.segments import UNCERTAIN_NAME
from sports_rec.predicting.timeline import predict_timeline
from sports_rec.serving.kinds import Kind

if TYPE_CHECKING:
    from sports_rec.serving.models import ServedModel

#: Classes drawn as lines in the chart: those with a segment, then the most probable others.
CHART_CLASSES = 10


class VideoInputError(SportsRecError, ValueError):
    """The file given to a clip model is not a video."""


@dataclass
class TimelineSettings:
    """``predict``'s timeline options (conf/app.yaml, the page's settings)."""

    stride: int = 8
    smoothing_s: float = 0.5
    min_duration_s: float = 1.0
    min_confidence: float | None = None
    batch_size: int = 8


@dataclass
class ClipTimeline:
    """One clip model's timeline of one video (the files are in ``folder``)."""

    folder: Path
    video: Path
    segments: pd.DataFrame
    frame_probs: pd.DataFrame
    fps: float
    chart: Path
    annotated: Path | None

    @property
    def duration_s(self) -> float:
        return len(self.frame_probs) / self.fps

    def shares(self) -> dict[str, float]:
        """Each exercise's share of the video (by frames), largest first."""
        frames = self.segments.groupby("exercise")["frames"].sum()
        total = max(int(frames.sum()), 1)
        return {str(k): float(v) / total for k, v in frames.sort_values(ascending=False).items()}

    def summary(self, limit: int = 6) -> str:
        """``squat 0.0-4.2 s; lunge 4.2-9.0 s ...``"""
        parts = [
            f"{row.exercise} {row.start_s:.1f}-{row.end_s:.1f} s"
            for row in self.segments.head(limit).itertuples()
        ]
        more = len(self.segments) - limit
        return "; ".join(parts) + (f"; ... {more} more" if more > 0 else "")


def check_video(path: Path, model_name: str) -> None:
    """Refuse a file that is not a video (by its name) with what the model takes."""
    if not is_video_path(path):
        raise VideoInputError(
            f"'{path.name}' is not a video, but {model_name} classifies video clips: give a "
            f"video ({', '.join(sorted(VIDEO_SUFFIXES))}); photos go to image models"
        )


class ClipKind(Kind):
    """Clip nets (``video`` input): a video's timeline, and GradCAM videos."""

    takes: ClassVar[str] = "video"

    def timeline(
        self, served: ServedModel, video: Path, folder: Path, settings: TimelineSettings
    ) -> ClipTimeline:
        """``predict``'s timeline of ``video`` (annotated) into ``folder``, and its chart."""
        check_video(video, served.name)
        result = predict_timeline(
            video,
            served.runner,
            served.metadata,
            served.transform,
            served.class_names,
            folder,
            stride=int(settings.stride),
            batch_size=int(settings.batch_size),
            smoothing_s=float(settings.smoothing_s),
            min_duration_s=float(settings.min_duration_s),
            min_confidence=settings.min_confidence,
            annotate=True,
            model_name=served.name,
        )
        frame_probs = pd.read_csv(folder / "frame_probs.csv")
        fps = float(json.loads((folder / "timeline.json").read_text())["video"]["fps"])
        segments = result["segments"]
        chart = timeline_chart(frame_probs, segments, served.class_names, folder / "timeline.png")
        annotated = folder / "annotated.mp4"
        return ClipTimeline(
            folder,
            video,
            segments,
            frame_probs,
            fps,
            chart,
            annotated if annotated.is_file() else None,
        )

    def gradcam(
        self,
        served: ServedModel,
        timeline: ClipTimeline,
        moment_s: float,
        folder: Path,
        fps: float = 8.0,
        alpha: float = 0.5,
    ) -> Path:
        """GradCAM videos of the clip centred on ``moment_s`` (clamped into the video) in
        ``folder``; returns ``overlay_with_probs.mp4`` (the map over the frames the net saw,
        beside the clip's class probabilities)."""
        document = json.loads((timeline.folder / "timeline.json").read_text())
        settings = document["settings"]
        dataset = dict(served.metadata.data.get("dataset") or {})
        clip_len = int(dataset.get("clip_len", 16))
        info = probe_video(timeline.video, str(dataset.get("backend", "decord")))
        frames = min(info.num_frames, len(timeline.frame_probs))
        centre = round(float(moment_s) * timeline.fps)
        start = int(np.clip(centre - clip_len // 2, 0, max(frames - clip_len, 0)))
        row = pd.Series(
            {
                "path": str(timeline.video),
                "mask_dir": settings["masks"],
                "pose_path": settings["poses"],
            }
        )
        options = OmegaConf.create({"layer": None, "steps": 32})
        probs, maps, rgb = explained_clips(
            options, served.model, served.transform, row, info, [start], "gradcam"
        )
        write_clip_videos(
            folder,
            rgb,
            maps,
            probs,
            served.class_names,
            np.full(len(rgb), -1),
            {
                "video": str(timeline.video),
                "moment_s": f"{float(moment_s):.2f}",
                "start_frame": start,
                "frames": len(rgb),
                "predicted": served.class_names[int(probs[0].argmax())],
                "method": "gradcam",
                "checkpoint": str(served.source.path),
            },
            fps=fps,
            alpha=alpha,
        )
        return folder / "overlay_with_probs.mp4"


def class_colours(class_names: list[str]) -> dict[str, tuple[float, ...]]:
    """A fixed colour per class (tab20, cycling), grey for ``uncertain``."""
    cmap = plt.get_cmap("tab20" if len(class_names) > 10 else "tab10")
    colours = {name: tuple(cmap(i % cmap.N)) for i, name in enumerate(class_names)}
    colours[UNCERTAIN_NAME] = (0.6, 0.6, 0.6, 1.0)
    return colours


def timeline_chart(
    frame_probs: pd.DataFrame, segments: pd.DataFrame, class_names: list[str], path: Path
) -> Path:
    """A PNG: each class's per-frame probability over time (the classes with a segment,
    then the most probable others, :data:`CHART_CLASSES` at most) above a bar of the
    segments, coloured and named by exercise."""
    colours = class_colours(class_names)
    with_segment = [c for c in dict.fromkeys(segments["exercise"]) if c in class_names]
    others = frame_probs[[c for c in class_names if c not in with_segment]].max()
    shown = (with_segment + list(others.sort_values(ascending=False).index))[:CHART_CLASSES]
    time = frame_probs["time_s"].to_numpy()
    end = float(segments["end_s"].max()) if len(segments) else float(time[-1])
    figure, (lines, bar) = plt.subplots(
        2, 1, figsize=(10, 3.4), sharex=True, gridspec_kw={"height_ratios": [4, 1]}
    )
    for name in shown:
        lines.plot(time, frame_probs[name], color=colours[name], linewidth=1.4, label=name)
    lines.set_ylim(0, 1.02)
    lines.set_ylabel("probability")
    lines.legend(loc="upper right", fontsize=7, ncol=min(len(shown), 5), framealpha=0.8)
    lines.grid(alpha=0.3)
    for row in segments.itertuples():
        bar.axvspan(row.start_s, row.end_s, color=colours.get(row.exercise, (0.5, 0.5, 0.5, 1)))
        bar.text(
            (row.start_s + row.end_s) / 2, 0.5, str(row.exercise), ha="center", va="center",
            fontsize=7, clip_on=True,
        )  # fmt: skip
    bar.set_yticks([])
    bar.set_xlim(0, end)
    bar.set_xlabel("time (s)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
