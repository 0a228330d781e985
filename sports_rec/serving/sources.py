"""Which checkpoints the app serves, and what their run folders say about them.

``ckpt_path=A.ckpt``, ``ckpt_paths=[A.ckpt,B.ckpt]`` and ``run_dirs=[RUN_OR_SWEEP,...]`` may
be combined; a run or sweep folder is searched as ``report`` searches it
(:func:`~sports_rec.reporting.across_runs.runs.load_runs`: every training run below it) and
gives each run's *tested* checkpoint: the one ``run_info.json`` / ``test_metrics.json``
record, taken from the run's own ``checkpoints/`` (so a copied or moved run folder serves its
own file), else ``checkpoints/last.ckpt``. A run without any checkpoint is listed with why,
not dropped.

A checkpoint inside a run folder (``<run>/checkpoints/*.ckpt``) brings that run's
``test_metrics.json`` and ``per_class.csv`` (:mod:`sports_rec.reporting.per_run.artefacts`)
to the compare tab. Models are named by what differs between their runs (``model=vit``,
as reports name them), else by their run folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sports_rec.errors import ConfigError
from sports_rec.reporting.across_runs.runs import Run, load_run, load_runs
from sports_rec.utils.run_info import read_run_info


@dataclass
class RunRecord:
    """What a checkpoint's run folder holds for the compare tab (all None without one)."""

    folder: Path | None = None
    test_metrics: dict[str, Any] | None = None
    per_class: pd.DataFrame | None = None
    info: dict[str, Any] | None = None

    @property
    def tested_checkpoint(self) -> Path | None:
        """The checkpoint the run's test metrics belong to, as recorded."""
        recorded = (self.info or {}).get("tested_ckpt") or (self.test_metrics or {}).get(
            "ckpt_path"
        )
        return Path(str(recorded)) if recorded else None


@dataclass
class CheckpointSource:
    """One checkpoint to serve: its file (None with ``problem``: why there is none), its run
    folder's record and the name the page gives it."""

    path: Path | None
    run: RunRecord = field(default_factory=RunRecord)
    name: str = ""
    problem: str | None = None


def _listed(value: Any) -> list[str]:
    """A config value given as one string or a list, as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str | Path):
        return [str(value)] if str(value) else []
    return [str(v) for v in value]


def run_folder_of(ckpt: Path) -> Path | None:
    """The run folder of ``<run>/checkpoints/<file>.ckpt`` (None for a checkpoint elsewhere)."""
    folder = ckpt.expanduser().resolve().parent
    if folder.name != "checkpoints":
        return None
    run = folder.parent
    marks = ("run_info.json", "test_metrics.json", ".hydra/config.yaml")
    return run if any((run / mark).exists() for mark in marks) else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


def run_record(folder: Path | None) -> tuple[RunRecord, Run | None]:
    """The record of a run folder; with the report's :class:`Run` when it is a Hydra run
    folder (named by what differs from the other runs)."""
    if folder is None:
        return RunRecord(), None
    if (folder / ".hydra" / "config.yaml").is_file():
        try:
            run = load_run(folder)
        except Exception:  # a damaged config: the files below still count
            run = None
        if run is not None:
            return RunRecord(folder, run.test_metrics, run.per_class, run.info), run
    return (
        RunRecord(
            folder,
            _read_json(folder / "test_metrics.json"),
            _read_csv(folder / "per_class.csv"),
            read_run_info(folder) if (folder / "run_info.json").is_file() else None,
        ),
        None,
    )


def tested_checkpoint(run: RunRecord) -> tuple[Path | None, str | None]:
    """The run's tested checkpoint (or ``last.ckpt``), or None and why there is none."""
    assert run.folder is not None
    own = run.folder / "checkpoints"
    recorded = run.tested_checkpoint
    candidates = [own / recorded.name, recorded] if recorded else []  # its own copy first
    candidates.append(own / "last.ckpt")
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate, None
    status = (run.info or {}).get("status")
    error = (run.info or {}).get("error")
    why = f" (the run {status}{': ' + str(error) if error else ''})" if status else ""
    return None, f"run folder '{run.folder}' holds no checkpoint in checkpoints/{why}"


def checkpoint_sources(
    ckpt_path: str | None = None,
    ckpt_paths: Sequence[str] | str | None = None,
    run_dirs: Sequence[str] | str | None = None,
) -> list[CheckpointSource]:
    """Every checkpoint named by the three keys (see the module docstring), in the order
    given, each once; raises ``ConfigError`` when none is named."""
    files = _listed(ckpt_path) + _listed(ckpt_paths)
    folders = _listed(run_dirs)
    if not files and not folders:
        raise ConfigError(
            "name the checkpoints to serve: python -m sports_rec.app ckpt_path=<run>/checkpoints"
            "/last.ckpt, ckpt_paths=[A.ckpt,B.ckpt] or run_dirs=[<run or sweep folder>] (each "
            "run's tested checkpoint)"
        )
    sources: list[CheckpointSource] = []
    runs: list[Run | None] = []
    for given in files:
        path = Path(given).expanduser()
        record, run = run_record(run_folder_of(path) if path.is_file() else None)
        sources.append(CheckpointSource(path, record))
        runs.append(run)
    if folders:
        for run in load_runs(folders):
            record = RunRecord(run.path, run.test_metrics, run.per_class, run.info)
            path, problem = tested_checkpoint(record)
            sources.append(CheckpointSource(path, record, problem=problem))
            runs.append(run)
    unique: dict[Any, int] = {}
    kept: list[int] = []
    for index, source in enumerate(sources):
        key = source.path.resolve() if source.path is not None else ("run", source.run.folder)
        if key not in unique:
            unique[key] = index
            kept.append(index)
    sources = [sources[i] for i in kept]
    names = model_names(sources, [runs[i] for i in kept])
    for source, name in zip(sources, names, strict=True):
        source.name = name
    return sources


def model_names(sources: Sequence[CheckpointSource], runs: Sequence[Run | None]) -> list[str]:
    """What the page calls each checkpoint: with several training runs, its run's label (the
    settings that differ between them, as reports name runs); else its run folder's name,
    else its file name; ``/<file stem>`` where one run gives several checkpoints; made
    unique."""
    from sports_rec.reporting.across_runs.labels import label_runs

    folders = [source.run.folder for source in sources]
    distinct: dict[Path, Run] = {}
    for run in runs:
        if run is not None:
            distinct.setdefault(run.path, run)
    if len(distinct) > 1:
        label_runs(list(distinct.values()))
    bases = []
    for source, run, folder in zip(sources, runs, folders, strict=True):
        if run is not None and len(distinct) > 1:
            bases.append(distinct[run.path].label or run.path.name)
        elif folder is not None:
            bases.append(folder.name)
        else:
            bases.append(source.path.name if source.path is not None else "?")
    names = []
    for source, folder, base in zip(sources, folders, bases, strict=True):
        several = folder is not None and folders.count(folder) > 1
        names.append(f"{base}/{source.path.stem}" if several and source.path else base)
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique
