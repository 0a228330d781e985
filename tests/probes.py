"""Callbacks the command-line tests plug into real runs (``+callbacks.x._target_=...``).

* :class:`KillAt` kills its own process with SIGKILL at a given batch: a run that dies the
  way a preempted or OOM-killed job does (no exception handling, no cleanup, no last save).
* :class:`InterruptAt` sends its own process SIGINT at a given batch: Ctrl+C in a terminal.
* :class:`RecordDraws` writes, per rank and epoch, the ``(index, label)`` of every training
  sample the rank saw, so a test can check each DDP rank's share of an epoch.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import lightning as L


class KillAt(L.Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = int(epoch), int(batch)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if trainer.current_epoch == self.epoch and i == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


class InterruptAt(KillAt):
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        if trainer.current_epoch == self.epoch and i == self.batch:
            os.kill(os.getpid(), signal.SIGINT)


class RecordDraws(L.Callback):
    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.draws: list[list[int]] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.draws = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        pairs = zip(batch["index"].tolist(), batch["label"].tolist(), strict=True)
        self.draws.extend([index, label] for index, label in pairs)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        name = f"draws_rank{trainer.global_rank}_epoch{trainer.current_epoch}.json"
        (self.output_dir / name).write_text(json.dumps(self.draws))
