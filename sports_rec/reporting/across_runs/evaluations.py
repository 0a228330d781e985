"""Evaluations (``python -m sports_rec.evaluate`` folders) as rows of a report.

An evaluation re-tests a training run's checkpoint, possibly with other test-time data
settings (``data.dataset.skeleton_attention=false``: study 004's evaluate script had no
skeleton attention). ``report evaluations=[DIR,...]`` shows each beside the run it tested:
the training run's config, recipe, curves and size, with the evaluation's test metrics,
``per_class.csv`` and confusion matrix, and a ``tested with`` column naming the data
settings that differ from the checkpoint's (recorded by evaluate as ``data_overrides`` in
``test_metrics.json``). The row is placed right after its training run when that run is
in the report too; its published values are the recipe's, like the run's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sports_rec.reporting.across_runs.labels import TESTED_WITH
from sports_rec.reporting.across_runs.runs import NotARunFolder, Run, load_run

#: ``data_overrides`` keys that say where or how fast data was read, not what was tested.
_INFRASTRUCTURE = frozenset({"root", "num_workers", "batch_size", "eval_batch_size"})


def tested_with(data_overrides: dict[str, Any] | None) -> str:
    """``data.<key>=<value>`` of each override that changes what is tested, or ``as trained``."""
    parts = [
        f"data.{key}={json.dumps(value) if not isinstance(value, str) else value}"
        for key, value in sorted((data_overrides or {}).items())
        if key not in _INFRASTRUCTURE
    ]
    return ", ".join(parts) or "as trained"


def load_evaluation(path: str | Path) -> Run:
    """The row of one evaluation folder (see the module docstring)."""
    folder = Path(path).expanduser()
    metrics_file = folder / "test_metrics.json"
    try:
        record = json.loads(metrics_file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise NotARunFolder(
            f"Evaluation folder '{folder}' has no readable test_metrics.json ({error}); pass "
            "the run folder of python -m sports_rec.evaluate (split=test) in evaluations=[...]."
        ) from error
    ckpt = record.get("ckpt_path")
    run_dir = Path(str(ckpt)).parent.parent if ckpt else None
    if run_dir is None or not (run_dir / ".hydra" / "config.yaml").is_file():
        raise NotARunFolder(
            f"Evaluation '{folder}' tested the checkpoint '{ckpt}', which is not in a training "
            "run folder (<run>/checkpoints/); the report takes the recipe and curves from "
            "that run folder: evaluate a checkpoint inside its run folder."
        )
    trained = load_run(run_dir)
    per_class = None
    if (folder / "per_class.csv").is_file():
        per_class = pd.read_csv(folder / "per_class.csv")
    epoch = record.get("epoch")
    return dataclasses.replace(
        trained,
        path=folder.resolve(),
        overrides={**trained.overrides, TESTED_WITH: tested_with(record.get("data_overrides"))},
        test_metrics=record,
        per_class=per_class,
        status="completed",
        error=None,
        tested_epoch=int(epoch) if isinstance(epoch, int) else trained.tested_epoch,
        name=folder.name,
    )


def with_evaluations(runs: Sequence[Run], paths: Sequence[str | Path]) -> list[Run]:
    """``runs`` with each evaluation's row inserted after the run it tested (else at the
    end)."""
    rows = list(runs)
    for path in paths:
        evaluation = load_evaluation(path)
        trained_dir = Path(str(evaluation.test_metrics["ckpt_path"])).parent.parent.resolve()
        at = len(rows)
        for i, run in enumerate(rows):
            if Path(run.path).resolve() == trained_dir:
                at = i + 1
                while at < len(rows) and TESTED_WITH in rows[at].overrides:
                    at += 1  # after earlier evaluations of the same run
                break
        rows.insert(at, evaluation)
    return rows
