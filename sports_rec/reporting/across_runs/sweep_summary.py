"""The end of a sweep: one table of its jobs, and its failures named (a Hydra callback).

``conf/hydra/default.yaml`` registers :class:`SweepSummary`. When a multirun ends it
prints, whatever happened::

    Sweep multirun/train/2026-12-07_10-00-00_ab12cd: 2 job(s)
    | job | overrides    | status    | test acc | time (s) |
    |-----|--------------|-----------|----------|----------|
    | 0   | model=small  | completed | 0.5833   | 41.2     |
    | 1   | model=lenet  | completed | 0.4167   | 12.9     |

and writes the same table as ``summary.csv`` in the sweep folder. ``overrides`` are the
settings that differ between the jobs (:func:`~sports_rec.reporting.across_runs.labels.
run_labels`, infrastructure keys included: a sweep over ``data.root`` compares roots).

A failing job does not stop a sweep (``sports_rec.train`` records the failure in the job's
``run_info.json`` and returns); below the table this callback lists the failed or
interrupted jobs with their overrides and errors, and the jobs whose config could not be
composed (``rejected_jobs.yaml``, see :mod:`sports_rec.utils.sweeps`), and makes the sweep
exit with status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sports_rec.reporting.across_runs.labels import run_labels
from sports_rec.reporting.across_runs.report_table import (
    HEADLINE,
    WALL_TIME,
    metric_value,
    to_markdown,
)
from sports_rec.reporting.across_runs.runs import NotARunFolder, Run, load_runs
from sports_rec.utils.sweeps import REJECTED_FILE, read_rejected_jobs

SUMMARY_FILE = "summary.csv"
FAILED = ("failed", "interrupted")


def overrides_text(run: Run) -> str:
    """The job's own command-line overrides, as typed (``key=value`` joined by spaces)."""
    return " ".join(f"{k}={v}" for k, v in run.overrides.items())


def summary_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per job: ``job, overrides, status, test acc, time (s)`` (numbers unformatted)."""
    labels = run_labels(runs, ignored=())
    rows = []
    for run, label in zip(runs, labels, strict=True):
        rows.append(
            {
                "job": run.name,
                "overrides": overrides_text(run) if label == run.name else label,
                "status": run.status,
                "test acc": metric_value(run, HEADLINE),
                "time (s)": metric_value(run, WALL_TIME),
            }
        )
    return pd.DataFrame(rows, columns=["job", "overrides", "status", "test acc", "time (s)"])


def format_summary(table: pd.DataFrame) -> str:
    """The summary as a markdown table (4 decimals, 1 for seconds, ``-`` where unknown)."""
    text = table.copy()
    for column, pattern in (("test acc", "{:.4f}"), ("time (s)", "{:.1f}")):
        text[column] = [("-" if pd.isna(v) else pattern.format(v)) for v in table[column]]
    text["overrides"] = text["overrides"].replace("", "-")
    return to_markdown(text.astype(str))


def sweep_runs(sweep_dir: Path) -> list[Run]:
    """The sweep's job folders, loaded (none when every job was rejected)."""
    try:
        return load_runs([sweep_dir])
    except NotARunFolder:
        return []


def failure_lines(runs: Sequence[Run], sweep_dir: Path) -> list[str]:
    """The failed or interrupted jobs, each with its overrides, error and where to look."""
    failures = [run for run in runs if run.status in FAILED]
    if not failures:
        return []
    lines = [f"{len(failures)} of {len(runs)} sweep job(s) failed ({sweep_dir}):"]
    for run in failures:
        lines.append(f"  job {run.name} [{overrides_text(run)}]")
        lines.append(f"    {run.status}: {run.error}")
        lines.append(f"    see {run.path}/run_info.json and its log")
    return lines


def rejected_lines(sweep_dir: Path) -> list[str]:
    """The jobs Hydra never ran because their config could not be composed."""
    rejected = read_rejected_jobs(sweep_dir)
    if not rejected:
        return []
    lines = [
        f"{len(rejected)} sweep job(s) not run: their config cannot be composed "
        f"({sweep_dir / REJECTED_FILE}):"
    ]
    for job in rejected:
        lines.append(f"  [{' '.join(job['overrides'])}]")
        lines.append(f"    {job['error']}")
    return lines


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        runs = sweep_runs(sweep_dir)
        lines = []
        if runs:
            table = summary_table(runs)
            table.to_csv(sweep_dir / SUMMARY_FILE, index=False)
            lines += [f"Sweep {sweep_dir}: {len(runs)} job(s)", format_summary(table), ""]
        problems = failure_lines(runs, sweep_dir) + rejected_lines(sweep_dir)
        print("\n".join(lines + problems).rstrip(), flush=True)
        if problems:
            sys.exit(1)
