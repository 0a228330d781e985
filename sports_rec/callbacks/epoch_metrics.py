"""``metrics.csv``: one row per epoch in the run folder, independent of the loggers.

Loggers (CSV, TensorBoard, W&B) keep their own private formats; reports and plots read this
file instead, so they work whatever logger a run used. The learning rate of the first
parameter group is recorded too, as it was during the epoch's training batches (Lightning
steps epoch schedulers after the last batch, before ``on_train_epoch_end``, so reading it at
epoch end would show the next epoch's rate). At the end of fitting the curves in ``plots/``
are drawn.

A run resumed from a checkpoint writes a new run folder; its ``metrics.csv`` starts with
the earlier epochs copied from the checkpoint's run folder, so the new folder holds the
run's whole history (as its ``checkpoints/`` holds the earlier best checkpoints).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_only

from sports_rec.reporting.per_run.training_figures import plot_run
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)


class EpochMetricsWriter(L.Callback):
    """Append train/val scalars at every epoch end to ``<output_dir>/metrics.csv``.

    With ``plots`` the training figures are drawn into ``<output_dir>/plots/`` when fitting
    ends (:func:`~sports_rec.reporting.per_run.training_figures.plot_run`);
    ``per_class_plots`` adds the per-class figures of ``per_class_accuracy.csv`` (four more
    figures, ~0.5 s a run): which classes a model learns, and when, is the first question
    after the headline accuracy, and a figure that needs a command run by hand is not seen.
    """

    def __init__(self, output_dir: str, plots: bool = True, per_class_plots: bool = False) -> None:
        self.path = Path(output_dir) / "metrics.csv"
        self.plots = plots
        self.per_class_plots = per_class_plots
        self.rows: list[dict[str, float]] = []
        self.earlier: list[dict[str, float]] = []  # epochs of the run this one resumes
        self._batches = 0
        self._epoch_lr: float | None = None

    @rank_zero_only
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.ckpt_path:
            return
        source = Path(trainer.ckpt_path).resolve().parent.parent / "metrics.csv"
        if source.is_file() and source != self.path.resolve():
            self.earlier = pd.read_csv(source).to_dict("records")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches = 0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._batches == 0 and trainer.optimizers:
            self._epoch_lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        self._batches += 1

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Resuming from a checkpoint written at the end of an epoch replays that epoch's end
        # without training; it was recorded by the run that trained it.
        if trainer.sanity_checking or self._batches == 0:
            return
        row: dict[str, float] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        if self._epoch_lr is not None:
            row["lr"] = self._epoch_lr
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(("train/", "val/")) and isinstance(value, torch.Tensor | float):
                row[key] = float(value)
        self.rows.append(row)
        first = self.rows[0]["epoch"]
        history = [r for r in self.earlier if r["epoch"] < first] + self.rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(history).to_csv(self.path, index=False)

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.plots and self.path.is_file()):
            return
        try:
            plot_run(self.path.parent, per_class=self.per_class_plots)
        except Exception as error:  # optional artefact: never lose the run over a plot
            log.warning("Could not draw the training curves (%s: %s)", type(error).__name__, error)
