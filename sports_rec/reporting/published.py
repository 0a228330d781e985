"""Published numbers (``experiments/<study>/published.csv``) and the one metric vocabulary.

A study states its results in its own words ("final epoch test accuracy", "val acc",
"examples/sec"); ``published.csv`` records each of them under a name from :data:`METRICS`,
and that name also says where the same quantity is read from a run folder. Keeping both
sides in one table is what lets the report put a published number beside the run's own
value of exactly that metric, and makes a typo in a CSV fail loudly instead of producing an
empty column.

``published.csv`` columns: ``recipe,metric,value,source,note``

* ``recipe`` - the run's recipe: its ``experiment=`` name (``sports_balls/resnet26d_max_adam``)
  or, for runs composed from groups, ``<data>/<model>`` (``sports100/vit``);
* ``metric`` - a key of :data:`METRICS`;
* ``value`` - a number, as a fraction for accuracies (0.787, not 78.7);
* ``source`` - a short label shown in the column header (``text``, ``notebook``, ``table``);
  one study may be recorded from several sources that disagree;
* ``note`` - the citation (study line numbers) and how the value was read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sports_rec.errors import SportsRecError

REQUIRED_COLUMNS: tuple[str, ...] = ("recipe", "metric", "value", "source", "note")


class PublishedFormatError(SportsRecError):
    """A ``published.csv`` that is missing, lacks columns, or holds an unknown metric."""


@dataclass(frozen=True)
class Metric:
    """One quantity a study may publish, and how the same quantity is read from a run.

    ``kind`` says where: ``test`` - a key of ``test_metrics.json``; ``epoch`` - a column of
    ``metrics.csv`` in the row of the tested epoch (the last row when that epoch is
    unknown), because studies report the model they tested; ``epoch_mean`` - the mean of a
    ``metrics.csv`` column over all epochs (throughput varies per epoch); ``info`` - a field
    of ``run_info.json``. ``label`` is the report column holding the run's own value.
    ``lower_bound`` marks study statements such as "above 90 %": the value is a bound, not
    a measurement, and is shown as ``> value``.
    """

    name: str
    label: str
    kind: str
    key: str
    lower_bound: bool = False

    def read(
        self,
        test_metrics: Mapping[str, Any] | None,
        epochs: pd.DataFrame | None,
        tested_epoch: int | None,
        info: Mapping[str, Any] | None = None,
    ) -> float | None:
        """The run's value of this metric, or None when the run does not have it."""
        if self.kind == "test":
            return _number((test_metrics or {}).get(self.key))
        if self.kind == "info":
            return _number((info or {}).get(self.key))
        if epochs is None or self.key not in epochs.columns:
            return None
        if self.kind == "epoch_mean":
            return _number(epochs[self.key].mean())
        rows = epochs.dropna(subset=[self.key])
        if rows.empty:
            return None
        if tested_epoch is not None and "epoch" in rows.columns:
            at_epoch = rows[rows["epoch"] == tested_epoch]
            if not at_epoch.empty:
                return _number(at_epoch[self.key].iloc[-1])
        return _number(rows[self.key].iloc[-1])


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


_VOCABULARY: tuple[Metric, ...] = (
    Metric("test_accuracy", "test acc", "test", "test/acc"),
    Metric("test_top3_accuracy", "top-3", "test", "test/acc_top3"),
    Metric("test_top5_accuracy", "top-5", "test", "test/acc_top5"),
    Metric("test_mean_class_accuracy", "mean class acc", "test", "test/mean_class_acc"),
    Metric("test_precision_macro", "macro P", "test", "test/precision_macro"),
    Metric("test_recall_macro", "macro R", "test", "test/recall_macro"),
    Metric("test_f1_macro", "macro F1", "test", "test/f1_macro"),
    # the plain mean over every class, absent ones counting 0 (study 004's "Mean Precision")
    Metric("test_precision_mean_all", "mean P (all)", "test", "test/precision_mean_all_classes"),
    Metric("test_recall_mean_all", "mean R (all)", "test", "test/recall_mean_all_classes"),
    Metric("test_f1_mean_all", "mean F1 (all)", "test", "test/f1_mean_all_classes"),
    Metric("test_loss", "test loss", "test", "test/loss"),
    Metric("val_accuracy", "val acc", "epoch", "val/acc"),
    Metric("val_accuracy_lower_bound", "val acc", "epoch", "val/acc", lower_bound=True),
    Metric("val_loss", "val loss", "epoch", "val/loss"),
    Metric("train_accuracy", "train acc", "epoch", "train/acc"),
    Metric("train_loss", "train loss", "epoch", "train/loss"),
    Metric("train_examples_per_sec", "train samples/s", "epoch_mean", "train/samples_per_sec"),
    Metric("train_time_s", "wall time (s)", "info", "wall_time_s"),
)

#: Every metric name a ``published.csv`` may use, with where a run's value is read.
METRICS: dict[str, Metric] = {metric.name: metric for metric in _VOCABULARY}


def published_column(metric: str, source: str) -> str:
    """Report column of a published value: ``<metric> [<source>] (published)``."""
    return f"{metric} [{source}] (published)"


def read_published(path: str | Path) -> pd.DataFrame:
    """Read and validate one ``published.csv``; rows keep the file's order.

    Raises :class:`PublishedFormatError` naming the file and what is wrong: missing file,
    missing columns, a metric outside :data:`METRICS`, a value that is not a number, or two
    rows for the same recipe, metric and source.
    """
    path = Path(path)
    if not path.is_file():
        raise PublishedFormatError(
            f"Published-results file '{path}' does not exist; pass published=PATH to an "
            "existing CSV (e.g. experiments/sports_balls_001/published.csv) or leave it out."
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise PublishedFormatError(
            f"Published-results file '{path}' is not a readable CSV ({error}); expected the "
            f"columns {','.join(REQUIRED_COLUMNS)}."
        ) from error
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise PublishedFormatError(
            f"Published-results file '{path}' lacks the column(s) {', '.join(missing)}; "
            f"its header is '{','.join(frame.columns)}', expected "
            f"'{','.join(REQUIRED_COLUMNS)}'."
        )
    frame = frame[list(REQUIRED_COLUMNS)].apply(lambda column: column.str.strip())
    line = pd.Series(range(2, len(frame) + 2), index=frame.index)  # header is line 1
    unknown = frame[~frame["metric"].isin(METRICS)]
    if not unknown.empty:
        bad = ", ".join(f"'{m}' (line {line[i]})" for i, m in unknown["metric"].items())
        raise PublishedFormatError(
            f"Published-results file '{path}' uses unknown metric(s) {bad}; "
            f"use one of: {', '.join(METRICS)}."
        )
    values = pd.to_numeric(frame["value"], errors="coerce")
    if values.isna().any():
        bad = ", ".join(
            f"'{frame['value'][i]}' (line {line[i]})" for i in frame.index[values.isna()]
        )
        raise PublishedFormatError(
            f"Published-results file '{path}' has non-numeric value(s) {bad}; write numbers, "
            "accuracies as fractions (0.787 rather than 78.7%)."
        )
    empty = frame[(frame["recipe"] == "") | (frame["source"] == "")]
    if not empty.empty:
        lines = ", ".join(str(line[i]) for i in empty.index)
        raise PublishedFormatError(
            f"Published-results file '{path}' has an empty recipe or source on line(s) {lines}."
        )
    frame["value"] = values
    duplicated = frame.duplicated(subset=["recipe", "metric", "source"], keep=False)
    if duplicated.any():
        lines = ", ".join(str(line[i]) for i in frame.index[duplicated])
        raise PublishedFormatError(
            f"Published-results file '{path}' gives the same recipe, metric and source more "
            f"than once (lines {lines}); give each source its own label."
        )
    frame["file"] = str(path)
    return frame.reset_index(drop=True)


def read_published_files(paths: Sequence[str | Path]) -> pd.DataFrame:
    """All rows of several ``published.csv`` files (e.g. when runs span studies)."""
    frames = [read_published(p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=[*REQUIRED_COLUMNS, "file"])
    return pd.concat(frames, ignore_index=True)


def format_published(value: float, metric: str) -> str:
    """A published value as text: ``> 0.9000`` for a lower bound, else the number."""
    text = f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return f"> {text}" if METRICS[metric].lower_bound else text
