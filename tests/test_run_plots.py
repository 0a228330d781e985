"""Training figures and data analysis of a run folder, from hand-made CSVs: the numbers
(generalisation gap, top classes, split statistics) are checked directly, the figures by
being written and readable; missing inputs are skipped, NaN and 100 classes handled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sports_rec.reporting.data_analysis import split_statistics, write_data_analysis
from sports_rec.reporting.run_plots import generalisation_gap, plot_run, top_classes


def metrics_csv(run: Path) -> None:
    pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "step": [5, 10, 15],
            "lr": [1e-3, 5e-4, 1e-4],
            "train/loss": [1.2, 0.8, 0.5],
            "val/loss": [1.3, 1.0, 0.9],
            "train/acc": [0.5, 0.7, 0.9],
            "val/acc": [0.45, 0.6, 0.65],
        }
    ).to_csv(run / "metrics.csv", index=False)


def per_class_csv(run: Path, classes: int = 4, epochs: int = 3) -> pd.DataFrame:
    rows = []
    for epoch in range(epochs):
        for c in range(classes):
            accuracy = np.nan if c == 3 else (c + 1) / (classes + 1) + 0.01 * epoch
            for split in ("train", "val"):
                rows.append(
                    {
                        "epoch": epoch,
                        "split": split,
                        "class_id": c,
                        "class_name": f"class{c}",
                        "accuracy": accuracy,
                        "support": 0 if np.isnan(accuracy) else 10,
                    }
                )
    frame = pd.DataFrame(rows)
    frame.to_csv(run / "per_class_accuracy.csv", index=False)
    return frame


def test_generalisation_gap_is_train_minus_val_accuracy() -> None:
    frame = pd.DataFrame(
        {"epoch": [0, 1, 2], "train/acc": [0.5, 0.7, np.nan], "val/acc": [0.4, 0.75, 0.8]}
    )
    gap = generalisation_gap(frame)
    assert gap["epoch"].tolist() == [0, 1]
    assert gap["gap"].tolist() == pytest.approx([0.1, -0.05])
    assert generalisation_gap(pd.DataFrame({"epoch": [0]})).empty


def test_top_classes_rank_the_last_epoch_and_put_classes_without_samples_last(
    tmp_path: Path,
) -> None:
    frame = per_class_csv(tmp_path)
    assert top_classes(frame, k=2) == ["class2", "class1"]
    assert top_classes(frame, k=10) == ["class2", "class1", "class0", "class3"]
    assert top_classes(frame[frame["split"] == "train"], k=2, split="val") == []


def test_plot_run_draws_what_its_inputs_allow(tmp_path: Path) -> None:
    assert plot_run(tmp_path) == []  # an empty folder: nothing, no error
    metrics_csv(tmp_path)
    names = {p.name for p in plot_run(tmp_path)}
    assert {"loss.png", "accuracy.png", "lr.png", "combined.png"} <= names
    assert "per_class_heatmap.png" not in names
    per_class_csv(tmp_path)
    names = {p.name for p in plot_run(tmp_path, top_classes=2)}
    assert {
        "per_class_accuracy.png",
        "per_class_accuracy_top2.png",
        "per_class_heatmap.png",
        "final_class_comparison.png",
    } <= names
    for name in names:
        with Image.open(tmp_path / "plots" / name) as image:
            image.verify()
    assert "per_class_heatmap.png" not in {p.name for p in plot_run(tmp_path, per_class=False)}


def test_a_hundred_classes_do_not_crash_and_drop_the_legend(tmp_path: Path) -> None:
    per_class_csv(tmp_path, classes=100, epochs=2)
    written = plot_run(tmp_path)
    assert len(written) == 4 and all(p.stat().st_size > 0 for p in written)


def splits_and_clips(run: Path) -> None:
    pd.DataFrame(
        {
            "path": ["a.mp4", "b.mp4", "c.mp4", "d.mp4"],
            "label": [-1, -1, -1, -1],
            "split": ["train", "train", "test", "valid"],
            "group": ["s1", "s2", "s3", "s2b"],
            "num_frames": [100, 60, 80, 40],
            "fps": [30.0, 30.0, 25.0, 30.0],
            "width": [48, 48, 64, 48],
            "height": [64, 64, 80, 64],
        }
    ).to_csv(run / "splits.csv", index=False)
    clips = [("a.mp4", "train", 1, True)] * 5 + [("a.mp4", "train", 1, False)] * 3
    clips += [("b.mp4", "train", 2, True)] * 4 + [("c.mp4", "test", 1, True)] * 2
    clips += [("c.mp4", "test", 3, True)] * 3 + [("d.mp4", "valid", 2, True)]
    pd.DataFrame(
        [
            {
                "path": p,
                "split": s,
                "label": c,
                "used": u,
                "class_name": f"c{c}",
                "group": p[0],
                "start_frame": 0,
            }
            for p, s, c, u in clips
        ]
    ).to_csv(run / "clips.csv", index=False)


def test_split_statistics_count_items_groups_frames_and_removed_clips(tmp_path: Path) -> None:
    splits_and_clips(tmp_path)
    stats = split_statistics(
        pd.read_csv(tmp_path / "splits.csv"), pd.read_csv(tmp_path / "clips.csv")
    ).set_index("split")
    assert list(stats.index) == ["train", "valid", "test"]
    assert stats.loc["train"].to_dict() == {
        "items": 2,
        "groups": 2,
        "frames": 160,
        "samples": 9,
        "removed_by_downsampling": 3,
        "classes": 2,
    }
    assert stats.loc["test", "samples"] == 5 and stats.loc["test", "classes"] == 2
    assert stats.loc["valid", "frames"] == 40


def test_write_data_analysis_for_clips_and_for_images(tmp_path: Path) -> None:
    assert write_data_analysis(tmp_path) == []
    splits_and_clips(tmp_path)
    names = {p.name for p in write_data_analysis(tmp_path)}
    assert names == {
        "split_statistics.csv",
        "split_statistics.md",
        "class_distribution.png",
        "video_properties.png",
    }
    assert "| train" in (tmp_path / "analysis" / "split_statistics.md").read_text()
    images = tmp_path / "images"
    images.mkdir()
    pd.DataFrame(
        {
            "path": ["x.jpg", "y.jpg", "z.jpg"],
            "label": [0, 1, 1],
            "split": ["train", "train", "test"],
            "class_name": ["a", "b", "b"],
        }
    ).to_csv(images / "splits.csv", index=False)
    names = {p.name for p in write_data_analysis(images)}
    assert names == {"split_statistics.csv", "split_statistics.md", "class_distribution.png"}
    stats = pd.read_csv(images / "analysis" / "split_statistics.csv").set_index("split")
    assert stats.loc["train", "samples"] == 2 and stats.loc["train", "classes"] == 2
