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

Two optional columns hold a study's per-class tables and its top confusions (study 004):

* ``class`` - the class (its name in the run's ``per_class.csv``) of a per-class metric of
  :data:`CLASS_METRICS` (``class_precision``, ``class_recall``, ``class_f1``,
  ``class_support``), or the true class of a confusion (``confusion_count``,
  ``confusion_fraction``: the share of the true class's samples predicted as ``predicted``);
* ``predicted`` - the predicted class of a confusion.

Files without them stay valid. :func:`read_published` returns the run-level rows only (the
table's columns); :func:`read_published_classes` the per-class and confusion rows, which the
report compares with each run's ``per_class.csv`` and ``confusion_matrix.csv``
(:mod:`sports_rec.reporting.across_runs.per_class`).
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
#: Columns a ``published.csv`` may add (empty on run-level rows): see the module docstring.
CLASS_COLUMNS: tuple[str, ...] = ("class", "predicted")
_CLASS_FRAME_COLUMNS = ("recipe", "metric", "class", "predicted", "value", "source", "note")


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

#: Every run-level metric name a ``published.csv`` may use, with where a run's value is read.
METRICS: dict[str, Metric] = {metric.name: metric for metric in _VOCABULARY}


@dataclass(frozen=True)
class ClassMetric:
    """A per-class quantity (``class`` column) or a confusion (``class`` -> ``predicted``).

    ``column`` is the run's ``per_class.csv`` column holding it; confusions are read from
    ``confusion_matrix.csv`` (``column`` is ``count`` or ``fraction`` of the true class).
    """

    name: str
    label: str
    column: str
    confusion: bool = False


#: Per-class and confusion metrics of a ``published.csv`` (rows with a ``class``).
CLASS_METRICS: dict[str, ClassMetric] = {
    metric.name: metric
    for metric in (
        ClassMetric("class_precision", "P", "precision"),
        ClassMetric("class_recall", "R", "recall"),
        ClassMetric("class_f1", "F1", "f1"),
        ClassMetric("class_support", "support", "support"),
        ClassMetric("confusion_count", "count", "count", confusion=True),
        ClassMetric("confusion_fraction", "share of the class", "fraction", confusion=True),
    )
}


def published_column(metric: str, source: str) -> str:
    """Report column of a published value: ``<metric> [<source>] (published)``."""
    return f"{metric} [{source}] (published)"


def read_published(path: str | Path) -> pd.DataFrame:
    """Read and validate one ``published.csv``; its run-level rows (no ``class``), in the
    file's order, with the columns ``recipe,metric,value,source,note,file``.

    Raises :class:`PublishedFormatError` naming the file and what is wrong: missing file,
    missing columns, a metric outside :data:`METRICS` and :data:`CLASS_METRICS`, a value
    that is not a number, a ``class`` missing or misplaced, or two rows for the same recipe,
    metric, classes and source.
    """
    frame = _read_validated(path)
    rows = frame[frame["metric"].isin(METRICS)]
    return rows[[*REQUIRED_COLUMNS, "file"]].reset_index(drop=True)


def read_published_classes(path: str | Path) -> pd.DataFrame:
    """The per-class and confusion rows of one ``published.csv`` (validated as
    :func:`read_published` does): ``recipe,metric,class,predicted,value,source,note,file``;
    empty when the file has none."""
    frame = _read_validated(path)
    rows = frame[frame["metric"].isin(CLASS_METRICS)]
    return rows[[*_CLASS_FRAME_COLUMNS, "file"]].reset_index(drop=True)


def read_published_classes_files(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The per-class and confusion rows of several ``published.csv`` files."""
    frames = [read_published_classes(p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=[*_CLASS_FRAME_COLUMNS, "file"])
    return pd.concat(frames, ignore_index=True)


#: The studies' published numbers, shipped inside the package (``experiments/`` at the top
#: of a checkout is a link to it), so a pip-installed sports_rec has them too.
PUBLISHED_DIR = Path(__file__).resolve().parents[2] / "experiments"


def shipped_studies() -> list[str]:
    """Names of the studies whose published numbers ship with the package."""
    return sorted(p.parent.name for p in PUBLISHED_DIR.glob("*/published.csv"))


def published_path(spec: str | Path) -> Path:
    """``spec`` as a file: a path to a CSV, or a shipped study's name (``sports_balls_001``),
    or a path that names one (``experiments/sports_balls_001/published.csv`` from any
    folder, as the README writes it)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    for name in (str(spec), path.parent.name):
        shipped = PUBLISHED_DIR / name / "published.csv"
        if name and shipped.is_file():
            return shipped
    return path


def _read_validated(path: str | Path) -> pd.DataFrame:
    """Every row of one ``published.csv``, validated (see :func:`read_published`)."""
    path = published_path(path)
    if not path.is_file():
        raise PublishedFormatError(
            f"Published-results file '{path}' does not exist; pass published=PATH to an "
            "existing CSV, or a shipped study's name (one of "
            f"{', '.join(shipped_studies())}), or leave it out."
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
    for column in CLASS_COLUMNS:  # optional: absent in files without per-class rows
        if column not in frame.columns:
            frame[column] = ""
    frame = frame[[*REQUIRED_COLUMNS, *CLASS_COLUMNS]].fillna("")  # short rows: no class
    frame = frame.apply(lambda column: column.str.strip())
    line = pd.Series(range(2, len(frame) + 2), index=frame.index)  # header is line 1
    unknown = frame[~frame["metric"].isin(METRICS) & ~frame["metric"].isin(CLASS_METRICS)]
    if not unknown.empty:
        bad = ", ".join(f"'{m}' (line {line[i]})" for i, m in unknown["metric"].items())
        raise PublishedFormatError(
            f"Published-results file '{path}' uses unknown metric(s) {bad}; "
            f"use one of: {', '.join([*METRICS, *CLASS_METRICS])}."
        )
    _check_class_columns(path, frame, line)
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
    key = ["recipe", "metric", "class", "predicted", "source"]
    duplicated = frame.duplicated(subset=key, keep=False)
    if duplicated.any():
        lines = ", ".join(str(line[i]) for i in frame.index[duplicated])
        raise PublishedFormatError(
            f"Published-results file '{path}' gives the same recipe, metric (and class) and "
            f"source more than once (lines {lines}); give each source its own label."
        )
    frame["file"] = str(path)
    return frame.reset_index(drop=True)


def _check_class_columns(path: Path, frame: pd.DataFrame, line: pd.Series) -> None:
    """``class`` on per-class and confusion rows only, ``predicted`` on confusions only."""
    problems = []
    for i, row in frame.iterrows():
        metric = CLASS_METRICS.get(row["metric"])
        if metric is None:
            if row["class"] or row["predicted"]:
                problems.append(f"line {line[i]}: {row['metric']} is not per class")
        elif not row["class"]:
            problems.append(f"line {line[i]}: {row['metric']} needs a class")
        elif metric.confusion != bool(row["predicted"]):
            need = "needs" if metric.confusion else "takes no"
            problems.append(f"line {line[i]}: {row['metric']} {need} a predicted class")
    if problems:
        raise PublishedFormatError(
            f"Published-results file '{path}' has misplaced class columns ("
            + "; ".join(problems)
            + "): class and predicted name the classes of per-class metrics and confusions "
            "only."
        )


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
