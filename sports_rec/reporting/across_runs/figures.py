"""Figures of a report, drawn from the run folders' CSV files (never from checkpoints).

* :func:`plot_headline` -> ``report.png``: test accuracy per run as bars, each published
  test accuracy of the run's recipe beside it (one bar per source);
* :func:`plot_overlaid_curves` -> ``curves.png``: every run's loss and accuracy per epoch on
  shared axes (two panels), one colour per run, train solid and validation dashed - the
  comparison figure of the sports balls study (its Fig. 6), for any number of runs; its
  data (:func:`curve_rows`) is ``curves.csv``;

Runs are named by their labels (what differs between them), as in the report's tables.
* :func:`per_class_png` -> PNG bytes of a run's precision/recall/F1 per class (from
  ``per_class.csv``), embedded in ``report.html``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from sports_rec.reporting.across_runs.published import METRICS, published_column
from sports_rec.reporting.across_runs.report_table import HEADLINE
from sports_rec.reporting.across_runs.runs import Run
from sports_rec.reporting.per_run.curves import integer_epochs

_PANELS: tuple[tuple[str, str, str], ...] = (
    ("loss", "train/loss", "val/loss"),
    ("accuracy", "train/acc", "val/acc"),
)


def headline_sources(table: pd.DataFrame, published: pd.DataFrame | None) -> list[str]:
    """The published sources drawn beside the runs: only those with a value for one of
    these runs, so no empty "published" bars and no title promising values that no run's
    recipe has."""
    if published is None or published.empty:
        return []
    rows = published[published["metric"] == HEADLINE]
    return [
        s
        for s in dict.fromkeys(rows["source"])
        if published_column(HEADLINE, s) in table
        and table[published_column(HEADLINE, s)].notna().any()
    ]


def plot_headline(table: pd.DataFrame, published: pd.DataFrame | None, path: Path) -> Path:
    """Grouped bars of test accuracy per run (``report.png``); failed runs are marked.

    ``table`` is :func:`~sports_rec.reporting.across_runs.report_table.report_table`'s
    frame, so the bars show exactly the numbers of ``report.md``.
    """
    label = METRICS[HEADLINE].label
    sources = headline_sources(table, published)
    series = [("run", table[label].to_numpy(dtype=float))]
    series += [
        (f"published [{s}]", table[published_column(HEADLINE, s)].to_numpy(dtype=float))
        for s in sources
    ]
    count = len(table)
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * count * len(series) + 2), 4.8))
    positions = np.arange(count)
    colours = plt.get_cmap("tab10").colors
    for i, (name, values) in enumerate(series):
        offsets = positions - 0.4 + width * (i + 0.5)
        heights = np.nan_to_num(values, nan=0.0)
        bars = ax.bar(offsets, heights, width, label=name, color=colours[i % len(colours)])
        for bar, value in zip(bars, values, strict=True):
            if not np.isnan(value):
                ax.annotate(
                    f"{value:.3f}",
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    for x, status in zip(positions, table["status"], strict=True):
        if status != "completed":
            ax.text(x, 0.02, status, ha="center", va="bottom", rotation=90, color="darkred")
    ax.set_xticks(positions, labels=list(table["run"]), rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(label)
    ax.set_title("Test accuracy per run" + (" vs published" if sources else ""))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve_rows(runs: Sequence[Run]) -> pd.DataFrame:
    """Every run's per-epoch loss and accuracy, long format: ``run`` (its label), ``folder``,
    ``epoch``, ``split`` (train/val), ``metric`` (loss/accuracy), ``value``.

    The data of ``curves.png``, written beside it as ``curves.csv``: the legend's names and
    the plotted points, for a reader to re-plot or a test to check.
    """
    rows = []
    for run in runs:
        frame = run.epochs
        if frame is None or "epoch" not in frame.columns:
            continue
        for family, train_col, val_col in _PANELS:
            for split, column in (("train", train_col), ("val", val_col)):
                if column not in frame.columns:
                    continue
                for epoch, value in frame[["epoch", column]].dropna().itertuples(index=False):
                    rows.append(
                        {
                            "run": run.title,
                            "folder": run.name,
                            "epoch": int(epoch),
                            "split": split,
                            "metric": family,
                            "value": float(value),
                        }
                    )
    return pd.DataFrame(rows, columns=["run", "folder", "epoch", "split", "metric", "value"])


def plot_overlaid_curves(runs: Sequence[Run], path: Path) -> Path:
    """Loss and accuracy of all runs per epoch (``curves.png``, from :func:`curve_rows`):
    one colour per run, named by its label; runs without curves are named in the title
    instead of silently missing."""
    curves = curve_rows(runs)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    colours = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20").colors
    plotted: list[tuple[str, tuple]] = []
    missing: list[str] = []
    for i, run in enumerate(runs):
        colour = colours[i % len(colours)]
        mine = curves[curves["run"] == run.title]
        if mine.empty:
            missing.append(run.title)
            continue
        for ax, (family, _, _) in zip(axes, _PANELS, strict=True):
            for split, style in (("train", "-"), ("val", "--")):
                points = mine[(mine["metric"] == family) & (mine["split"] == split)]
                if not points.empty:
                    ax.plot(points["epoch"], points["value"], style, color=colour, marker="o", ms=3)
        plotted.append((run.title, colour))
    for ax, (family, _, _) in zip(axes, _PANELS, strict=True):
        ax.set_xlabel("epoch")
        integer_epochs(ax)
        ax.set_ylabel(family)
        ax.set_title(f"Training and validation {family}")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colour, label=name) for name, colour in plotted]
    handles += [
        Line2D([], [], color="black", linestyle="-", label="train"),
        Line2D([], [], color="black", linestyle="--", label="val"),
    ]
    axes[1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if missing:
        fig.suptitle(f"no curves for: {', '.join(missing)}", fontsize=8, color="darkred")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def per_class_png(per_class: pd.DataFrame, title: str) -> bytes:
    """Horizontal precision/recall/F1 bars per class; classes without test samples
    (``no_support``) are labelled so, since their zeros mean "undefined", not "wrong"."""
    names = per_class["class_name"].astype(str).tolist()
    if "no_support" in per_class.columns:
        absent = per_class["no_support"].astype(str).str.lower().eq("true").tolist()
    else:
        absent = (per_class["support"] == 0).tolist()
    labels = [f"{n} (no test samples)" if a else n for n, a in zip(names, absent, strict=True)]
    count = len(names)
    fig, ax = plt.subplots(figsize=(8, min(60.0, 1.2 + 0.42 * count)))
    positions = np.arange(count)
    height = 0.27
    for i, column in enumerate(("precision", "recall", "f1")):
        ax.barh(positions + (i - 1) * height, per_class[column], height, label=column)
    ax.set_yticks(positions, labels=labels, fontsize=max(5, min(9, int(500 / max(count, 1)))))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("score on the test split")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
