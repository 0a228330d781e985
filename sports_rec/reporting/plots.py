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

FAMILIES: dict[str, tuple[str, ...]] = {
    "loss": ("train/loss", "val/loss"),
    "accuracy": ("train/acc", "val/acc", "train/mean_class_acc", "val/mean_class_acc"),
    "lr": ("lr",),
    "throughput": ("train/samples_per_sec", "val/samples_per_sec"),
}


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
