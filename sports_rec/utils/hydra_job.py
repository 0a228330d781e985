"""What Hydra knows about the running job, and keeping DDP ranks on it.

* :func:`recipe_name` / :func:`in_multirun` - the ``experiment=`` of the job; sweep or not.
* :func:`pin_ddp_ranks_to_this_job` / :func:`replay_pinned_job_on_ddp_rank` - Lightning's
  ``ddp`` starts ranks > 0 by re-running the command line, which inside a multirun is the
  whole sweep; the job's own overrides are pinned in the environment instead.
"""

from __future__ import annotations

import json
import os

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig


def recipe_name() -> str | None:
    """The ``experiment=`` recipe of this run, if any."""
    if not HydraConfig.initialized():
        return None
    choice = HydraConfig.get().runtime.choices.get("experiment")
    return None if choice in (None, "null") else str(choice)


DDP_JOB_ENV = "SPORTS_REC_DDP_JOB"
SUBPROCESS_DDP = {"ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false"}


def pin_ddp_ranks_to_this_job(cfg: DictConfig) -> None:
    """Inside a multirun, make Lightning's DDP ranks re-run *this job*, not the sweep.

    Lightning's ``ddp`` starts ranks > 0 by re-running the command line; in a multirun that
    is the whole sweep (``-m`` and every comma list), which starts new sweeps and leaves
    stray folders. The job's own overrides and folder are recorded in the environment the
    ranks inherit; :func:`main` of a rank > 0 replays exactly them.
    """
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    strategy = cfg.trainer.get("strategy")
    if not (isinstance(strategy, str) and strategy in SUBPROCESS_DDP):
        return
    overrides = [*HydraConfig.get().overrides.task, f"hydra.run.dir='{cfg.paths.output_dir}'"]
    os.environ[DDP_JOB_ENV] = json.dumps(overrides)


def replay_pinned_job_on_ddp_rank(argv: list[str]) -> list[str]:
    """On a DDP rank > 0 launched from a multirun job, the job's single-run command line."""
    pinned = os.environ.get(DDP_JOB_ENV)
    if not pinned or int(os.environ.get("LOCAL_RANK", "0")) == 0:
        return argv
    lightning_args = [
        a for a in argv[1:] if a.startswith(("hydra.job.name=", "hydra.output_subdir="))
    ]
    return [argv[0], *json.loads(pinned), *lightning_args]


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
