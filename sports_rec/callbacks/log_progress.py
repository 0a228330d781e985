"""Plain progress lines where there is no terminal: a SLURM log, ``nohup``, CI, ``| tee``.

Rich's progress bar draws only on a terminal; redirected, a run said nothing between its
start-up and the first epoch summary, minutes later on a real dataset. When stdout is not a
terminal (``enabled: auto``), this callback logs one line at a steady pace - every
``every_fraction`` of an epoch's training batches or every ``every_s`` seconds, whichever
comes first - with the epoch, batches done of the total, samples per second, the epoch's
elapsed time and ETA, and the whole run's ETA; and, once, after the run's first
``estimate_after`` training batches, an estimate of the whole run's time. Lines go through
the project's logger, so they also land in the run folder's log file.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L

from sports_rec.utils.logging import get_logger

log = get_logger(__name__)


def clock(seconds: float) -> str:
    """``h:mm:ss`` (``mm:ss`` under an hour)."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def batch_size_of(batch: Any) -> int:
    """Samples in a batch: the length of its ``label`` (dict batches) or first tensor."""
    if isinstance(batch, dict):
        batch = batch.get("label", next(iter(batch.values()), None))
    elif isinstance(batch, list | tuple) and batch:
        batch = batch[0]
    return len(batch) if hasattr(batch, "__len__") else 0


class LogProgress(L.Callback):
    """Progress lines for logs (see the module docstring).

    Args:
        enabled: ``auto`` (only when stdout is not a terminal), ``true`` or ``false``.
        every_fraction: a line after each such share of an epoch's training batches.
        every_s: ... or after this many seconds, whichever comes first.
        estimate_after: training batches after which the whole run's time is estimated once.
    """

    def __init__(
        self,
        enabled: bool | str = "auto",
        every_fraction: float = 0.1,
        every_s: float = 30.0,
        estimate_after: int = 20,
    ) -> None:
        if enabled == "auto":
            enabled = not sys.stdout.isatty()
        self.enabled = bool(enabled)
        self.every_fraction = float(every_fraction)
        self.every_s = float(every_s)
        self.estimate_after = int(estimate_after)
        self._run_batches = 0
        self._estimated = False

    def _active(self, trainer: L.Trainer) -> bool:
        return self.enabled and trainer.is_global_zero and not trainer.sanity_checking

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = self._last_line = time.monotonic()
        self._samples = 0
        total = trainer.num_training_batches
        self._total = int(total) if total != float("inf") else 0
        self._step = max(1, int(self._total * self.every_fraction)) if self._total else 0

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self._active(trainer):
            return
        self._samples += batch_size_of(batch)
        self._run_batches += 1
        done = batch_idx + 1
        now = time.monotonic()
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        if not self._estimated and self._run_batches >= self.estimate_after and self._total:
            self._estimated = True
            per_batch = (now - self._epoch_start) / done
            log.info(
                "Estimate after %d batches: ~%s per epoch of training, ~%s for %d epoch(s) "
                "(validation and testing not included)",
                self._run_batches,
                clock(per_batch * self._total),
                clock(per_batch * self._total * epochs),
                epochs,
            )
        by_count = self._step and done % self._step == 0
        if not (by_count or now - self._last_line >= self.every_s or done == self._total):
            return
        self._last_line = now
        elapsed = now - self._epoch_start
        per_batch = elapsed / done
        left = per_batch * max(0, self._total - done)
        run_left = left + per_batch * self._total * max(0, epochs - trainer.current_epoch - 1)
        log.info(
            "epoch %d/%d  batch %d/%s  %.1f samples/s  epoch %s elapsed, ETA %s  run ETA %s",
            trainer.current_epoch + 1,
            epochs,
            done,
            self._total or "?",
            self._samples / elapsed if elapsed > 0 else 0.0,
            clock(elapsed),
            clock(left),
            clock(run_left),
        )
