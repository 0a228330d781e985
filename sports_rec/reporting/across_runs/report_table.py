"""The study table (one row per run) and the model x dataset leaderboard.

Columns of :func:`report_table`, left to right:

* ``run``: the run's label, what differs between the runs (``model=small``; see
  :mod:`~sports_rec.reporting.across_runs.labels`), then ``folder`` (its path relative to
  the runs' common parent) unless every label is the folder; ``status``;
* the command-line settings that differ between the runs - what the runs compare. A key is
  taken from any run's overrides; a run without that override shows the value it ran with
  (its Hydra group choice or composed config value). Keys that are the same everywhere, and
  infrastructure keys (:data:`~sports_rec.reporting.across_runs.labels.IGNORED_KEYS`),
  are left out;
* test metrics, then size and cost: params (M), GMACs, train samples/s (mean over epochs),
  epochs trained, tested epoch, wall time;
* every published value (``<metric> [<source>] (published)``) directly after the run's own
  value of that metric, matched by recipe; published metrics outside the standard columns
  (test loss, val acc, train loss ...) bring the run's own column with them;
* ``error`` when any run failed.

The frame holds numbers; :func:`to_markdown` formats them. ``report.csv`` adds ``recipe``,
``dataset``, ``net`` (the network's name), ``val_is_test`` and the absolute ``path``. An
override whose key is also a fixed column's name (``epochs``) is shown as ``<key> (override)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from sports_rec.reporting.across_runs.labels import differing_overrides
from sports_rec.reporting.across_runs.published import METRICS, format_published, published_column
from sports_rec.reporting.across_runs.runs import Run
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

HEADLINE = "test_accuracy"
#: Test metrics every table shows, in order (names from the published vocabulary).
TEST_METRICS: tuple[str, ...] = (
    "test_accuracy",
    "test_top3_accuracy",
    "test_top5_accuracy",
    "test_mean_class_accuracy",
    "test_precision_macro",
    "test_recall_macro",
    "test_f1_macro",
)
#: Run columns that appear only when a published value needs them beside it.
ON_DEMAND_METRICS: tuple[str, ...] = (
    "test_precision_mean_all",
    "test_recall_mean_all",
    "test_f1_mean_all",
    "test_loss",
    "val_accuracy",
    "val_loss",
    "train_accuracy",
    "train_loss",
)
THROUGHPUT, WALL_TIME = "train_examples_per_sec", "train_time_s"
CSV_EXTRAS: tuple[str, ...] = ("recipe", "dataset", "net", "val_is_test", "path")

_FORMATS: dict[str, str] = {
    "params (M)": "{:.2f}",
    "GMACs": "{:.3f}",
    "train samples/s": "{:.1f}",
    "wall time (s)": "{:.1f}",
    "epochs": "{:.0f}",
    "tested epoch": "{:.0f}",
}
_MISSING = "-"


def metric_value(run: Run, metric: str) -> float | None:
    """The run's value of a published-vocabulary metric (test, train, val, cost)."""
    return METRICS[metric].read(run.test_metrics, run.epochs, run.tested_epoch, run.info)


def _info_number(run: Run, key: str) -> float | None:
    value = (run.info or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _epochs(run: Run) -> float | None:
    trained = _info_number(run, "epochs")
    if trained is not None:
        return trained
    if run.epochs is not None and "epoch" in run.epochs.columns and len(run.epochs):
        return float(run.epochs["epoch"].nunique())
    return None


def matching_published(runs: Sequence[Run], published: pd.DataFrame | None) -> pd.DataFrame:
    """The published rows whose recipe is one of the runs'; warns about the others."""
    if published is None or published.empty:
        return pd.DataFrame(columns=["recipe", "metric", "value", "source", "note"])
    recipes = {run.recipe for run in runs}
    unmatched = sorted(set(published["recipe"]) - recipes)
    if unmatched:
        log.warning(
            "Published recipe(s) with no run: %s (run recipes: %s)",
            ", ".join(unmatched),
            ", ".join(sorted(recipes)),
        )
    return published[published["recipe"].isin(recipes)].reset_index(drop=True)


def _published_by_label(published: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """Run column label -> the (metric, source) pairs published beside it, file order."""
    by_label: dict[str, list[tuple[str, str]]] = {}
    for metric, source in published[["metric", "source"]].drop_duplicates().itertuples(False):
        pairs = by_label.setdefault(METRICS[metric].label, [])
        pairs.append((metric, source))
    return by_label


def report_table(runs: Sequence[Run], published: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run, columns as described in the module docstring (values unformatted)."""
    matched = matching_published(runs, published)
    beside = _published_by_label(matched)
    lookup = {
        (recipe, metric, source): value
        for recipe, metric, source, value in matched[
            ["recipe", "metric", "source", "value"]
        ].itertuples(False)
    }
    keys = differing_overrides(runs)
    reserved = {
        "run",
        "folder",
        "status",
        "error",
        *CSV_EXTRAS,
        *_FORMATS,
        *(m.label for m in METRICS.values()),
    }
    key_columns = {key: f"{key} (override)" if key in reserved else key for key in keys}
    shown = [*TEST_METRICS, *(m for m in ON_DEMAND_METRICS if METRICS[m].label in beside)]

    rows: list[dict[str, Any]] = []
    for run in runs:
        row: dict[str, Any] = {"run": run.title, "folder": run.name}
        row["status"] = run.status
        row.update({column: run.setting(key) for key, column in key_columns.items()})

        def add_metric(metric: str, row: dict[str, Any] = row, run: Run = run) -> None:
            label = METRICS[metric].label
            row[label] = metric_value(run, metric)
            for pub_metric, source in beside.get(label, []):
                column = published_column(pub_metric, source)
                row[column] = lookup.get((run.recipe, pub_metric, source), math.nan)

        for metric in shown:
            add_metric(metric)
        params = _info_number(run, "params")
        row["params (M)"] = None if params is None else params / 1e6
        row["GMACs"] = _info_number(run, "gmacs")
        add_metric(THROUGHPUT)
        row["epochs"] = _epochs(run)
        row["tested epoch"] = None if run.tested_epoch is None else float(run.tested_epoch)
        add_metric(WALL_TIME)
        row["error"] = run.error
        row["recipe"] = run.recipe
        row["dataset"] = run.dataset
        row["net"] = run.model
        row["val_is_test"] = (run.info or {}).get("val_is_test")
        row["path"] = str(run.path)
        rows.append(row)

    table = pd.DataFrame(rows)
    text = {"run", "folder", "status", "error", *key_columns.values(), *CSV_EXTRAS}
    numeric = [c for c in table.columns if c not in text]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    if table.empty or (table["run"] == table["folder"]).all():
        table = table.drop(columns=["folder"])
    return _drop_empty_columns(table, beside)


def _drop_empty_columns(table: pd.DataFrame, beside: dict[str, list]) -> pd.DataFrame:
    """Drop run-value columns no run has (e.g. top-5 with <= 5 classes, GMACs unknown),
    except the headline and any column a published value stands beside."""
    keep = {"run", "folder", "status", METRICS[HEADLINE].label, *beside, *CSV_EXTRAS}
    empty = [
        c
        for c in table.columns
        if c not in keep and not c.endswith("(published)") and table[c].isna().all()
    ]
    return table.drop(columns=empty)


def display_columns(table: pd.DataFrame) -> list[str]:
    """The columns of ``report.md`` (the table without the CSV-only fields)."""
    return [c for c in table.columns if c not in CSV_EXTRAS]


def _cell(value: Any, column: str, metric_of: dict[str, str]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _MISSING
    if column in metric_of:
        return format_published(float(value), metric_of[column])
    if isinstance(value, float):
        return _FORMATS.get(column, "{:.4f}").format(value)
    text = " ".join(str(value).split())
    if column == "error" and len(text) > 160:
        text = text[:157] + "..."
    return text.replace("|", "\\|")


def format_table(table: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The display columns as text: fixed decimals, ``-`` for missing, ``> x`` for bounds."""
    metric_of: dict[str, str] = {}
    if published is not None:
        for metric, source in published[["metric", "source"]].itertuples(False):
            metric_of[published_column(metric, source)] = metric
    columns = display_columns(table)
    return pd.DataFrame(
        {c: [_cell(v, c, metric_of) for v in table[c]] for c in columns}, columns=columns
    )


def to_markdown(frame: pd.DataFrame) -> str:
    """A text frame (from :func:`format_table` or :func:`format_leaderboard`) as markdown."""
    return frame.to_markdown(index=False, tablefmt="pipe", disable_numparse=True)


def leaderboard(runs: Sequence[Run]) -> pd.DataFrame | None:
    """Model x dataset matrix of test accuracy, or None when the runs cover one dataset.

    A cell is the best test accuracy over that model's runs on that dataset (a model run
    with several recipes or seeds appears once per dataset); empty when none completed.
    Rows and columns keep the order in which the runs first name them.
    """
    datasets = list(dict.fromkeys(run.dataset for run in runs))
    if len(datasets) < 2:
        return None
    models = list(dict.fromkeys(run.model for run in runs))
    records = [
        {"model": run.model, "dataset": run.dataset, "acc": metric_value(run, HEADLINE)}
        for run in runs
    ]
    best = pd.DataFrame(records).dropna(subset=["acc"]).groupby(["model", "dataset"])["acc"].max()
    matrix = best.unstack("dataset") if len(best) else pd.DataFrame()
    matrix = matrix.reindex(index=models, columns=datasets).astype(float)
    matrix.index.name = "model"
    matrix.columns.name = None
    return matrix.reset_index()


def format_leaderboard(matrix: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as text (4 decimals, ``-`` where no run completed)."""
    return matrix.apply(
        lambda column: (
            column
            if column.name == "model"
            else column.map(lambda v: _MISSING if pd.isna(v) else f"{v:.4f}")
        )
    )
