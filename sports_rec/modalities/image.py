"""Images (``image``): predict image files; explain with a panel per image.

Dataset: :class:`sports_rec.data.datasets.ImageDataset` (``data.dataset``), transforms:
``conf/transforms`` (torchvision v2 / timm), preview: the source image file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sports_rec.explaining.panels import panel_title, to_rgb, write_image_panel
from sports_rec.modalities.base import ExplainedSample, Modality, PredictJob
from sports_rec.predicting.images import predict_files
from sports_rec.predicting.inputs import (
    VIDEO_SUFFIXES,
    PredictInputError,
    find_inputs,
    is_video_path,
    write_predictions,
)


def predictions_file(job: PredictJob) -> Path:
    """``output=`` or ``<run folder>/predictions.csv``."""
    return Path(job.cfg.get("output") or Path(job.cfg.paths.output_dir) / "predictions.csv")


def refuse_videos(job: PredictJob) -> None:
    if is_video_path(job.cfg.input):
        raise PredictInputError(
            f"input='{job.cfg.input}' is a video, but this checkpoint classifies "
            f"{' + '.join(job.model.input_keys)} inputs: predict videos with a clip model's "
            "checkpoint (e.g. trained with data=exercise_video model=c3d), or give images "
            f"(videos: {', '.join(sorted(VIDEO_SUFFIXES))})"
        )


class ImageModality(Modality):
    name = "image"

    def serves(self, input_keys: Sequence[str]) -> bool:
        return tuple(input_keys) == ("image",)

    def predict(self, job: PredictJob) -> dict[str, Any]:
        refuse_videos(job)
        inputs = find_inputs(job.cfg.input)
        metadata = job.metadata
        table = predict_files(
            inputs.images,
            job.runner,
            job.transform,
            job.model.class_names,
            metadata.channels,
            metadata.image_size,
            top_k=job.cfg.top_k,
            batch_size=job.cfg.batch_size,
            num_workers=job.cfg.get("num_workers"),
        )
        return write_predictions(table, predictions_file(job), job.source, inputs.non_images)

    def draw_explanation(self, item: ExplainedSample) -> dict[str, Any]:
        """A panel: the image, the map over it and, for fusion nets, the skeleton."""
        rgb = to_rgb(item.inputs[self.spatial_input], *item.display)
        keypoints = item.inputs.get("keypoints")
        path = item.folder / f"{item.stem}.png"
        write_image_panel(
            path,
            rgb,
            item.attribution,
            panel_title(item.row["true"], item.row["pred"], item.row["prob"], item.row["target"]),
            item.row["method"],
            alpha=float(item.cfg.alpha),
            keypoints=None if keypoints is None else keypoints.cpu().numpy(),
            joints=item.joints,
            keypoint_share=item.keypoint_share,
        )
        return {"file": f"{item.folder.name}/{path.name}"}
