"""Training curves rendered from a run's ``metrics.csv`` (never from a logger's files).

``plots/loss.png``, ``plots/accuracy.png`` and ``plots/lr.png``; any further metric family
present in the CSV (e.g. ``samples_per_sec``) gets its own plot.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

FAMILIES: dict[str, tuple[str, ...]] = {
    "loss": ("train/loss", "val/loss"),
    "accuracy": ("train/acc", "val/acc", "train/mean_class_acc", "val/mean_class_acc"),
    "lr": ("lr",),
    "throughput": ("train/samples_per_sec", "val/samples_per_sec"),
}


def integer_epochs(ax: Axes) -> None:
    """Epoch ticks at whole epochs: a 3-epoch run otherwise reads 0.25, 0.5 ... epochs.

    Call it after plotting. A 1- or 2-epoch run also gets half an epoch of room on each
    side: matplotlib's 5 % margin around one point spans -0.05..0.05, where the only whole
    number is 0 and the default ticks read -0.045 ... 0.045.
    """
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    low, high = ax.get_xlim()
    if high - low < 2:
        middle, half = (low + high) / 2, (high - low) / 2 + 0.45
        ax.set_xlim(middle - half, middle + half)


def plot_curves(metrics_csv: str | Path, out_dir: str | Path) -> list[Path]:
    """Render one PNG per metric family found in ``metrics_csv``; return the files."""
    frame = pd.read_csv(metrics_csv)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for family, columns in FAMILIES.items():
        present = [c for c in columns if c in frame.columns and frame[c].notna().any()]
        if not present:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for column in present:
            rows = frame[["epoch", column]].dropna()
            ax.plot(rows["epoch"], rows[column], marker="o", label=column)
        ax.set_xlabel("epoch")
        integer_epochs(ax)
        ax.set_ylabel(family)
        if family == "lr":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out / f"{family}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def plot_weight_norms(norms_csv: str | Path, out_dir: str | Path) -> list[Path]:
    """The plots of ``weight_norms.csv`` (see :mod:`sports_rec.callbacks.weight_norms`):

    * ``weight_norms_layers.png`` - L1 and L2 per layer (in network order) before training,
      after the first and after the last epoch (study 000's Fig 2);
    * ``weight_norms_head.png`` - the head layers' L1 and L2 over epochs (its Fig 5);
    * ``weight_norms_total.png`` - L1 and L2 of all weights together over epochs (its Fig 7).
    """
    frame = pd.read_csv(norms_csv)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    epochs = sorted(frame["epoch"].unique())
    layers = list(dict.fromkeys(frame["layer"]))  # network order

    chosen = [e for e in (-1, epochs[min(1, len(epochs) - 1)], epochs[-1]) if e in epochs]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharex=True)
    for ax, norm in zip(axes, ("l1", "l2"), strict=True):
        for epoch in dict.fromkeys(chosen):
            rows = frame[frame["epoch"] == epoch].set_index("layer").reindex(layers)
            label = "before training" if epoch == -1 else f"epoch {epoch}"
            ax.plot(range(len(layers)), rows[norm], label=label)
        ax.set_yscale("log")
        ax.set_xlabel("layer (network order)")
        ax.set_ylabel(f"{norm.upper()} norm")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Weight norms per layer")
    fig.tight_layout()
    written.append(out / "weight_norms_layers.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)

    head = frame[frame["head"].astype(bool)]
    if not head.empty:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        for ax, norm in zip(axes, ("l1", "l2"), strict=True):
            for layer, rows in head.groupby("layer", sort=False):
                ax.plot(rows["epoch"], rows[norm], marker="o", label=layer)
            ax.set_xlabel("epoch (-1: before training)")
            integer_epochs(ax)
            ax.set_ylabel(f"{norm.upper()} norm")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle("Head (dense) layers: weight norms over epochs")
        fig.tight_layout()
        written.append(out / "weight_norms_head.png")
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)

    totals = frame.assign(l2sq=frame["l2"] ** 2).groupby("epoch")[["l1", "l2sq"]].sum()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].plot(totals.index, totals["l1"], marker="o")
    axes[1].plot(totals.index, totals["l2sq"] ** 0.5, marker="o")
    for ax, name in zip(axes, ("L1 (sum |w|)", "L2 (sqrt sum w^2)"), strict=True):
        ax.set_xlabel("epoch (-1: before training)")
        integer_epochs(ax)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    fig.suptitle("All weights: norms over epochs")
    fig.tight_layout()
    written.append(out / "weight_norms_total.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written
