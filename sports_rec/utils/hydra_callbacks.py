"""Hydra callback checking the run folder before a run (``conf/hydra/default.yaml``), and
the folder checks a run repeats for the files it writes.

* :class:`OutputFolderCheck` - Hydra creates the run (or sweep) folder itself, before any
  task code runs; a path that cannot be created would end in a Python traceback from
  inside Hydra. This callback tries first and, if that fails, says which folder, why, and
  which option chooses another, then exits with status 1.

The sweep's end is summarised by
:class:`sports_rec.reporting.across_runs.sweep_summary.SweepSummary`, a report of its jobs.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


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
