"""Re-seed the main process at every training epoch start from ``(seed, epoch, rank)``.

Dropout and stochastic depth draw from the main process's generators. Seeded once at
start-up, their state at epoch ``e`` depends on everything that ran before, so a run
resumed from ``last.ckpt`` would draw different masks than the uninterrupted run. Seeding
per epoch makes every epoch a function of ``(seed, epoch)`` alone; with the per-draw
augmentation seeds of the training sampler, a resumed run reproduces the uninterrupted one.
The rank is mixed in so DDP ranks do not share dropout masks.

The seed is set at the epoch's first training batch rather than in ``on_train_epoch_start``:
Lightning skips that hook for the first epoch after resuming from an end-of-epoch
checkpoint, and data loading before the first batch may draw from the generators too.
"""

from __future__ import annotations

from typing import Any

import lightning as L

from sports_rec.utils.seeding import derive_seed, seed_all

EPOCH_STREAM = 2  # derive_seed key of the per-epoch main-process seeds


class EpochSeeding(L.Callback):
    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            epoch, rank = trainer.current_epoch, trainer.global_rank
            seed_all(derive_seed(self.seed, epoch, rank, EPOCH_STREAM))
