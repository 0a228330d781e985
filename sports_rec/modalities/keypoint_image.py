"""Images with keypoints (``image`` + ``keypoints``, the InfiniteForm fusion nets): predict
the samples of an annotation table; explain with the skeleton drawn over each panel.

Dataset: :class:`sports_rec.data.datasets.KeypointImageDataset`; the reader of the
checkpoint's data (an InfiniteForm-style COCO JSON) reads what ``predict`` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sports_rec.modalities.base import PredictJob
from sports_rec.modalities.image import ImageModality, predictions_file, refuse_videos
from sports_rec.predicting.annotations import predict_table, read_input_table
from sports_rec.predicting.inputs import write_predictions


class KeypointImageModality(ImageModality):
    name = "image + keypoints"

    def serves(self, input_keys: Sequence[str]) -> bool:
        return "image" in input_keys and len(input_keys) > 1

    def predict(self, job: PredictJob) -> dict[str, Any]:
        refuse_videos(job)
        data_cfg = {**job.metadata.data, "inputs": list(job.model.input_keys)}
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
