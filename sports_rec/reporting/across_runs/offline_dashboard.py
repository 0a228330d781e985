"""What ``python -m sports_rec.dashboard`` leaves behind when W&B cannot be reached.

The dashboard is a W&B workspace, and saving one needs the network and an API key. A
machine without them (a cluster node, a laptop on a train) still has the runs, so instead
of leaving nothing the command writes, into one folder:

* ``workspace.json`` - the workspace it would save (wandb-workspaces' view model, exactly
  what ``Workspace.save()`` sends) with the arguments it was built from and the command
  that saves it once online;
* the same comparison as a local report (:func:`~sports_rec.reporting.across_runs.
  report_files.write_report`: ``report.html``, ``report.md`` ...) of the local runs the
  workspace would show: those whose study tag is the study's (the config's ``study``, else
  the dataset ``data.name``; compared like W&B compares tags, in lower case), plus a
  by-model table (``by_model.csv`` and a section of the report) grouped as the workspace
  groups them (:func:`~sports_rec.utils.run_identity.comparison_keys`' ``model``).

It takes the workspace as plain JSON and the metrics by their keys, so it knows
nothing of wandb-workspaces and the entry point stays the one place that does.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sports_rec.reporting.across_runs.report_files import ReportOutputError, write_report
from sports_rec.reporting.across_runs.runs import (
    NotARunFolder,
    Run,
    find_run_folders,
    load_runs,
    lookup,
)
from sports_rec.utils.run_identity import comparison_keys, study_tag

#: Where training writes runs, relative to the current folder: searched when no runs= given.
DEFAULT_RUN_ROOTS: tuple[str, ...] = ("logs/train", "multirun/train")
SPEC_FILE = "workspace.json"
BY_MODEL_FILE = "by_model.csv"
BY_MODEL_HEADING = "Models compared (grouped as in the W&B workspace)"
_MISSING = "-"


@dataclass
class OfflineDashboard:
    """What was written: the folder, its files, the runs compared and where they were sought.

    ``searched`` maps each runs folder to what was found there (a count or why nothing);
    ``other_studies`` names the studies of the local runs that did not match; ``unsynced``
    holds the matching runs' offline W&B folders, which ``wandb sync`` must upload before the
    workspace can show them.
    """

    out: Path
    files: list[Path]
    runs: list[Run]
    searched: dict[str, str] = field(default_factory=dict)
    other_studies: list[str] = field(default_factory=list)
    unsynced: list[Path] = field(default_factory=list)


def default_out(study: str) -> Path:
    """``dashboard_offline/<study>`` under the current folder (the study made a safe name)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in study).strip(".") or "study"
    return Path("dashboard_offline") / safe


def run_keys(run: Run) -> dict[str, str]:
    """The comparison keys this run logged to W&B (its study and model label), recomputed
    from its folder the way ``train`` computed them from the config and Hydra's choices."""
    dataset = lookup(run.config, "data.name") or run.dataset
    choices = {k: v for k, v in run.choices.items() if v is not None}
    net_name = lookup(run.config, "model.net.name")
    return comparison_keys(run.config.get("study"), str(dataset), net_name, choices)


def find_local_runs(roots: Sequence[Path]) -> tuple[list[Run], dict[str, str]]:
    """Every run under ``roots`` and, per root, what was found there; a missing or empty
    root is noted, not an error: the command is already failing for another reason."""
    searched: dict[str, str] = {}
    usable: list[Path] = []
    for root in roots:
        if not root.exists():
            searched[str(root)] = "does not exist"
            continue
        try:
            searched[str(root)] = f"{len(find_run_folders([root]))} run(s)"
        except NotARunFolder as error:
            searched[str(root)] = f"nothing usable: {error}"
            continue
        usable.append(root)
    return (load_runs(usable) if usable else []), searched


def _metric(run: Run, key: str) -> float:
    value = (run.test_metrics or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def by_model(runs: Sequence[Run], keys: Sequence[str]) -> pd.DataFrame:
    """One row per model label: the runs grouped, the mean and sample standard deviation
    of each test metric (``test_metrics.json`` key) over the runs that have it, best mean
    of the first metric first (the workspace orders by it). ``runs`` counts every run of the model,
    ``tested`` those with a value of the first metric (a crashed run has none)."""
    records = [
        {"model": run_keys(run)["model"], **{k: _metric(run, k) for k in keys}} for run in runs
    ]
    groups = pd.DataFrame(records, columns=["model", *keys]).groupby("model", sort=False)
    table = pd.DataFrame({"runs": groups.size(), "tested": groups[keys[0]].count()})
    for key in keys:
        table[f"{key} mean"] = groups[key].mean()
        table[f"{key} std"] = groups[key].std()
    table = table.sort_values(f"{keys[0]} mean", ascending=False, na_position="last", kind="stable")
    return table.reset_index()


def format_by_model(table: pd.DataFrame) -> pd.DataFrame:
    """The by-model table as text: 4 decimals, ``-`` where no run has the value."""
    text = table.astype(object).copy()
    for column in table.columns:
        if column.endswith((" mean", " std")):
            text[column] = [_MISSING if pd.isna(v) else f"{v:.4f}" for v in table[column]]
        else:
            text[column] = table[column].astype(str)
    return text


def offline_wandb_folders(runs: Sequence[Run]) -> list[Path]:
    """The runs' W&B data logged offline (``<run>/wandb/offline-run-*``), still to upload."""
    return sorted(p for run in runs for p in (run.path / "wandb").glob("offline-run-*"))


def _write_spec(out: Path, document: Mapping[str, Any]) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / SPEC_FILE
        path.write_text(json.dumps(document, indent=2) + "\n")
    except OSError as error:
        raise ReportOutputError(
            f"Cannot write the offline dashboard into '{out}' ({error.strerror or error}); "
            "choose another folder with out=DIR."
        ) from error
    return path


def write_offline_dashboard(
    *,
    view: Mapping[str, Any],
    arguments: Mapping[str, str | None],
    notes: Sequence[str],
    save_command: str,
    study: str,
    metrics: Sequence[str],
    roots: Sequence[Path] | None,
    out: Path,
) -> OfflineDashboard:
    """Write ``workspace.json`` and, when local runs of ``study`` exist under ``roots``,
    the report comparing them into ``out``.

    ``view``: the workspace as JSON (what saving sends); ``arguments``: the project, entity,
    study and name it was built from; ``notes``: caveats recorded beside them (a placeholder
    entity); ``metrics``: the keys of the workspace's test metrics (W&B summary and
    ``test_metrics.json`` use the same); ``roots``: the folders to search, None for
    :data:`DEFAULT_RUN_ROOTS`.
    """
    if roots is None:
        roots = [Path(root) for root in DEFAULT_RUN_ROOTS]
    runs, searched = find_local_runs(roots)
    wanted = study_tag(study)
    matching = [run for run in runs if study_tag(run_keys(run)["study"]) == wanted]
    others = sorted({run_keys(run)["study"] for run in runs if run not in matching})
    document = {
        "arguments": dict(arguments),
        "notes": list(notes),
        "save_command": save_command,
        "local_runs": [str(run.path) for run in matching],
        "view": dict(view),
    }
    files = [_write_spec(out, document)]
    if matching:
        title = f"{arguments.get('name') or study} (offline)"
        files += _write_comparison(matching, metrics, out, title)
    return OfflineDashboard(
        out=out,
        files=files,
        runs=matching,
        searched=searched,
        other_studies=others,
        unsynced=offline_wandb_folders(matching),
    )


def _write_comparison(
    runs: Sequence[Run], metrics: Sequence[str], out: Path, title: str
) -> list[Path]:
    """The report of ``runs`` with the by-model table (also as ``by_model.csv``)."""
    table = by_model(runs, metrics)
    _, files = write_report(
        runs, out, html=True, title=title, tables=[(BY_MODEL_HEADING, format_by_model(table))]
    )
    table.to_csv(out / BY_MODEL_FILE, index=False)
    order = ["report.html", "report.md", "report.csv", "report.png", "curves.png"]
    written = [files[name] for name in order if name in files]
    written += [path for name, path in files.items() if name not in order]
    return [*written, out / BY_MODEL_FILE]


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when below it (shorter to read and copy)."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def summary_lines(result: OfflineDashboard, study: str, notes: Sequence[str]) -> list[str]:
    """What the command prints: the files written, what was compared (or why nothing was),
    the caveats, and the uploads the workspace needs first (one ``wandb sync`` line)."""
    lines = [f"W&B is not usable here: wrote the dashboard offline into {_shown(result.out)}/"]
    lines += [f"  {path.name}" for path in result.files]
    if result.runs:
        lines.append(
            f"report.html compares the {len(result.runs)} local run(s) of study '{study}' "
            "grouped by model, as the workspace will."
        )
    else:
        where = "; ".join(f"{root}: {what}" for root, what in result.searched.items())
        found = ", ".join(result.other_studies) or "none"
        lines.append(
            f"No local run of study '{study}' ({where or 'no runs folder given or found'}; "
            f"studies found: {found}): wrote the workspace spec only. Pass runs=DIR[,DIR...] "
            "with the study's run or sweep folders."
        )
    lines += [f"Note: {note}" for note in notes]
    if result.unsynced:
        paths = " ".join(_shown(path) for path in result.unsynced)
        lines.append(
            f"Upload the runs logged offline first, where W&B is reachable: wandb sync {paths}"
        )
    return lines
