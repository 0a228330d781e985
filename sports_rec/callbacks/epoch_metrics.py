"""``metrics.csv``: one row per epoch in the run folder, independent of the loggers.

Loggers (CSV, TensorBoard, W&B) keep their own private formats; reports and plots read this
file instead, so they work whatever logger a run used. The learning rate of the first
parameter group is recorded too. At the end of fitting the curves in ``plots/`` are drawn.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_only

from sports_rec.reporting.plots import plot_curves


class EpochMetricsWriter(L.Callback):
    """Append train/val scalars at every epoch end to ``<output_dir>/metrics.csv``."""

    def __init__(self, output_dir: str, plots: bool = True) -> None:
        self.path = Path(output_dir) / "metrics.csv"
        self.plots = plots
        self.rows: list[dict[str, float]] = []
        self._batches = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        self._batches += 1

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Resuming from a checkpoint written at the end of an epoch replays that epoch's end
        # without training; it was recorded by the run that trained it.
        if trainer.sanity_checking or self._batches == 0:
            return
        row: dict[str, float] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        if trainer.optimizers:
            row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(("train/", "val/")) and isinstance(value, torch.Tensor | float):
                row[key] = float(value)
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(self.rows).to_csv(self.path, index=False)

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.plots and self.path.is_file():
            plot_curves(self.path, self.path.parent / "plots")
