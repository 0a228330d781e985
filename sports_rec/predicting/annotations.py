"""Predicting the samples of an annotation table (a net with several inputs: images and
keypoints), read and prepared by the checkpoint's own reader and dataset class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from sports_rec.data.contract import dataset_class
from sports_rec.models.classifier import Classifier
from sports_rec.models.runners import Runner
from sports_rec.predicting.inputs import PredictInputError, top_k_columns, top_k_entries


def read_input_table(spec: str | Path, data_cfg: dict[str, Any]) -> pd.DataFrame:
    """The samples of ``input`` for a net with several inputs, read with the checkpoint's own
    reader: an annotation file (an InfiniteForm-style COCO JSON: images and keypoints) or a
    folder in the training data's layout."""
    path = Path(str(spec)).expanduser()
    reader = dict(data_cfg["reader"])
    if path.is_file():
        if "annotations" not in reader:
            raise PredictInputError(
                f"input='{path}' is a file, but this checkpoint's data is read from a folder "
                f"({reader['_target_']}): give the folder"
            )
        reader["annotations"], root = str(path), path.parent
    elif path.is_dir():
        root = path
    else:
        raise PredictInputError(
            f"input='{path}' does not exist: this net also takes "
            f"{', '.join(data_cfg.get('inputs', [])) or 'other inputs'}, so give an annotation "
            "file (e.g. an InfiniteForm-style JSON of images and keypoints) or a data folder"
        )
    frame = instantiate(reader)(str(root)).frame
    if frame.empty:
        raise PredictInputError(f"input='{path}' holds no sample")
    return frame


def estimated_photo_table(
    photos: list[Path], data_cfg: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Plain photos as samples of a keypoint net: each photo's keypoints estimated by the
    pose backend (:mod:`sports_rec.pose_estimation.keypoint_cache`; the checkpoint's own
    estimate settings if it was trained on estimated keypoints), in a ``keypoints_from``
    column saying by which backend, or that no person was found (all-zero keypoints, as
    training's ``no_person=zeros``). Returns the table and the dataset config to read it."""
    from sports_rec.pose_estimation.keypoint_cache import estimate_keypoints, zeros_where_missing

    dataset = dict(data_cfg["dataset"])
    stored = dataset.pop("keypoints", None)
    options, found = estimate_keypoints(photos, stored or "estimate", dataset.get("cache_dir"))
    frame = pd.DataFrame(
        {
            "path": [str(p) for p in photos],
            "label": 0,
            "keypoints": zeros_where_missing(found),
            "keypoints_from": [
                f"estimated ({options.backend})"
                if k is not None
                else f"estimated ({options.backend}): no person found, zeros"
                for k in found
            ],
        }
    )
    return frame, {**data_cfg, "dataset": dataset}


def predict_table(
    frame: pd.DataFrame,
    model: Classifier,
    runner: Runner,
    data_cfg: dict[str, Any],
    transform: Callable[[Any], Any],
    top_k: int = 5,
    batch_size: int = 16,
) -> pd.DataFrame:
    """Predict every row of ``frame`` through the checkpoint's dataset class (so each input
    is prepared exactly as in testing); unreadable files get a row with their error."""
    make = instantiate(data_cfg["dataset"])
    skipped = dataset_class(make).check_files(frame)
    usable = frame[~frame["path"].isin(skipped)].reset_index(drop=True)
    k = max(1, min(int(top_k), len(model.class_names)))
    ids = [c for c in ("image_id", "annotation_id", "keypoints_from") if c in frame.columns]
    rows = [
        {"path": record["path"], "error": skipped[record["path"]], **{c: record[c] for c in ids}}
        for record in frame.to_dict("records")
        if record["path"] in skipped
    ]
    if len(usable):
        dataset = make(frame=usable, transform=transform, train=False, checked=True)
        loader = DataLoader(dataset, batch_size=max(1, int(batch_size)))
        for batch in loader:
            logits = runner(*(batch[key] for key in model.input_keys))
            entries = top_k_entries(logits.float().softmax(dim=1), model.class_names, k)
            for index, entry in zip(batch["index"].tolist(), entries, strict=True):
                row = usable.iloc[index]
                rows.append({"path": row["path"], "error": "", **{c: row[c] for c in ids}, **entry})
    order = {p: i for i, p in enumerate(frame["path"])}
    rows.sort(key=lambda r: (order[r["path"]], r.get("annotation_id", 0)))
    return pd.DataFrame(rows, columns=["path", *ids, "error", *top_k_columns(k)])
