"""Video clips (``video``, C3D): predict the exercise timeline of a video; explain with
GradCAM videos, and the long-sample mode over a stretch of a video.

Dataset: :class:`sports_rec.data.datasets.video_clips.VideoClipDataset`; transforms:
``transforms=video``; preview: a clip's middle frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from sports_rec.data.index import VIDEO_SUFFIXES
from sports_rec.explaining.long_sample import explain_long_sample
from sports_rec.explaining.panels import to_rgb
from sports_rec.explaining.video import write_clip_videos
from sports_rec.modalities.base import ExplainedSample, Modality, PredictJob
from sports_rec.models.classifier import Classifier
from sports_rec.predicting.inputs import PredictInputError, is_video_path
from sports_rec.predicting.timeline import predict_timeline, summary_lines


class VideoClipModality(Modality):
    name = "video clips"
    spatial_input = "video"
    default_explain_method = "gradcam"

    def serves(self, input_keys: Sequence[str]) -> bool:
        return tuple(input_keys) == ("video",)

    def predict(self, job: PredictJob) -> dict[str, Any]:
        """The timeline of the video ``input`` (``output`` names a folder)."""
        cfg = job.cfg
        if not is_video_path(cfg.input):
            raise PredictInputError(
                f"input='{cfg.input}' is not a video file, but this checkpoint classifies "
                f"video clips: give one video ({', '.join(sorted(VIDEO_SUFFIXES))})"
            )
        out_dir = Path(cfg.get("output") or cfg.paths.output_dir)
        result = predict_timeline(
            cfg.input,
            job.runner,
            job.metadata,
            job.transform,
            list(job.model.class_names),
            out_dir,
            stride=int(cfg.stride),
            batch_size=int(cfg.batch_size),
            smoothing_s=float(cfg.smoothing_s),
            min_duration_s=float(cfg.min_duration_s),
            min_confidence=cfg.get("min_confidence"),
            annotate=bool(cfg.annotate),
            masks=cfg.get("masks"),
            poses=cfg.get("poses"),
            model_name=job.source,
        )
        print("\n".join(summary_lines(result)), flush=True)
        return {
            "output": str(out_dir),
            "frames": result["frames"],
            "segments": len(result["segments"]),
            "files": [str(f) for f in result["files"]],
        }

    def draw_explanation(self, item: ExplainedSample) -> dict[str, Any]:
        """GradCAM videos of the clip (map, overlay, bars of the class probabilities)."""
        rgb = to_rgb(item.inputs[self.spatial_input], *item.display)
        clip = item.dataset.clips.iloc[item.row["index"]]
        start = int(clip["start_frame"])
        frames = len(rgb)
        row = item.row
        write_clip_videos(
            item.folder / item.stem,
            rgb,
            item.attribution,
            np.repeat(item.probs[None], frames, axis=0),
            item.class_names,
            np.full(frames, item.true_id),
            {
                "video": row["path"],
                "start_frame": start,
                "frames": frames,
                "true": row["true"],
                "predicted": row["pred"],
                "probability": f"{row['prob']:.4f}",
                "method": row["method"],
                "layer": row["layer"],
                "explained": row["target"],
                "checkpoint": item.cfg.ckpt_path,
            },
            fps=float(item.cfg.fps),
            alpha=float(item.cfg.alpha),
        )
        return {"start_frame": start, "file": f"{item.folder.name}/{item.stem}/"}

    def explain_long_sample(
        self, cfg: DictConfig, model: Classifier, dataset: Any, method: str
    ) -> Path:
        return explain_long_sample(cfg, model, dataset, method)
