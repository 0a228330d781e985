"""Learning-rate schedules not available as a single torch class."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR


def warmup_cosine(
    optimizer: Optimizer,
    max_epochs: int,
    warmup_epochs: int = 1,
    warmup_start_factor: float = 0.1,
    min_lr_ratio: float = 0.01,
) -> LRScheduler:
    """Linear warm-up for ``warmup_epochs`` then cosine decay to ``min_lr_ratio * lr``.

    Stepped once per epoch. ``warmup_epochs=0`` gives a plain cosine schedule.
    """
    base_lr = optimizer.param_groups[0]["lr"]
    decay_epochs = max(1, max_epochs - warmup_epochs)
    cosine = CosineAnnealingLR(optimizer, T_max=decay_epochs, eta_min=base_lr * min_lr_ratio)
    if warmup_epochs <= 0:
        return cosine
    warmup = LinearLR(optimizer, start_factor=warmup_start_factor, total_iters=warmup_epochs)
    return SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_epochs])
