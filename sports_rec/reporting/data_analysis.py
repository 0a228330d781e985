"""Data-analysis figures of a run's splits (study 004's ``data_analysis.py``): what was
trained and tested on, from the run folder's ``splits.csv`` (one row per source item) and,
for clip data, ``clips.csv`` (one row per clip, ``used`` False for clips that class
downsampling removed). Written into ``<run>/analysis/``:

* ``split_statistics.csv`` / ``.md`` - per split: items (images or videos), groups
  (subjects), frames (when known), samples used (clips or images), samples removed by
  downsampling, classes present;
* ``class_distribution.png`` - samples per class and split; for clips also the training
  split before and after downsampling (the study's Fig 9);
* ``video_properties.png`` - duration, frame rate and frame size of the videos (videos only).

Training writes it for clip datasets; ``python -m sports_rec.reporting.data_analysis RUN_DIR``
for any run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

SPLITS = ("train", "valid", "test")


def split_statistics(splits: pd.DataFrame, clips: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per split present (see the module docstring); exact counts of the inputs."""
    rows = []
    present = [s for s in SPLITS if s in set(splits["split"])]
    for split in present:
        items = splits[splits["split"] == split]
        row = {
            "split": split,
            "items": len(items),
            "groups": int(items["group"].nunique()) if "group" in items.columns else len(items),
            "frames": int(items["num_frames"].sum()) if "num_frames" in items.columns else None,
        }
        if clips is not None:
            part = clips[clips["split"] == split]
            used = part[part["used"].astype(bool)] if "used" in part.columns else part
            row["samples"] = len(used)
            row["removed_by_downsampling"] = len(part) - len(used)
            row["classes"] = int(used["label"].nunique())
        else:
            row["samples"] = len(items)
            row["removed_by_downsampling"] = 0
            row["classes"] = int(items["label"].nunique())
        rows.append(row)
    return pd.DataFrame(rows)


def _class_names(frame: pd.DataFrame) -> dict[int, str]:
    if "class_name" in frame.columns:
        pairs = frame[["label", "class_name"]].drop_duplicates()
        return {int(k): str(v) for k, v in zip(pairs["label"], pairs["class_name"], strict=True)}
    return {int(k): str(k) for k in frame["label"].unique()}


def plot_class_distribution(splits: pd.DataFrame, clips: pd.DataFrame | None, path: Path) -> Path:
    """Grouped bars of samples per class and split (+ training before/after downsampling)."""
    samples = clips if clips is not None else splits
    names = _class_names(samples)
    labels = sorted(names)
    series: dict[str, np.ndarray] = {}
    for split in SPLITS:
        part = samples[samples["split"] == split]
        if part.empty:
            continue
        if clips is not None and "used" in part.columns:
            if (~part["used"].astype(bool)).any():
                counts = part["label"].value_counts()
                series["train (before downsampling)"] = np.array([counts.get(c, 0) for c in labels])
            part = part[part["used"].astype(bool)]
        counts = part["label"].value_counts()
        series[split] = np.array([counts.get(c, 0) for c in labels])
    fig, ax = plt.subplots(figsize=(max(7, 0.45 * len(labels) * max(len(series), 1) / 2 + 3), 4.5))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(labels))
    for k, (name, counts) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, counts, width, label=name)
    ax.set_xticks(
        x,
        [names[c] for c in labels],
        rotation=45 if len(labels) > 8 else 0,
        ha="right" if len(labels) > 8 else "center",
        fontsize=8,
    )
    unit = "clips" if clips is not None else "images"
    ax.set_ylabel(unit)
    ax.set_title(f"{unit} per class and split")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_video_properties(splits: pd.DataFrame, path: Path) -> Path:
    """Histograms of duration and frame rate, and a scatter of frame sizes, per split."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for split in SPLITS:
        part = splits[splits["split"] == split]
        if part.empty:
            continue
        duration = part["num_frames"] / part["fps"]
        axes[0].hist(duration, bins=20, alpha=0.6, label=split)
        axes[1].hist(part["fps"], bins=20, alpha=0.6, label=split)
        axes[2].scatter(part["width"], part["height"], alpha=0.6, label=split)
    axes[0].set_xlabel("duration (s)")
    axes[1].set_xlabel("frames per second")
    axes[2].set_xlabel("width (px)")
    axes[2].set_ylabel("height (px)")
    for ax, title in zip(axes, ("video duration", "frame rate", "frame size"), strict=True):
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_data_analysis(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the analysis of ``run_dir`` (module docstring); nothing without ``splits.csv``."""
    run = Path(run_dir)
    if not (run / "splits.csv").is_file():
        return []
    out = Path(out_dir) if out_dir is not None else run / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    splits = pd.read_csv(run / "splits.csv")
    clips = pd.read_csv(run / "clips.csv") if (run / "clips.csv").is_file() else None
    stats = split_statistics(splits, clips)
    stats.to_csv(out / "split_statistics.csv", index=False)
    (out / "split_statistics.md").write_text(stats.to_markdown(index=False) + "\n")
    written = [out / "split_statistics.csv", out / "split_statistics.md"]
    written.append(plot_class_distribution(splits, clips, out / "class_distribution.png"))
    if {"num_frames", "fps", "width", "height"} <= set(splits.columns):
        written.append(plot_video_properties(splits, out / "video_properties.png"))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    written = write_data_analysis(args.run_dir)
    if not written:
        parser.error(f"{args.run_dir} has no splits.csv: give a run folder")
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
