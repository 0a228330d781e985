"""A study's per-class table and top confusions beside each run's own (study 004).

``published.csv`` rows with a ``class``
(:data:`~sports_rec.reporting.across_runs.published.CLASS_METRICS`) are matched by recipe,
like the run-level values, and by class *name*: the run's ``per_class.csv`` gives precision,
recall, F1 and support, its ``confusion_matrix.csv`` the count of each published confusion
(true -> predicted) and its share of the true class's test samples. The report writes them
as ``per_class_published.csv`` (one row per run, class and metric) and a section of
``report.md`` / ``report.html`` per run: the per-class table (published beside the run, file
order), the published confusions with the run's counts, and the run's own most frequent
confusions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sports_rec.reporting.across_runs.published import CLASS_METRICS
from sports_rec.reporting.across_runs.runs import Run
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

CSV_COLUMNS = ("run", "recipe", "class", "predicted", "metric", "source", "published", "value")
TOP_CONFUSIONS = 5


def _per_class(run: Run) -> pd.DataFrame | None:
    """The run's ``per_class.csv`` indexed by class name (as text)."""
    frame = run.per_class
    if frame is None or "class_name" not in frame.columns:
        return None
    return frame.assign(class_name=frame["class_name"].astype(str)).set_index("class_name")


def confusion_matrix(run: Run) -> pd.DataFrame | None:
    """The run's ``confusion_matrix.csv`` (rows true, columns predicted; names as text)."""
    path = Path(run.path) / "confusion_matrix.csv"
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, index_col=0)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        log.warning("Ignoring unreadable %s (%s)", path, error)
        return None
    frame.index = frame.index.map(str)
    frame.columns = frame.columns.map(str)
    return frame


def _run_value(
    metric: str,
    true: str,
    predicted: str,
    per_class: pd.DataFrame | None,
    matrix: pd.DataFrame | None,
) -> float:
    spec = CLASS_METRICS[metric]
    if spec.confusion:
        if matrix is None or true not in matrix.index or predicted not in matrix.columns:
            return math.nan
        count = float(matrix.loc[true, predicted])
        if spec.column == "count":
            return count
        support = float(matrix.loc[true].sum())
        return count / support if support else math.nan
    if per_class is None or true not in per_class.index or spec.column not in per_class.columns:
        return math.nan
    return float(per_class.loc[true, spec.column])


def class_comparison(runs: Sequence[Run], published: pd.DataFrame | None) -> pd.DataFrame:
    """One row per run and published per-class / confusion value (columns
    :data:`CSV_COLUMNS`); empty when no run's recipe has such values."""
    rows = []
    if published is not None and not published.empty:
        for run in runs:
            mine = published[published["recipe"] == run.recipe]
            if mine.empty:
                continue
            per_class, matrix = _per_class(run), confusion_matrix(run)
            for row in mine.rename(columns={"class": "true"}).itertuples(index=False):
                true, predicted = str(row.true), str(row.predicted)
                rows.append(
                    {
                        "run": run.title,
                        "recipe": run.recipe,
                        "class": true,
                        "predicted": predicted,
                        "metric": row.metric,
                        "source": row.source,
                        "published": float(row.value),
                        "value": _run_value(row.metric, true, predicted, per_class, matrix),
                    }
                )
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def top_confusions(run: Run, k: int = TOP_CONFUSIONS) -> pd.DataFrame:
    """The run's ``k`` most frequent confusions: ``true, predicted, count, fraction``."""
    matrix = confusion_matrix(run)
    if matrix is None or matrix.empty:
        return pd.DataFrame(columns=["true", "predicted", "count", "fraction"])
    counts = matrix.to_numpy(dtype=float)
    support = counts.sum(axis=1)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    rows = []
    for flat in order:
        i, j = np.unravel_index(flat, off.shape)
        if off[i, j] <= 0:
            break
        rows.append(
            {
                "true": matrix.index[i],
                "predicted": matrix.columns[j],
                "count": int(off[i, j]),
                "fraction": off[i, j] / support[i] if support[i] else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "fraction"])


def _text(value: float, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if CLASS_METRICS[metric].column in ("support", "count"):
        return f"{value:.0f}"
    return f"{value:.4f}"


def run_tables(
    comparison: pd.DataFrame, run: Run
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame]:
    """Text frames of one run: its per-class table and the published confusions (each
    published value beside the run's; None when the study publishes none) and the run's own
    top confusions."""
    mine = comparison[comparison["run"] == run.title].rename(columns={"class": "true"})
    tables: list[pd.DataFrame | None] = []
    for confusion in (False, True):
        part = mine[mine["metric"].map(lambda m, c=confusion: CLASS_METRICS[m].confusion == c)]
        if part.empty:
            tables.append(None)
            continue
        keys = ["true", "predicted"] if confusion else ["true"]
        columns: dict[str, dict[tuple[str, ...], str]] = {}
        for row in part.itertuples(index=False):
            key = tuple(getattr(row, k) for k in keys)
            label = CLASS_METRICS[row.metric].label
            published = f"{label} [{row.source}] (published)"
            columns.setdefault(published, {})[key] = _text(row.published, row.metric)
            columns.setdefault(label, {})[key] = _text(row.value, row.metric)
        order = list(dict.fromkeys(tuple(r) for r in part[keys].itertuples(index=False)))
        frame = pd.DataFrame(
            {name: [values.get(key, "-") for key in order] for name, values in columns.items()}
        )
        index = pd.DataFrame(order, columns=["true", "predicted"] if confusion else ["class"])
        tables.append(pd.concat([index, frame], axis=1))
    own = top_confusions(run)
    own_text = own.assign(
        count=own["count"].map(str),
        fraction=own["fraction"].map(lambda v: "-" if pd.isna(v) else f"{v:.4f}"),
    ).rename(columns={"fraction": "share of the class"})
    return tables[0], tables[1], own_text


def markdown_section(comparison: pd.DataFrame, runs: Sequence[Run]) -> str:
    """The ``report.md`` section: per run, its per-class table and confusions beside the
    published ones (empty text when nothing is published per class)."""
    if comparison.empty:
        return ""
    parts = [
        "## Per-class results beside the published\n\n"
        "Matched by class name (the run's per_class.csv and confusion_matrix.csv); `-` where "
        "the run has no such class or no test artefacts. Shares are of the true class's "
        "test samples.\n"
    ]
    for run in runs:
        if run.title not in set(comparison["run"]):
            continue
        per_class, confusions, own = run_tables(comparison, run)
        parts.append(f"### {run.title} ({run.recipe})\n")
        if per_class is not None:
            parts.append(_markdown(per_class) + "\n")
        if confusions is not None:
            parts.append("Published top confusions, with this run's counts:\n")
            parts.append(_markdown(confusions) + "\n")
        if not own.empty:
            parts.append(f"This run's own top {len(own)} confusions:\n")
            parts.append(_markdown(own) + "\n")
    return "\n".join(parts)


def _markdown(frame: pd.DataFrame) -> str:
    text = frame.astype(str).apply(lambda column: column.str.replace("|", "\\|"))
    return text.to_markdown(index=False, tablefmt="pipe", disable_numparse=True)
