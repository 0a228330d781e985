"""Rank-aware logging: under DDP only global rank 0 prints, so messages appear once."""

from __future__ import annotations

import logging
import os
import sys


def global_rank() -> int:
    """This process's global rank (0 outside distributed runs).

    Uses Lightning's view when Lightning is loaded (it also knows spawned ranks), else the
    environment variables every launcher sets. Avoids importing Lightning (~9 s) in light
    tools such as the synthetic data generator.
    """
    utilities = sys.modules.get("lightning.pytorch.utilities.rank_zero")
    if utilities is not None:
        rank = getattr(utilities.rank_zero_only, "rank", None)
        if rank is not None:
            return int(rank)
    for var in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


class _RankZeroAdapter(logging.LoggerAdapter):
    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if global_rank() == 0 and self.isEnabledFor(level):
            msg, kwargs = self.process(msg, kwargs)
            self.logger.log(level, msg, *args, **kwargs)


def get_logger(name: str) -> logging.LoggerAdapter:
    """A logger whose records are emitted on global rank 0 only."""
    return _RankZeroAdapter(logging.getLogger(name), {})
