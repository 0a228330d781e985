"""Per-clip test predictions of a clip model: ``test_predictions.csv``.

Study 004's evaluate script writes a predictions CSV beside its metrics; this is ours, at the
end of every test of a clip model (``train`` after fitting, and ``evaluate``): one row per
test clip scored, in the split's order:

``clip`` (its index in the split, as in ``clips.csv`` order), ``video``, ``start_frame``,
``true``, ``predicted``, ``probability`` (of the predicted class), ``correct``, then
``label_1, prob_1 ... label_3, prob_3`` (the top 3, most likely first, as ``predict`` writes
them). Class names are those of ``per_class.csv``. Another split evaluated in the test stage
(``evaluate split=valid``) writes ``<split>_predictions.csv``. Image datasets (no clips)
are left alone. Under DDP every rank's rows are gathered first; a limited test run
(``trainer.limit_test_batches``) lists the clips it scored.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd

from sports_rec.callbacks.clip_probabilities import ClipProbabilityCollector, tested_clips
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

TOP_K = 3


def prediction_table(
    clips: pd.DataFrame, indices: np.ndarray, probs: np.ndarray, class_names: list[str]
) -> pd.DataFrame:
    """The rows of ``test_predictions.csv`` for the clips ``indices`` of ``clips`` (the test
    dataset's clip table) and their class probabilities ``probs`` [clips, classes]."""
    order = np.argsort(indices, kind="stable")
    indices, probs = indices[order], probs[order]
    rows = clips.reset_index(drop=True).iloc[indices]
    k = min(TOP_K, probs.shape[1])
    ranked = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    names = np.asarray(class_names, dtype=object)
    predicted = ranked[:, 0]
    table = pd.DataFrame(
        {
            "clip": indices,
            "video": rows["path"].to_numpy(),
            "start_frame": rows["start_frame"].astype(int).to_numpy(),
            "true": names[rows["label"].astype(int).to_numpy()],
            "predicted": names[predicted],
            "probability": probs[np.arange(len(probs)), predicted],
            "correct": rows["label"].astype(int).to_numpy() == predicted,
        }
    )
    for rank in range(k):
        table[f"label_{rank + 1}"] = names[ranked[:, rank]]
        table[f"prob_{rank + 1}"] = probs[np.arange(len(probs)), ranked[:, rank]]
    return table


class ClipPredictionWriter(ClipProbabilityCollector):
    """Write ``test_predictions.csv`` for clip models (see the module docstring)."""

    def __init__(self, output_dir: str) -> None:
        super().__init__()
        self.output_dir = Path(output_dir)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        table = tested_clips(trainer)
        if table is None:
            return  # images: nothing to write
        probs = self.gathered(trainer)
        if not probs:
            return
        prefix = getattr(pl_module, "test_prefix", "test")
        indices = np.fromiter(probs, dtype=int, count=len(probs))
        frame = prediction_table(
            table, indices, np.stack([probs[i] for i in indices]), list(pl_module.class_names)
        )
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{prefix}_predictions.csv"
        try:
            frame.to_csv(path, index=False)
        except OSError as error:
            log.warning("Could not write %s (%s: %s)", path, type(error).__name__, error)
            return
        if len(frame) < len(table):
            log.info("%s: %d of %d clips (a limited test run)", path.name, len(frame), len(table))
