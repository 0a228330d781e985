"""Learning-rate schedules not available as a single torch class."""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from sports_rec.errors import ConfigError


class WarmupCosine(LambdaLR):
    """Linear warm-up for ``warmup_epochs``, then cosine decay to ``min_lr_ratio * lr`` at
    ``max_epochs``; constant at the minimum beyond it. Stepped once per epoch.

    The factor is a pure function of the epoch, and the horizon is *not* part of the saved
    state: resuming with a larger ``trainer.max_epochs`` follows the new horizon (the run
    continues as if it had been planned that long) instead of restoring the old one, past
    whose end a restored ``CosineAnnealingLR`` would climb back up. ``warmup_epochs=0`` gives
    a plain cosine schedule.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_epochs: int,
        warmup_epochs: int = 1,
        warmup_start_factor: float = 0.1,
        min_lr_ratio: float = 0.01,
    ) -> None:
        if max_epochs < 1 or warmup_epochs < 0:
            raise ConfigError(
                f"scheduler needs max_epochs >= 1 and warmup_epochs >= 0, got {max_epochs} "
                f"and {warmup_epochs}"
            )
        self.max_epochs = int(max_epochs)
        self.warmup_epochs = int(warmup_epochs)
        self.warmup_start_factor = float(warmup_start_factor)
        self.min_lr_ratio = float(min_lr_ratio)
        super().__init__(optimizer, lr_lambda=self.factor)

    def factor(self, epoch: int) -> float:
        """Multiplier of the base learning rate during ``epoch`` (0-based)."""
        if epoch < self.warmup_epochs:
            progress = epoch / self.warmup_epochs
            return self.warmup_start_factor + (1 - self.warmup_start_factor) * progress
        decay_epochs = max(1, self.max_epochs - self.warmup_epochs)
        progress = min(1.0, (epoch - self.warmup_epochs) / decay_epochs)
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (
            1 + math.cos(math.pi * progress)
        )

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.pop("max_epochs", None)  # the horizon is the current run's, never the saved one
        state["lr_lambdas"] = [None] * len(self.lr_lambdas)  # a bound method: nothing to save
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the epoch counter, then apply this run's horizon to it right away."""
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "max_epochs"})
        factor = self.factor(self.last_epoch)
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base_lr * factor
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def warmup_cosine(
    optimizer: Optimizer,
    max_epochs: int,
    warmup_epochs: int = 1,
    warmup_start_factor: float = 0.1,
    min_lr_ratio: float = 0.01,
) -> WarmupCosine:
    """The ``conf/scheduler/cosine.yaml`` factory (kept for configs and old checkpoints)."""
    return WarmupCosine(optimizer, max_epochs, warmup_epochs, warmup_start_factor, min_lr_ratio)
