"""The training figures of one run folder (study 004's ``plot_training.py`` set), drawn from
the run's CSVs only, so they can be redrawn at any time:

* from ``metrics.csv`` - ``loss.png``, ``accuracy.png``, ``lr.png`` ... (:func:`plot_curves`)
  and ``combined.png``: loss, accuracy, the generalisation gap (train minus validation
  accuracy per epoch) and the learning rate on one page;
* from ``per_class_accuracy.csv`` - ``per_class_accuracy.png`` (every class over epochs),
  ``per_class_accuracy_top10.png`` (the classes with the best final accuracy),
  ``per_class_heatmap.png`` (classes x epochs; grey = no sample that epoch) and
  ``final_class_comparison.png`` (the last epoch's accuracy per class, sorted, support in
  the label; classes without a sample are marked, not drawn as 0).

``python -m sports_rec.reporting.per_run.training_figures RUN_DIR [--split val] [--top-classes 10]``
draws them into ``RUN_DIR/plots/``; training draws the ``metrics.csv`` figures at the end of
fitting, and the per-class ones with ``callbacks.epoch_metrics.per_class_plots=true`` (on
in the exercise-video recipes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sports_rec.errors import SportsRecError
from sports_rec.reporting.per_run.curves import integer_epochs, plot_curves
from sports_rec.reporting.per_run.run_csv import read_run_table
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)
LEGEND_LIMIT = 20  # classes named in a legend; beyond it the lines stay unlabelled
PER_CLASS_COLUMNS = ("epoch", "split", "class_id", "class_name", "accuracy", "support")


class PlotInputError(SportsRecError, ValueError):
    """A run folder's ``metrics.csv`` / ``per_class_accuracy.csv`` that cannot be plotted."""


def read_run_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """``path`` with the ``required`` columns, or an error naming the file and the fix."""
    return read_run_table(
        path,
        required,
        PlotInputError,
        "training writes it every epoch; delete it to skip its figures, or re-run training",
        "give a file written by sports_rec.train",
    )


def generalisation_gap(frame: pd.DataFrame) -> pd.DataFrame:
    """``epoch, gap``: training minus validation accuracy per epoch (both present)."""
    if not {"train/acc", "val/acc"} <= set(frame.columns):
        return pd.DataFrame(columns=["epoch", "gap"])
    rows = frame[["epoch", "train/acc", "val/acc"]].dropna()
    return pd.DataFrame({"epoch": rows["epoch"], "gap": rows["train/acc"] - rows["val/acc"]})


def plot_combined(frame: pd.DataFrame, path: Path) -> Path:
    """Loss, accuracy, generalisation gap and learning rate of ``metrics.csv`` on one page."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    panels = [
        (axes[0, 0], ("train/loss", "val/loss"), "loss"),
        (axes[0, 1], ("train/acc", "val/acc"), "accuracy"),
    ]
    for ax, columns, name in panels:
        for column in columns:
            if column in frame.columns and frame[column].notna().any():
                rows = frame[["epoch", column]].dropna()
                ax.plot(rows["epoch"], rows[column], marker="o", label=column)
        ax.set_title(name)
        ax.legend(fontsize=8)
    gap = generalisation_gap(frame)
    axes[1, 0].plot(gap["epoch"], gap["gap"], marker="o", color="tab:red")
    axes[1, 0].axhline(0, color="0.4", linewidth=1)
    axes[1, 0].set_title("generalisation gap (train acc - val acc)")
    if "lr" in frame.columns and frame["lr"].notna().any():
        rows = frame[["epoch", "lr"]].dropna()
        axes[1, 1].plot(rows["epoch"], rows["lr"], marker="o", color="tab:green")
        axes[1, 1].set_yscale("log")
    axes[1, 1].set_title("learning rate")
    for ax in axes.flat:
        ax.set_xlabel("epoch")
        integer_epochs(ax)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_table(per_class: pd.DataFrame, split: str = "val") -> pd.DataFrame:
    """Classes x epochs accuracy of one split (NaN: no sample of the class that epoch)."""
    rows = per_class[per_class["split"] == split]
    table = rows.pivot_table(
        index="class_name", columns="epoch", values="accuracy", aggfunc="first", dropna=False
    )
    order = rows.drop_duplicates("class_name").sort_values("class_id")["class_name"]
    return table.reindex([c for c in order if c in table.index])


def top_classes(per_class: pd.DataFrame, k: int = 10, split: str = "val") -> list[str]:
    """The ``k`` classes with the highest accuracy at the last epoch (classes without a
    sample then come last, in class order)."""
    table = accuracy_table(per_class, split)
    if table.empty:
        return []
    final = table[table.columns.max()]
    ranked = final.sort_values(ascending=False, na_position="last", kind="stable")
    return list(ranked.index[: max(0, int(k))])


def _lines(table: pd.DataFrame, classes: list[str], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(10, 5.5))
    labelled = len(classes) <= LEGEND_LIMIT
    colours = plt.get_cmap("tab20").colors  # 10 default colours would repeat for 17 classes
    styles = ("-", "--", ":")
    for i, name in enumerate(classes):
        ax.plot(
            table.columns,
            table.loc[name],
            marker=".",
            color=colours[i % len(colours)],
            linestyle=styles[(i // len(colours)) % len(styles)],
            label=name if labelled else None,
        )
    ax.set_xlabel("epoch")
    integer_epochs(ax)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title if labelled else f"{title} ({len(classes)} classes, legend omitted)")
    if labelled and classes:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_per_class(
    per_class_csv: str | Path, out_dir: str | Path, split: str = "val", top: int = 10
) -> list[Path]:
    """The four per-class figures (module docstring) of ``split``; none if it has no rows."""
    per_class = read_run_csv(Path(per_class_csv), PER_CLASS_COLUMNS)
    table = accuracy_table(per_class, split)
    if table.empty:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    classes = list(table.index)
    best = top_classes(per_class, top, split)
    written = [
        _lines(table, classes, out / "per_class_accuracy.png", f"{split} accuracy per class"),
        _lines(
            table,
            best,
            out / f"per_class_accuracy_top{top}.png",
            f"{split} accuracy: the {len(best)} best classes at the last epoch",
        ),
    ]

    fig, ax = plt.subplots(
        figsize=(max(6, 0.35 * table.shape[1] + 3), max(3, 0.25 * len(classes) + 1.5))
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    image = ax.imshow(
        np.ma.masked_invalid(table.to_numpy(float)), aspect="auto", cmap=cmap, vmin=0, vmax=1
    )
    ax.set_yticks(range(len(classes)), classes, fontsize=7 if len(classes) <= 40 else 4)
    ax.set_xticks(range(table.shape[1]), [str(e) for e in table.columns], fontsize=7)
    ax.set_xlabel("epoch")
    ax.set_title(f"{split} accuracy per class and epoch (grey: no sample)")
    fig.colorbar(image, ax=ax, label="accuracy")
    fig.tight_layout()
    written.append(out / "per_class_heatmap.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    last = per_class[(per_class["split"] == split) & (per_class["epoch"] == table.columns.max())]
    last = last.sort_values("accuracy", ascending=True, na_position="first", kind="stable")
    fig, ax = plt.subplots(figsize=(8, max(3, 0.28 * len(last) + 1.5)))
    labels = [f"{r.class_name} (n={int(r.support)})" for r in last.itertuples()]
    values = last["accuracy"].fillna(0).to_numpy()
    colours = ["0.8" if np.isnan(a) else "tab:blue" for a in last["accuracy"]]
    ax.barh(range(len(last)), values, color=colours)
    for i, acc in enumerate(last["accuracy"]):
        ax.text(
            0.01 if np.isnan(acc) else acc + 0.01,
            i,
            "no samples" if np.isnan(acc) else f"{acc:.2f}",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(range(len(last)), labels, fontsize=7 if len(last) <= 40 else 4)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("accuracy")
    ax.set_title(f"{split} accuracy per class at epoch {table.columns.max()}")
    fig.tight_layout()
    written.append(out / "final_class_comparison.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def plot_run(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    split: str = "val",
    top_classes: int = 10,
    per_class: bool = True,
) -> list[Path]:
    """Every figure whose input exists in ``run_dir`` into ``out_dir`` (``<run>/plots``);
    missing inputs are skipped, not errors."""
    run = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run / "plots"
    written: list[Path] = []
    metrics = run / "metrics.csv"
    if metrics.is_file():
        frame = read_run_csv(metrics, ("epoch",))
        written += plot_curves(metrics, out)
        if len(frame):
            written.append(plot_combined(frame, out / "combined.png"))
    per_class_csv = run / "per_class_accuracy.csv"
    if per_class and per_class_csv.is_file():
        written += plot_per_class(per_class_csv, out, split, top_classes)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--split", default="val", choices=["train", "val"])
    parser.add_argument("--top-classes", type=int, default=10)
    args = parser.parse_args(argv)
    if not args.run_dir.is_dir():
        parser.error(f"{args.run_dir} is not a run folder")
    try:
        written = plot_run(args.run_dir, split=args.split, top_classes=args.top_classes)
    except SportsRecError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
