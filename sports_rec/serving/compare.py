"""The compare tab: which model, and where does it fail.

* :func:`metrics_table` - one row per checkpoint: what it takes, its classes, and its run's
  test metrics (``test_metrics.json``), saying when the served file is not the one tested;
  checkpoints that could not be loaded are rows too, with why;
* :func:`per_class_accuracy` - classes by models from each run's ``per_class.csv``, the
  class with the lowest accuracy in any model first;
* :func:`same_input` - every model's answer to one file: an image model's top labels and
  map (``score``: the top label's probability), a clip model's timeline summary (``score``:
  the main exercise's share of the video), or why the model cannot take that file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sports_rec.errors import SportsRecError
from sports_rec.predicting.inputs import is_video_path
from sports_rec.serving.clips import ClipKind, TimelineSettings
from sports_rec.serving.images import ImageItem, ImageKind, readable_image
from sports_rec.serving.models import FailedModel, ServedModel, error_message

#: The test metrics shown (``test_metrics.json`` keys -> column names).
METRICS = {
    "test/acc": "accuracy",
    "test/mean_class_acc": "mean class accuracy",
    "test/f1_macro": "macro F1",
    "test/loss": "loss",
}


def _tested_note(model: ServedModel | FailedModel) -> str:
    run = model.source.run
    if run.folder is None:
        return "no run folder"
    if run.test_metrics is None:
        return "run not tested"
    tested = run.tested_checkpoint
    served = model.source.path
    if tested is None or served is None:
        return ""
    if tested.name != served.name:
        return f"metrics of {tested.name}, serving {served.name}"
    epoch = run.test_metrics.get("epoch")
    return f"epoch {epoch}" if epoch is not None else ""


def metrics_table(
    models: Sequence[ServedModel], failed: Sequence[FailedModel] = ()
) -> pd.DataFrame:
    """One row per checkpoint (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for model in models:
        metrics = model.source.run.test_metrics or {}
        row: dict[str, Any] = {
            "model": model.name,
            "takes": model.modality.name,
            "dataset": model.metadata.dataset,
            "classes": len(model.class_names),
            "checkpoint": str(model.source.path),
            "tested": _tested_note(model),
        }
        for key, column in METRICS.items():
            row[column] = _rounded(metrics.get(key))
        rows.append(row)
    for model in failed:
        rows.append(
            {
                "model": model.name,
                "takes": "not loaded",
                "checkpoint": str(model.source.path or model.source.run.folder),
                "tested": model.message,
            }
        )
    columns = ["model", "takes", "dataset", "classes", *METRICS.values(), "tested", "checkpoint"]
    return pd.DataFrame(rows, columns=columns)


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def per_class_accuracy(models: Sequence[ServedModel]) -> pd.DataFrame:
    """``class`` then one accuracy column per model with a ``per_class.csv`` (empty where
    the class had no test sample), ``lowest``: the worst of them; lowest first."""
    columns: dict[str, pd.Series] = {}
    for model in models:
        table = model.source.run.per_class
        if table is None or not {"class_name", "accuracy"} <= set(table.columns):
            continue
        values = table["accuracy"].astype(float).where(~table.get("no_support", False))
        columns[model.name] = pd.Series(values.to_numpy(), index=table["class_name"].astype(str))
    if not columns:
        return pd.DataFrame(columns=["class", "lowest"])
    frame = pd.DataFrame(columns)
    frame.insert(0, "class", frame.index)
    frame["lowest"] = frame[list(columns)].min(axis=1)
    frame = frame.sort_values(["lowest", "class"], na_position="last").reset_index(drop=True)
    return frame.round(4)


@dataclass
class SameInput:
    """Every model's answer to one file: table rows, and the image models' maps by model
    name."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    maps: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["model", "answer", "score", "details"])


def same_input(
    models: Sequence[ServedModel],
    path: Path,
    folder_for: Callable[[ServedModel], Path],
    *,
    top_k: int,
    method: Callable[[ServedModel], str],
    settings: TimelineSettings,
    alpha: float = 0.5,
) -> SameInput:
    """One row per model for ``path`` (an image or a video, by its name); a model that
    cannot take it says why in its row. ``folder_for`` gives each clip model's output
    folder, ``method`` each image model's attribution method. Raises an
    ``ImageInputError`` for an image no model can read."""
    video = is_video_path(path)
    if not video:
        readable_image(path)
    result = SameInput()
    for model in models:
        row: dict[str, Any] = {"model": model.name, "answer": "", "score": None}
        try:
            if isinstance(model.kind, ImageKind) and not video:
                prediction = model.kind.predict(model, [ImageItem(path, path.name)], top_k)[0]
                if prediction.error:
                    raise SportsRecError(prediction.error)
                label, probability = prediction.top or ("", 0.0)
                row.update(
                    answer=label,
                    score=round(probability, 4),
                    details=", ".join(f"{k} {v:.0%}" for k, v in prediction.entries.items()),
                )
                explained = model.kind.explain(model, prediction, method(model), alpha)
                result.maps[model.name] = explained.overlay
            elif isinstance(model.kind, ClipKind) and video:
                timeline = model.kind.timeline(model, path, folder_for(model), settings)
                label, share = next(iter(timeline.shares().items()), ("", 0.0))
                row.update(
                    answer=label,
                    score=round(share, 4),
                    details=f"{len(timeline.segments)} segment(s): {timeline.summary()}",
                )
            else:
                given = "a video" if video else "an image"
                row["details"] = f"takes {model.takes}s, not {given}"
        except Exception as error:
            row["details"] = error_message(error)
        result.rows.append(row)
    return result
