"""``run_info.json``: what a run was and how it ended, written as the run goes.

The file exists from the first moment of a run (status ``running``) and is rewritten when
it ends (``completed``, ``failed`` with the error, or ``interrupted`` by Ctrl+C / SIGINT
with the checkpoint to resume from), so a crashed or killed run is never
mistaken for a finished one, a failed sweep job's folder says why, and ``report`` reads
size, cost and time without loading checkpoints. Only global rank 0 writes it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from sports_rec.utils.atomic import write_text_atomic
from sports_rec.utils.logging import global_rank

if TYPE_CHECKING:
    import lightning as L

FILE_NAME = "run_info.json"


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


class RunInfo:
    """The run record of one run folder; :meth:`update` rewrites the file atomically."""

    @classmethod
    def for_job(cls, output_dir: Path, cfg: Any, recipe: str | None) -> RunInfo:
        """The record of a training job: its recipe, dataset and net named from ``cfg``."""
        net = OmegaConf.select(cfg, "model.net", default=None) or {}
        name = net.get("name") or str(net.get("_target_", "?")).split(".")[-1]
        dataset = OmegaConf.select(cfg, "data.name", default=None)
        return cls(output_dir, recipe=recipe, dataset=dataset, model=name)

    def __init__(self, output_dir: str | Path, **fields: Any) -> None:
        self.path = Path(output_dir) / FILE_NAME
        self._start = time.monotonic()
        self.interrupted = False  # set when Lightning stopped the run on Ctrl+C / SIGINT
        self.fields: dict[str, Any] = {
            "status": "running",
            "error": None,
            "started": _now(),
            "finished": None,
            "wall_time_s": None,
            **fields,
        }
        self.write()

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)
        self.write()

    def finish(self, status: str, error: BaseException | None = None, **fields: Any) -> None:
        """Record the end of the run: ``completed``, ``failed`` or ``interrupted`` (with the
        error's message)."""
        message = None
        if error is not None:
            text = str(error).strip()
            message = f"{type(error).__name__}: {text}" if text else type(error).__name__
        self.update(
            status=status,
            error=message,
            finished=_now(),
            wall_time_s=round(time.monotonic() - self._start, 3),
            **fields,
        )

    def write(self) -> None:
        if global_rank() != 0:
            return
        write_text_atomic(self.path, json.dumps(self.fields, indent=2, default=str) + "\n")


def read_run_info(run_dir: str | Path) -> dict[str, Any] | None:
    """The run record of ``run_dir``, or None when the run has none (older runs)."""
    path = Path(run_dir) / FILE_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text())


class RunInterrupted(Exception):
    """What ``run_info.json`` records for a run stopped by Ctrl+C / SIGINT."""


def resume_hint(output_dir: Path) -> str:
    last = output_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return f"stopped by SIGINT (Ctrl+C); resume with ckpt_path={last}"
    return "stopped by SIGINT (Ctrl+C) before the first checkpoint"


@contextlib.contextmanager
def interruption_recorded(trainer: L.Trainer, info: RunInfo) -> Iterator[None]:
    """Lightning turns Ctrl+C inside fit/test into ``sys.exit(1)`` after a graceful stop;
    tell that exit from a failure by the trainer's own state, so the run is recorded as
    ``interrupted`` (and ``report`` can say so) rather than ``failed``."""
    try:
        yield
    except SystemExit:
        if trainer.interrupted:
            info.interrupted = True
        raise
