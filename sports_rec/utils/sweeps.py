"""What sports_rec's sweepers (``hydra_plugins/sports_rec_sweepers``) add to Hydra's.

A sweep is many runs: one bad job must cost that job, never the sweep or its record.

* :func:`composable_jobs` - of a batch of jobs, those whose config composes; the others
  are appended to ``rejected_jobs.yaml`` in the sweep folder with Hydra's reason.
* :func:`record_study_without_result` - an Optuna study in which no trial completed
  writes an ``optimization_results.yaml`` saying so.
* :func:`warn_fixed_searched_keys` - a fixed override of a key the search space covers.
* :func:`sweep_job_value` - one job of a sweep: its failure is recorded, not raised.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from sports_rec.utils.config_checks import optimized_value
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import unwrap_user_error

log = get_logger(__name__)

REJECTED_FILE = "rejected_jobs.yaml"
RESULTS_FILE = "optimization_results.yaml"


def composable_jobs(
    batch: Sequence[Sequence[str]], config_loader: Any, config: DictConfig
) -> list[Sequence[str]]:
    """The jobs of ``batch`` whose config composes; the rest go to ``rejected_jobs.yaml``."""
    legal: list[Sequence[str]] = []
    rejected: list[dict[str, Any]] = []
    for overrides in batch:
        try:
            config_loader.load_sweep_config(master_config=config, sweep_overrides=list(overrides))
        except Exception as error:  # Hydra's composition errors have no common base class
            # Hydra's message ends with its config search path: noise for the user
            reason = " ".join(str(error).split("Config search path:")[0].split())
            rejected.append({"overrides": list(overrides), "error": reason})
            log.error("Sweep job [%s] cannot be composed, skipped: %s", " ".join(overrides), reason)
        else:
            legal.append(overrides)
    if rejected:
        path = Path(str(config.hydra.sweep.dir)) / REJECTED_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        earlier = read_rejected_jobs(path.parent)
        path.write_text(yaml.safe_dump([*earlier, *rejected], sort_keys=False))
    return legal


def read_rejected_jobs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """The jobs a sweep could not compose (``rejected_jobs.yaml``), oldest first."""
    path = Path(sweep_dir) / REJECTED_FILE
    return list(yaml.safe_load(path.read_text()) or []) if path.is_file() else []


def record_study_without_result(sweep_dir: str | Path, n_trials: int) -> Path:
    """``optimization_results.yaml`` of an Optuna study in which no trial completed."""
    path = Path(str(sweep_dir)) / RESULTS_FILE
    record = {
        "name": "optuna",
        "best_params": None,
        "best_value": None,
        "completed_trials": 0,
        "trials": int(n_trials),
        "message": "no trial completed: every trial failed (the sweep summary lists why)",
    }
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    log.error("No trial of the Optuna study completed; %s says so", path)
    return path


def fixed_searched_keys(params: Mapping[str, Any] | None, arguments: Iterable[str]) -> list[str]:
    """Command-line overrides that fix a value of a key the search space ``params`` covers."""
    searched = {str(k) for k in (params or {})}
    if not searched:
        return []
    parser = OverridesParser.create()
    fixed = []
    for override in parser.parse_overrides(list(arguments)):
        if override.get_key_element() in searched and not override.is_sweep_override():
            fixed.append(override.input_line)
    return fixed


def warn_fixed_searched_keys(params: DictConfig | Mapping | None, arguments: Iterable[str]) -> None:
    """Warn for each fixed override of a searched key: it wins, and the key is not searched."""
    if isinstance(params, DictConfig):
        params = OmegaConf.to_container(params)
    for line in fixed_searched_keys(params, arguments):
        key = line.split("=", 1)[0].lstrip("+~")
        log.warning(
            "%s fixes a value that hparams_search searches (%s): the fixed value is used in "
            "every trial and %s is not searched. Drop the override to search it, or give a "
            "search expression such as %s=choice(a,b).",
            line,
            (params or {}).get(key),
            key,
            key,
        )


def sweep_job_value(
    task: Callable[[DictConfig], dict[str, float]], cfg: DictConfig
) -> float | None:
    """Run one job of a sweep and return its ``optimized_metric`` (None when it failed).

    One job's failure must not end the sweep: it is recorded in the job's ``run_info.json``
    (and log), the sweep goes on and ends with a summary and status 1
    (:class:`sports_rec.reporting.across_runs.sweep_summary.SweepSummary`). A failed job
    returns None, which the Optuna sweeper records as a failed trial before going on (a NaN
    would end the study: Optuna 2.x refuses to be told NaN).
    """
    try:
        metrics = task(cfg)
    except Exception as error:
        if unwrap_user_error(error) is None:
            log.exception("Job failed")
        return None
    value = optimized_value(metrics, cfg.get("optimized_metric"))
    if value is not None and math.isnan(value):
        log.warning(
            "%s is NaN: the sweeper records this trial as failed", cfg.get("optimized_metric")
        )
        return None
    return value
