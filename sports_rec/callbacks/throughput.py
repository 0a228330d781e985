"""Examples per second, per epoch, for training and evaluation (the workout study reports
them). Logged as ``train/samples_per_sec``, ``val/samples_per_sec`` and
``test/samples_per_sec``, summed over DDP ranks.

Training time runs from the epoch start to the last training batch, so data loading counts
but the validation pass inside the epoch does not. Lightning's ``ThroughputMonitor`` reports
windowed per-step rates to the loggers; this callback gives the single per-epoch figure the
study tables need and writes it where ``metrics.csv`` and ``test_metrics.json`` pick it up.
A test that replays the last validation pass (:mod:`sports_rec.callbacks.validation_replay`)
runs no forward pass: its rate is that validation pass's (the same samples and weights).
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L

from sports_rec.callbacks.log_progress import batch_size_of
from sports_rec.callbacks.validation_replay import is_replay


class EpochThroughput(L.Callback):
    def __init__(self) -> None:
        self._start: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._val_rate: float | None = None  # the last validation pass's

    def _begin(self, stage: str) -> None:
        self._start[stage] = self._last[stage] = time.perf_counter()
        self._count[stage] = 0

    def _batch(self, stage: str, batch: Any) -> None:
        if stage in self._count:
            self._count[stage] += batch_size_of(batch)
            self._last[stage] = time.perf_counter()

    def _rate(self, stage: str) -> float | None:
        elapsed = self._last.get(stage, 0.0) - self._start.get(stage, 0.0)
        return self._count[stage] / elapsed if self._count.get(stage) and elapsed > 0 else None

    def _log(self, name: str, pl_module: L.LightningModule, rate: float | None) -> None:
        if rate is not None:
            pl_module.log(
                f"{name}/samples_per_sec",
                rate,
                on_step=False,
                on_epoch=True,
                sync_dist=True,
                reduce_fx="sum",
            )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin("train")

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._batch("train", batch)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log("train", pl_module, self._rate("train"))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._begin("val")

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            self._batch("val", batch)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_rate = self._rate("val")
            self._log("val", pl_module, self._val_rate)

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._begin("test")

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._batch("test", batch)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rate = self._val_rate if is_replay(trainer) else self._rate("test")
        self._log(getattr(pl_module, "test_prefix", "test"), pl_module, rate)
