"""Images with keypoints (``image`` + ``keypoints``, the InfiniteForm fusion nets): predict
the samples of an annotation table, or plain photos whose keypoints the pose backend
estimates; explain with the skeleton drawn over each panel.

Dataset: :class:`sports_rec.data.datasets.KeypointImageDataset`; the reader of the
checkpoint's data (an InfiniteForm-style COCO JSON) reads an annotation table, and
:func:`~sports_rec.predicting.annotations.estimated_photo_table` turns photos into one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sports_rec.data.index import GLOB_CHARS, is_image_file
from sports_rec.modalities.base import PredictJob
from sports_rec.modalities.image import ImageModality, predictions_file, refuse_videos
from sports_rec.predicting.annotations import (
    estimated_photo_table,
    predict_table,
    read_input_table,
)
from sports_rec.predicting.inputs import find_inputs, write_predictions


def given_photos(spec: str, data_cfg: dict[str, Any]) -> bool:
    """Whether ``input`` names plain photos (keypoints to estimate) rather than an
    annotation table: always for a net trained on estimated keypoints; otherwise an image
    file, a glob, or a folder holding no ``.json`` annotation file."""
    if data_cfg["dataset"].get("keypoints"):
        return True
    path = Path(str(spec)).expanduser()
    if path.is_file():
        return is_image_file(path)
    if path.is_dir():
        return not any(path.rglob("*.json"))
    return bool(GLOB_CHARS & set(str(spec)))


class KeypointImageModality(ImageModality):
    name = "image + keypoints"

    def serves(self, input_keys: Sequence[str]) -> bool:
        return "image" in input_keys and len(input_keys) > 1

    def predict(self, job: PredictJob) -> dict[str, Any]:
        refuse_videos(job)
        data_cfg = {**job.metadata.data, "inputs": list(job.model.input_keys)}
        if given_photos(job.cfg.input, data_cfg):
            photos = find_inputs(job.cfg.input).images
            frame, data_cfg = estimated_photo_table(photos, data_cfg)
        else:
            frame = read_input_table(job.cfg.input, data_cfg)
        table = predict_table(
            frame,
            job.model,
            job.runner,
            data_cfg,
            job.transform,
            top_k=job.cfg.top_k,
            batch_size=job.cfg.batch_size,
        )
        return write_predictions(table, predictions_file(job), job.source)
