"""Data-analysis figures of a run's splits (study 004's ``data_analysis.py``): what was
trained and tested on, from the run folder's ``splits.csv`` (one row per source item) and,
for clip data, ``clips.csv`` (one row per clip, ``used`` False for clips that class
downsampling removed). Written into ``<run>/analysis/``:

* ``split_statistics.csv`` / ``.md`` - per split: the split its items come from
  (``source``: ``test`` for a validation that is the test split), items (images or videos),
  groups (subjects; empty without a ``group`` column), frames (when known), samples used
  (clips or images), samples removed by downsampling, classes present;
* ``class_distribution.png`` - samples per class and split; for clips also a split before
  downsampling where some were removed (the study's Fig 9, training set after Class 1
  downsampling);
* ``video_properties.png`` - duration, frame rate and frame size of the videos (videos only).

Only the CSVs are read, so the analysis can be redrawn for any finished or crashed run.
Training writes it for clip datasets;
``python -m sports_rec.reporting.per_run.data_analysis RUN_DIR`` for any run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from sports_rec.errors import SportsRecError
from sports_rec.reporting.per_run.run_csv import read_run_table
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run_info import read_run_info

log = get_logger(__name__)

SPLITS = ("train", "valid", "test")
REQUIRED = ("path", "label", "split")  # what splits.csv and clips.csv must both hold
VIDEO_COLUMNS = ("num_frames", "fps", "width", "height")
MAX_FIGURE_WIDTH = 24.0  # inches: 100 classes x 4 bars stay one readable page


class AnalysisInputError(SportsRecError, ValueError):
    """A run folder's ``splits.csv`` / ``clips.csv`` that cannot be analysed."""


def read_table(path: Path) -> pd.DataFrame:
    """``path`` with the columns the datamodule writes, or an error saying what is wrong."""
    return read_run_table(
        path,
        REQUIRED,
        AnalysisInputError,
        "it is written by the datamodule when a run starts; re-run training, or restore the "
        "file from the run's copy",
        f"the analysis needs {', '.join(REQUIRED)} per row, as sports_rec.train writes them",
    )


def split_order(names: Iterable[str]) -> list[str]:
    """train, valid, test first, then any other split name found (never dropped)."""
    found = {n for n in names if isinstance(n, str)}
    return [s for s in SPLITS if s in found] + sorted(found - set(SPLITS))


def split_sources(
    splits: pd.DataFrame, clips: pd.DataFrame | None = None, val_is_test: bool | None = None
) -> dict[str, str]:
    """For every split, the ``splits.csv`` split its items come from.

    Normally the split itself; with ``data.val_split=test`` the validation samples are the
    test split's, so ``valid -> test``. Given ``val_is_test``, that decides; otherwise clips
    whose videos ``splits.csv`` assigns to one other split reveal it.
    """
    names = set(splits["split"]) | (set(clips["split"]) if clips is not None else set())
    sources = {s: s for s in split_order(names | ({"valid"} if val_is_test else set()))}
    if val_is_test:
        sources["valid"] = "test"
    elif clips is not None and val_is_test is None:
        for split in sources:
            paths = clips.loc[clips["split"] == split, "path"].unique()
            owners = set(splits.loc[splits["path"].isin(paths), "split"])
            if len(owners) == 1 and split not in owners:
                sources[split] = owners.pop()
    return sources


def _used(part: pd.DataFrame) -> pd.DataFrame:
    return part[part["used"].astype(bool)] if "used" in part.columns else part


def split_statistics(
    splits: pd.DataFrame, clips: pd.DataFrame | None = None, val_is_test: bool | None = None
) -> pd.DataFrame:
    """One row per split (module docstring); exact counts of the inputs, no estimates."""
    rows = []
    for split, source in split_sources(splits, clips, val_is_test).items():
        items = splits[splits["split"] == source]
        has_groups = "group" in items.columns and items["group"].notna().any()
        has_frames = "num_frames" in items.columns and items["num_frames"].notna().any()
        samples = items if clips is None else clips[clips["split"] == split]
        used = _used(samples)
        rows.append(
            {
                "split": split,
                "source": source,
                "items": len(items),
                "groups": int(items["group"].nunique()) if has_groups else pd.NA,
                "frames": int(items["num_frames"].sum()) if has_frames else pd.NA,
                "samples": len(used),
                "removed_by_downsampling": len(samples) - len(used),
                "classes": int(used["label"].nunique()),
            }
        )
    columns = ["split", "source", "items", "groups", "frames", "samples"]
    columns += ["removed_by_downsampling", "classes"]
    return pd.DataFrame(rows, columns=columns).astype({"groups": "Int64", "frames": "Int64"})


def class_counts(
    splits: pd.DataFrame, clips: pd.DataFrame | None = None, val_is_test: bool | None = None
) -> pd.DataFrame:
    """Samples per class (rows, by label) and series (columns): each split's used samples,
    preceded by ``<split> (before downsampling)`` where downsampling removed some."""
    samples = clips if clips is not None else splits
    labels = sorted(int(v) for v in samples["label"].dropna().unique())
    series: dict[str, pd.Series] = {}
    for split, source in split_sources(splits, clips, val_is_test).items():
        if clips is None:  # images: a split's samples are its source's rows
            part = splits[splits["split"] == source]
        else:
            part = clips[clips["split"] == split]
        if part.empty:
            continue
        name = split if source == split else f"{split} (= {source})"
        used = _used(part)
        if len(used) < len(part):
            series[f"{name} (before downsampling)"] = part["label"].value_counts()
        series[name] = used["label"].value_counts()
    table = pd.DataFrame(series).reindex(labels).fillna(0).astype(int)
    table.index.name = "label"
    return table


def _class_names(frame: pd.DataFrame) -> dict[int, str]:
    if "class_name" not in frame.columns:
        return {}
    pairs = frame[["label", "class_name"]].dropna().drop_duplicates("label")
    return {int(k): str(v) for k, v in zip(pairs["label"], pairs["class_name"], strict=True)}


def plot_class_distribution(
    splits: pd.DataFrame,
    clips: pd.DataFrame | None,
    path: Path,
    val_is_test: bool | None = None,
) -> Path:
    """Grouped bars of :func:`class_counts` (one group per class, one bar per series)."""
    counts = class_counts(splits, clips, val_is_test)
    names = _class_names(clips if clips is not None else splits)
    bars = max(len(counts.columns), 1)
    width_in = min(MAX_FIGURE_WIDTH, max(7.0, 0.12 * len(counts) * bars + 3))
    fig, ax = plt.subplots(figsize=(width_in, 4.5))
    width = 0.8 / bars
    x = np.arange(len(counts))
    for k, name in enumerate(counts.columns):
        ax.bar(x + (k - (bars - 1) / 2) * width, counts[name], width, label=name)
    rotate = len(counts) > 8
    ax.set_xticks(
        x,
        [names.get(c, str(c)) for c in counts.index],
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        fontsize=8 if len(counts) <= 30 else 5,
    )
    unit = "clips" if clips is not None else "images"
    ax.set_ylabel(unit)
    ax.set_title(f"{unit} per class and split")
    ax.grid(axis="y", alpha=0.3)
    if len(counts.columns):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def video_table(splits: pd.DataFrame) -> pd.DataFrame:
    """The videos whose properties are known (all four finite, fps > 0) with ``duration``
    in seconds; empty for image runs or when no video could be probed."""
    if not set(VIDEO_COLUMNS) <= set(splits.columns):
        return pd.DataFrame(columns=[*splits.columns, "duration"])
    values = splits[list(VIDEO_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    known = np.isfinite(values.to_numpy(float)).all(axis=1) & (values["fps"] > 0).to_numpy()
    videos = splits[known].copy()
    videos["duration"] = values.loc[known, "num_frames"] / values.loc[known, "fps"]
    return videos


def plot_video_properties(splits: pd.DataFrame, path: Path) -> Path:
    """Stacked histograms of duration and frame rate (bins shared by the splits, so bar
    heights add up to video counts) and the frame sizes, marker area by count."""
    videos = video_table(splits)
    order = split_order(videos["split"])
    parts = [videos[videos["split"] == s] for s in order]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, column, label in ((axes[0], "duration", "duration (s)"), (axes[1], "fps", "fps")):
        values = videos[column].astype(float)
        edges = np.histogram_bin_edges(values, bins=min(20, max(5, len(values))))
        ax.hist([p[column].astype(float) for p in parts], bins=edges, stacked=True, label=order)
        ax.set_xlabel(label)
        ax.set_ylabel("videos")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    for split, part in zip(order, parts, strict=True):
        sizes = part.groupby(["width", "height"]).size()
        widths, heights = sizes.index.get_level_values(0), sizes.index.get_level_values(1)
        axes[2].scatter(widths, heights, s=20 + 15 * sizes.to_numpy(), alpha=0.6, label=split)
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


def _val_is_test(run: Path) -> bool | None:
    """The run record's ``val_is_test`` (None when absent or unreadable: then inferred)."""
    try:
        info = read_run_info(run)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        log.warning("%s/run_info.json is unreadable (%s): split sources inferred", run, error)
        return None
    value = (info or {}).get("val_is_test")
    return bool(value) if value is not None else None


def write_data_analysis(
    run_dir: str | Path, out_dir: str | Path | None = None, val_is_test: bool | None = None
) -> list[Path]:
    """Write the analysis of ``run_dir`` (module docstring) into ``out_dir``
    (``<run>/analysis``); nothing without ``splits.csv``. ``val_is_test`` (validation = the
    test split) defaults to the run record's, else is inferred from ``clips.csv``."""
    run = Path(run_dir)
    if not (run / "splits.csv").is_file():
        return []
    splits = read_table(run / "splits.csv")
    clips = read_table(run / "clips.csv") if (run / "clips.csv").is_file() else None
    if val_is_test is None:
        val_is_test = _val_is_test(run)
    out = Path(out_dir) if out_dir is not None else run / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    stats = split_statistics(splits, clips, val_is_test)
    stats.to_csv(out / "split_statistics.csv", index=False)
    shown = stats.astype(object).where(stats.notna(), "")
    markdown = shown.to_markdown(index=False, tablefmt="pipe", disable_numparse=True)
    (out / "split_statistics.md").write_text(markdown + "\n")
    written = [out / "split_statistics.csv", out / "split_statistics.md"]
    written.append(
        plot_class_distribution(splits, clips, out / "class_distribution.png", val_is_test)
    )
    if not video_table(splits).empty:
        written.append(plot_video_properties(splits, out / "video_properties.png"))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        written = write_data_analysis(args.run_dir)
    except SportsRecError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    if not written:
        parser.error(f"{args.run_dir} has no splits.csv: give a run folder")
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
