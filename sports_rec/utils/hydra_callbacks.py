"""Hydra callbacks (``conf/hydra/default.yaml``): the run folder before a run, the sweep after.

* :class:`OutputFolderCheck` - Hydra creates the run (or sweep) folder itself, before any
  task code runs; a path that cannot be created would end in a Python traceback from
  inside Hydra. This callback tries first and, if that fails, says which folder, why, and
  which option chooses another, then exits with status 1.
* :class:`SweepSummary` - a failing job does not stop a sweep (``sports_rec.train`` records
  the failure in the job's ``run_info.json`` and returns); at the end this callback lists
  the failed jobs with their overrides and errors, and the jobs whose config could not be
  composed (``rejected_jobs.yaml``, see :mod:`sports_rec.utils.sweeps`), and makes the sweep
  exit with status 1.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sports_rec.utils.run_info import read_run_info
from sports_rec.utils.sweeps import REJECTED_FILE, read_rejected_jobs


def check_writable_folder(folder: str | Path) -> str | None:
    """Create ``folder`` and write a probe file in it; return why that failed, or None."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    return None


def unwritable_files(folder: str | Path, names: Iterable[str]) -> list[str]:
    """Which of the files ``names`` in ``folder`` exist but cannot be written, and why.

    Each existing file is opened for appending (nothing is changed), which is the real
    test: a folder of that name, a read-only file for a non-root user. A run checks the
    files it will write before training, so a blocked ``test_metrics.json`` is found in a
    second instead of after hours of training.
    """
    problems = []
    for name in names:
        path = Path(folder) / name
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_dir():
            problems.append(f"'{path}' is a folder, where the run writes a file")
            continue
        try:
            path.open("a").close()
        except OSError as error:
            problems.append(
                f"'{path}' cannot be written ({type(error).__name__}: {error.strerror or error})"
            )
    return problems


class OutputFolderCheck(Callback):
    def _check(self, folder: str, option: str) -> None:
        reason = check_writable_folder(folder)
        if reason is not None:
            sys.stderr.write(
                f"Cannot create or write the run folder '{folder}' ({reason}).\n"
                f"Choose another with {option}=DIR, or paths.root_dir=DIR "
                "(logs/ and multirun/ go below it).\n"
            )
            sys.exit(1)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(str(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(str(config.hydra.sweep.dir), "hydra.sweep.dir")


def failed_jobs(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Jobs of a sweep folder whose ``run_info.json`` does not say ``completed``."""
    failures = []
    for job in sorted(Path(sweep_dir).iterdir(), key=lambda p: (len(p.name), p.name)):
        info = read_run_info(job) if job.is_dir() else None
        if info is None or info.get("status") == "completed":
            continue
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        failures.append(
            {
                "job": job.name,
                "folder": str(job),
                "overrides": overrides or [],
                "status": info.get("status"),
                "error": info.get("error"),
            }
        )
    return failures


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        failures = failed_jobs(sweep_dir)
        rejected = read_rejected_jobs(sweep_dir)
        if not failures and not rejected:
            return
        jobs = sum(1 for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())
        lines = []
        if failures:
            lines.append(f"{len(failures)} of {jobs} sweep job(s) failed ({sweep_dir}):")
        for failure in failures:
            lines.append(f"  job {failure['job']} [{' '.join(failure['overrides'])}]")
            lines.append(f"    {failure['status']}: {failure['error']}")
            lines.append(f"    see {failure['folder']}/run_info.json and its log")
        if rejected:
            lines.append(
                f"{len(rejected)} sweep job(s) not run: their config cannot be composed "
                f"({sweep_dir / REJECTED_FILE}):"
            )
        for job in rejected:
            lines.append(f"  [{' '.join(job['overrides'])}]")
            lines.append(f"    {job['error']}")
        print("\n".join(lines), flush=True)
        sys.exit(1)
