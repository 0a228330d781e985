"""The class probabilities of every test clip a clip model scored, gathered over DDP ranks.

Two callbacks read them at the end of a test: the per-clip predictions
(:mod:`sports_rec.callbacks.clip_predictions`) and the multi-clip segment evaluation
(:mod:`sports_rec.callbacks.multi_clip`). :class:`ClipProbabilityCollector` is what they
share: it keeps ``{clip index: probabilities}`` batch by batch and gathers every rank's
share once the test ends.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch.distributed as dist

CLIP_COLUMNS = {"path", "start_frame", "label"}


def tested_clips(trainer: L.Trainer) -> pd.DataFrame | None:
    """The clip table of the test split (None for datasets without clips: images)."""
    table = getattr(getattr(trainer.test_dataloaders, "dataset", None), "clips", None)
    return table if table is not None and set(table.columns) >= CLIP_COLUMNS else None


class ClipProbabilityCollector(L.Callback):
    """Collects each test clip's class probabilities (see the module docstring)."""

    def __init__(self) -> None:
        self.probs: dict[int, np.ndarray] = {}

    def collecting(self, trainer: L.Trainer) -> bool:
        """Whether to keep this test's probabilities (subclasses narrow it)."""
        return tested_clips(trainer) is not None

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.probs = {}

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not isinstance(outputs, dict) or "probs" not in outputs:
            return
        if not self.collecting(trainer):
            return
        probs = outputs["probs"].float().cpu().numpy()
        for index, row in zip(outputs["index"].tolist(), probs, strict=True):
            self.probs[int(index)] = row

    def gathered(self, trainer: L.Trainer) -> dict[int, np.ndarray] | None:
        """Every rank's probabilities on global rank 0 (a collective: every rank calls it);
        None on the other ranks."""
        parts: list[Any] = [self.probs]
        if dist.is_available() and dist.is_initialized():
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, self.probs)
        if not trainer.is_global_zero:
            return None
        probs: dict[int, np.ndarray] = {}
        for part in parts:
            probs.update(part or {})
        return probs
