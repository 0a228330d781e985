"""Hydra's basic sweeper, with jobs that cannot be composed listed instead of fatal."""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper as HydraBasicSweeper

from sports_rec.utils.sweeps import composable_jobs


class BasicSweeper(HydraBasicSweeper):
    """``-m model=small,doesnotexist,lenet`` runs ``small`` and ``lenet`` and lists the other.

    Hydra composes every job of a batch before launching any and stops the whole sweep at
    the first that fails; this sweeper launches the jobs that compose and records the
    others (overrides and Hydra's message) in the sweep folder, where the sweep summary
    lists them with the failed jobs and ends the sweep with status 1.
    """

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        assert self.config is not None and self.hydra_context is not None
        return composable_jobs(
            super().get_job_batch(), self.hydra_context.config_loader, self.config
        )
