"""``per_class_accuracy.csv``: every class's training and validation accuracy at every epoch.

Study 004 tracks how each class learns (its per-class heatmap over epochs, "learning
stability across all classes"); a final per-class table cannot show a class that was
learned and then forgotten. The classifier accumulates a confusion matrix per epoch for the
training and validation batches (``epoch_confusion``); this callback turns them into rows
``epoch, split, class_id, class_name, accuracy, support`` (long format: one row per class,
whatever the class count) and, optionally, logs the validation values to the loggers as
``val_per_class/<class name>`` (TensorBoard's per-class curves). Training accuracy is
measured on the augmented, sampler-drawn batches in train mode, as the study's was.

Computing a confusion matrix gathers it from every DDP rank, so every rank computes and
only rank 0 writes. Gathers must happen in the same order on every rank, and the progress bar
(enabled on rank 0 only) computes, and so gathers, the epoch's logged metrics early in its own
``on_train_epoch_end``; :func:`align_logged_metric_gathers` makes the other ranks do the same
before this callback's own gather. A resumed run copies the earlier epochs from the run it
resumes, as ``metrics.csv`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch

from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

FILE_NAME = "per_class_accuracy.csv"
COLUMNS = ["epoch", "split", "class_id", "class_name", "accuracy", "support"]


def per_class_rows(
    confusion: torch.Tensor, class_names: list[str], epoch: int, split: str
) -> list[dict[str, Any]]:
    """Rows of one epoch and split from a confusion matrix (rows = true class).

    A class without a sample that epoch gets accuracy NaN (not 0: it was not wrong)."""
    cm = confusion.detach().cpu().double().numpy()
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(support > 0, np.diag(cm) / support, np.nan)
    return [
        {
            "epoch": epoch,
            "split": split,
            "class_id": i,
            "class_name": name,
            "accuracy": float(accuracy[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]


def align_logged_metric_gathers(trainer: L.Trainer) -> None:
    """Compute the epoch's logged metrics now on every DDP rank (a no-op in one process).

    Lightning caches the computed values, so rank 0, whose progress bar has already computed
    them, gathers nothing here while the other ranks gather what rank 0 did; without it rank 1
    would pair its confusion-matrix gather with rank 0's metric gathers (a gloo size mismatch).
    """
    if trainer.world_size > 1:
        _ = trainer.progress_bar_metrics


class PerClassAccuracyWriter(L.Callback):
    """Write ``<output_dir>/per_class_accuracy.csv`` after every training epoch."""

    def __init__(self, output_dir: str, log_to_loggers: bool = True) -> None:
        self.path = Path(output_dir) / FILE_NAME
        self.log_to_loggers = log_to_loggers
        self.rows: list[dict[str, Any]] = []
        self.earlier: list[dict[str, Any]] = []
        self._val: list[dict[str, Any]] = []

    @staticmethod
    def _confusion(pl_module: L.LightningModule, stage: str) -> Any:
        metrics = getattr(pl_module, "epoch_confusion", None)
        return metrics[f"{stage}_"] if metrics is not None and f"{stage}_" in metrics else None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.ckpt_path and trainer.is_global_zero:
            source = Path(trainer.ckpt_path).resolve().parent.parent / FILE_NAME
            if source.is_file() and source != self.path.resolve():
                self.earlier = pd.read_csv(source).to_dict("records")
        for stage in ("train", "val"):
            metric = self._confusion(pl_module, stage)
            if metric is not None:
                metric.reset()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metric = self._confusion(pl_module, "val")
        if metric is None:
            return
        if trainer.sanity_checking:
            metric.reset()
            return
        # Every rank gathers, even one whose unpadded validation shard was empty.
        align_logged_metric_gathers(trainer)
        names = list(pl_module.class_names)
        confusion = metric.compute()
        metric.reset()
        if not int(confusion.sum()):
            return
        self._val = per_class_rows(confusion, names, trainer.current_epoch, "val")
        if self.log_to_loggers and not trainer.fast_dev_run:
            values = {
                f"val_per_class/{row['class_name']}": row["accuracy"]
                for row in self._val
                if row["support"]
            }
            pl_module.log_dict(values, on_step=False, on_epoch=True, sync_dist=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metric = self._confusion(pl_module, "train")
        if metric is None or not metric.update_called:
            return  # resumed at an epoch's end: that epoch was recorded by its own run
        align_logged_metric_gathers(trainer)
        names = list(pl_module.class_names)
        rows = per_class_rows(metric.compute(), names, trainer.current_epoch, "train")
        metric.reset()
        val, self._val = self._val, []
        if not trainer.is_global_zero:
            return
        self.rows += rows + val
        first = self.rows[0]["epoch"]
        history = [r for r in self.earlier if r["epoch"] < first] + self.rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(history, columns=COLUMNS).to_csv(self.path, index=False)
