"""Find run folders under the paths a user gives and load what each one holds.

A run folder is any folder holding ``.hydra/config.yaml``: a single run
(``logs/train/runs/<run>/``), a sweep job (``multirun/train/<sweep>/<N>/``) or a run copied
anywhere else. Sweep folders and whole trees are searched recursively, without descending
into a run folder once found. Folders of other tasks (a report's own run folder, predict,
export) are skipped, so ``runs=[logs]`` collects the training runs only.

Nothing here assumes a run finished: every file but the config may be absent. Runs from
before ``run_info.json`` existed get status, epochs and the tested epoch from the files
they do have. A run stopped by Ctrl+C, or killed and then resumed by another run of the
report, is listed as ``interrupted``. Any other run without ``test_metrics.json`` is listed
as ``failed`` with the error from ``run_info.json`` or its log, never dropped: a crashed
job is a result of a sweep too.

A run's recipe (what published values are matched by) is its ``experiment=`` name; a run
composed from groups alone is named by them, ``data=<data> model=<model>`` (see
:func:`derived_recipe`), never like a recipe.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from sports_rec.errors import SportsRecError
from sports_rec.reporting.across_runs.labels import label_runs
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run_info import read_run_info

log = get_logger(__name__)

#: Tasks whose run folders a report collects; a folder whose config names no task counts.
REPORTED_TASKS = frozenset({"train"})


class NotARunFolder(SportsRecError):
    """A path given as ``runs`` that is missing, empty, or holds no run folder."""


@dataclass(eq=False)
class Run:
    """One run folder, loaded. ``name`` is its folder relative to the other runs' common
    parent; ``label`` what the report calls it, the settings that differ between the runs
    (:mod:`sports_rec.reporting.across_runs.labels`).

    Compared by identity: two loads of the same folder are different snapshots.
    """

    path: Path
    config: dict[str, Any]
    overrides: dict[str, str]
    choices: dict[str, str | None]
    info: dict[str, Any] | None
    test_metrics: dict[str, Any] | None
    epochs: pd.DataFrame | None
    per_class: pd.DataFrame | None
    status: str
    error: str | None
    recipe: str
    dataset: str
    model: str
    tested_epoch: int | None
    name: str = field(default="")
    label: str = field(default="")

    @property
    def title(self) -> str:
        """What a report calls this run: its label, or its folder before labels are set."""
        return self.label or self.name

    @property
    def confusion_png(self) -> Path | None:
        path = self.path / "confusion_matrix.png"
        return path if path.is_file() else None

    @property
    def misclassified_png(self) -> Path | None:
        path = self.path / "misclassified.png"
        return path if path.is_file() else None

    def setting(self, key: str) -> str | None:
        """The value of a command-line key for this run, as text, or None when unknown.

        Its own override when it has one; else the group choice Hydra recorded
        (``.hydra/hydra.yaml``) or the composed config's scalar at that dotted path, so a run
        that kept a default still shows the value it ran with.
        """
        if key in self.overrides:
            return self.overrides[key]
        if key in self.choices:
            return self.choices[key]
        value = lookup(self.config, key)
        if value is None or isinstance(value, (dict, list)):
            return None
        return str(value)


def lookup(config: dict[str, Any], dotted: str) -> Any:
    """``config[a][b][c]`` for ``a.b.c``; None when any level is missing."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def parse_overrides(lines: Iterable[str]) -> dict[str, str]:
    """Command-line overrides as ``key -> value text``; ``+``/``++``/``~`` prefixes dropped.

    Uses Hydra's own grammar (quoting, ``group@package``); a line it cannot parse falls back
    to splitting at the first ``=``, so one odd override does not hide the run.
    """
    parser = OverridesParser.create()
    parsed: dict[str, str] = {}
    for line in lines:
        text = str(line)
        try:
            override = parser.parse_override(text)
        except HydraException:
            key, _, value = text.lstrip("+~").partition("=")
            parsed[key] = value
            continue
        key = override.get_key_element().lstrip("+~")
        value = override.value()
        if override.is_delete():
            parsed[key] = ""
        else:
            parsed[key] = value if isinstance(value, str) else override.get_value_element_as_str()
    return parsed


def natural_key(path: Path) -> list[Any]:
    """Sort key that orders sweep jobs 0, 1, 2, ... 10 rather than 0, 1, 10, 2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def _is_run_folder(path: Path) -> bool:
    return (path / ".hydra" / "config.yaml").is_file()


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise NotARunFolder(
            f"Cannot read '{path}' ({type(error).__name__}: {error}); the run folder is "
            "damaged: repair the file or leave the folder out of runs=[...]."
        ) from error


def _task_of(run_dir: Path) -> str | None:
    config = _read_yaml(run_dir / ".hydra" / "config.yaml") or {}
    task = config.get("task_name") if isinstance(config, dict) else None
    return None if task is None else str(task)


def find_run_folders(paths: Sequence[str | Path]) -> list[Path]:
    """Every run folder at or below ``paths``, resolved and deduplicated: in the order the
    paths are given, and in natural order (sweep job 2 before job 10) below each path.

    Raises :class:`NotARunFolder` for a path that does not exist, an empty folder, or a
    folder holding no run folder of a reported task.
    """
    if not paths:
        raise NotARunFolder(
            "No run folders given: pass runs=[DIR,...] with run folders, sweep folders "
            "(multirun/train/<sweep>) or any folder above them."
        )
    found: dict[Path, None] = {}
    for given in paths:
        root = Path(given).expanduser()
        if not root.exists():
            raise NotARunFolder(
                f"Run folder '{given}' does not exist; pass an existing run or sweep folder."
            )
        if not root.is_dir():
            raise NotARunFolder(
                f"'{given}' is a file; pass a run folder (holding .hydra/config.yaml) or a "
                "folder above run folders."
            )
        if not any(root.iterdir()):
            raise NotARunFolder(
                f"Run folder '{given}' is empty; a run folder holds .hydra/config.yaml "
                "(written by python -m sports_rec.train)."
            )
        candidates: list[Path] = []
        for current, subdirs, _ in os.walk(root, followlinks=False):
            folder = Path(current)
            if _is_run_folder(folder):
                candidates.append(folder)
                subdirs.clear()
                continue
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        runs = [c for c in candidates if _task_of(c) in REPORTED_TASKS | {None}]
        skipped = len(candidates) - len(runs)
        if skipped:
            log.info("Skipped %d run folder(s) of other tasks under %s", skipped, root)
        if not runs:
            what = f"only run folders of other tasks ({skipped})" if skipped else "no run folder"
            raise NotARunFolder(
                f"'{given}' holds {what}: no folder below it has .hydra/config.yaml of a "
                "training run. Pass the run or sweep folders written by "
                "python -m sports_rec.train (logs/train/runs/<run>, multirun/train/<sweep>)."
            )
        for run in sorted(runs, key=natural_key):
            found.setdefault(run.resolve(), None)
    return list(found)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        log.warning("Ignoring unreadable %s (%s)", path, error)
        return None
    return record if isinstance(record, dict) else None


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        log.warning("Ignoring unreadable %s (%s)", path, error)
        return None


_CKPT_EPOCH = re.compile(r"epoch[=_-]?(\d+)")


def _tested_epoch(info: dict[str, Any] | None, test_metrics: dict[str, Any] | None) -> int | None:
    """Epoch of the tested checkpoint: run_info, else test_metrics' ``epoch``, else the
    checkpoint's file name (``best-val-acc-epoch007.ckpt``)."""
    for record, key in ((info, "tested_epoch"), (test_metrics, "epoch")):
        value = (record or {}).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    match = _CKPT_EPOCH.search(Path(str((test_metrics or {}).get("ckpt_path") or "")).name)
    return int(match.group(1)) if match else None


def _last_logged_error(run_dir: Path) -> str | None:
    """The last ``[ERROR]`` line of the run's Hydra job log(s), without the prefix."""
    last = None
    for log_file in sorted(run_dir.glob("*.log")):
        try:
            lines = log_file.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if "[ERROR]" in line:
                last = line.split("[ERROR]", 1)[1].lstrip(" -")
    return last


def _status(
    run_dir: Path,
    config: dict[str, Any],
    info: dict[str, Any] | None,
    test_metrics: dict[str, Any] | None,
) -> tuple[str, str | None]:
    recorded = (info or {}).get("status")
    error = (info or {}).get("error")
    if recorded == "interrupted" and test_metrics is None:
        return "interrupted", error or "stopped by SIGINT (Ctrl+C)"
    if recorded == "failed":
        return "failed", error or _last_logged_error(run_dir) or "failed (no error recorded)"
    if test_metrics is not None:
        return "completed", None
    if recorded == "completed" and config.get("test") is False:
        return "not tested", None
    if recorded == "running":
        reason = (
            "no test_metrics.json and run_info.json still says 'running': the run was "
            "killed or is still in progress"
        )
    elif recorded == "completed":
        reason = "run_info.json says 'completed' but test_metrics.json is missing"
    else:
        reason = "no test_metrics.json (the run crashed or was stopped before testing)"
    logged = _last_logged_error(run_dir)
    return "failed", f"{reason}; log: {logged}" if logged else reason


def _model_name(config: dict[str, Any], info: dict[str, Any] | None) -> str:
    if info and info.get("model"):
        return str(info["model"])
    net = lookup(config, "model.net") or {}
    if isinstance(net, dict):
        if net.get("name"):
            return str(net["name"])
        if net.get("_target_"):
            return str(net["_target_"]).rsplit(".", 1)[-1]
    return "?"


def derived_recipe(data: str, model: str) -> str:
    """What a run composed from groups (no ``experiment=``) is called in a report:
    ``data=<data> model=<model>``, its group choices. It is no recipe, so it is never
    written like one (``sports_balls/small`` would name an experiment that does not exist)
    and matches no published value."""
    return f"data={data} model={model}"


def load_run(path: str | Path) -> Run:
    """Load one run folder (see the module docstring for what may be missing)."""
    run_dir = Path(path)
    hydra_dir = run_dir / ".hydra"
    config = _read_yaml(hydra_dir / "config.yaml")
    if not isinstance(config, dict):
        raise NotARunFolder(
            f"'{hydra_dir / 'config.yaml'}' holds no config mapping; the run folder is "
            "damaged: leave it out of runs=[...]."
        )
    overrides_file = hydra_dir / "overrides.yaml"
    override_lines = _read_yaml(overrides_file) if overrides_file.is_file() else []
    hydra_file = hydra_dir / "hydra.yaml"
    hydra_cfg = _read_yaml(hydra_file) if hydra_file.is_file() else None
    recorded_choices = lookup(hydra_cfg or {}, "hydra.runtime.choices") or {}
    choices = {str(k): None if v in (None, "null") else str(v) for k, v in recorded_choices.items()}

    info = read_run_info(run_dir) if (run_dir / "run_info.json").is_file() else None
    test_metrics = _read_json(run_dir / "test_metrics.json")
    overrides = parse_overrides(override_lines or [])
    status, error = _status(run_dir, config, info, test_metrics)

    model = _model_name(config, info)
    dataset = str((info or {}).get("dataset") or lookup(config, "data.name") or "?")
    recipe = (info or {}).get("recipe") or overrides.get("experiment") or choices.get("experiment")
    if not recipe:
        recipe = derived_recipe(
            overrides.get("data") or choices.get("data") or dataset,
            overrides.get("model") or choices.get("model") or model,
        )

    return Run(
        path=run_dir,
        config=config,
        overrides=overrides,
        choices=choices,
        info=info,
        test_metrics=test_metrics,
        epochs=_read_csv(run_dir / "metrics.csv"),
        per_class=_read_csv(run_dir / "per_class.csv"),
        status=status,
        error=error,
        recipe=str(recipe),
        dataset=dataset,
        model=model,
        tested_epoch=_tested_epoch(info, test_metrics),
    )


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Find and load every run folder under ``paths``; names are relative to the runs'
    common parent (a single run is named by its own folder), labels name what differs."""
    folders = find_run_folders(paths)
    runs = [load_run(folder) for folder in folders]
    parent = Path(os.path.commonpath(folders)) if len(folders) > 1 else folders[0].parent
    for run in runs:
        run.name = run.path.relative_to(parent).as_posix()
    mark_resumed_runs(runs)
    label_runs(runs)
    log.info("Loaded %d run(s) from %s", len(runs), parent)
    return runs


def mark_resumed_runs(runs: Sequence[Run]) -> None:
    """A run killed or stopped before testing, that another of ``runs`` resumed (its
    ``ckpt_path`` lies in the first run's folder), was interrupted, not failed: its work
    goes on in the later run, which the status names."""
    for later in runs:
        ckpt = lookup(later.config, "ckpt_path")
        if not ckpt:
            continue
        source = Path(str(ckpt)).resolve()
        for earlier in runs:
            recorded = (earlier.info or {}).get("status")
            if (
                earlier is later
                or earlier.test_metrics is not None
                or recorded not in ("running", "interrupted")
                or not source.is_relative_to(earlier.path.resolve())
            ):
                continue
            earlier.status = "interrupted"
            earlier.error = (
                f"interrupted (run_info.json: {recorded}); resumed by {later.name} from "
                f"{source.name}"
            )
