"""Where a run's wall time goes: start-up, training, test and tear-down, in one line.

A user comparing this project with another training script (``benchmarks/versus_timm.py``)
waits for the whole command, not just the epochs. :class:`RunPhases` marks the moments
that split it - the process start (from ``/proc``, so the imports count), the first
training batch, the end of fitting, the start and end of the test - and
:meth:`RunPhases.summary` turns them into seconds:

* ``start-up``: process start -> first training batch (imports, config, the data check
  and image store, the model build and summary, DataLoader workers, the sanity check);
* ``training``: first training batch -> end of the last epoch (with its validation);
* ``test``: the test stage (a replayed validation pass is short);
* ``tear-down``: the rest (figures drawn at the end of fitting, checkpoint reload,
  report files, logger shutdown).

``train`` prints ``start-up 6.1 s · training 241.0 s · test 3.2 s · tear-down 2.3 s`` at
the end of every run and stores the figures as ``phases`` in ``run_info.json``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import lightning as L

#: When this module was imported: the fallback start where ``/proc`` cannot be read.
_IMPORTED = time.time()


def process_start_time() -> float:
    """The process's start as a ``time.time()`` value (Linux ``/proc``), else this module's
    import time (which misses the imports before it)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, counted after the ") " of the name
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED


class RunPhases(L.Callback):
    """Marks the moments that split a run's wall time (module docstring)."""

    def __init__(self) -> None:
        self.started = process_start_time()
        self.first_batch: float | None = None
        self.fit_end: float | None = None
        self.test_start: float | None = None
        self.test_end: float | None = None

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if self.first_batch is None:
            self.first_batch = time.time()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # before on_fit_end, where the training figures are drawn: they are tear-down
        self.fit_end = time.time()

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.test_start = time.time()

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.test_end = time.time()

    def summary(self, end: float | None = None) -> dict[str, float]:
        """Seconds per phase up to ``end`` (default: now); a phase that did not happen (no
        training, no test) is left out, and its time counts where it fell."""
        end = time.time() if end is None else end
        phases: dict[str, float] = {}
        if self.first_batch is not None and self.fit_end is not None:
            phases["start-up"] = self.first_batch - self.started
            phases["training"] = self.fit_end - self.first_batch
        if self.test_start is not None and self.test_end is not None:
            phases["test"] = self.test_end - self.test_start
        phases["tear-down"] = (end - self.started) - sum(phases.values())
        phases["total"] = end - self.started
        return {name: round(seconds, 1) for name, seconds in phases.items()}


def phases_line(phases: dict[str, float]) -> str:
    """``start-up 6.1 s · training 241.0 s · test 3.2 s · tear-down 2.3 s``."""
    return " · ".join(
        f"{name} {seconds:.1f} s" for name, seconds in phases.items() if name != "total"
    )
