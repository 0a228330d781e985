"""Training figures and data analysis of a run folder, from hand-made CSVs: the numbers
(generalisation gap, top classes, split statistics) are checked directly, the figures by
being written and readable; missing inputs are skipped, NaN and 100 classes handled."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sports_rec.reporting.per_run.curves import integer_epochs
from sports_rec.reporting.per_run.data_analysis import (
    AnalysisInputError,
    class_counts,
    main,
    split_statistics,
    video_table,
    write_data_analysis,
)
from sports_rec.reporting.per_run.training_figures import generalisation_gap, plot_run, top_classes


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
        "source": "train",
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
    # no group column: groups unknown (empty), not one group per image
    assert stats["groups"].isna().all() and stats["frames"].isna().all()
    markdown = (images / "analysis" / "split_statistics.md").read_text()
    assert "<NA>" not in markdown and "nan" not in markdown


def test_class_counts_show_the_training_split_before_and_after_downsampling(
    tmp_path: Path,
) -> None:
    splits_and_clips(tmp_path)
    counts = class_counts(pd.read_csv(tmp_path / "splits.csv"), pd.read_csv(tmp_path / "clips.csv"))
    assert list(counts.columns) == ["train (before downsampling)", "train", "valid", "test"]
    assert counts.loc[1].tolist() == [8, 5, 0, 2]
    assert counts.loc[2].tolist() == [4, 4, 1, 0]
    assert counts.loc[3].tolist() == [0, 0, 0, 3]


def test_validation_that_is_the_test_split_counts_the_test_videos(tmp_path: Path) -> None:
    """data.val_split=test: clips.csv's valid clips are cut from the test videos, so the
    valid row counts those videos (source test), not the unused on-disk valid video."""
    splits_and_clips(tmp_path)
    clips = pd.read_csv(tmp_path / "clips.csv")
    test_clips = clips[clips["split"] == "test"]
    clips = pd.concat([clips[clips["split"] != "valid"], test_clips.assign(split="valid")])
    splits = pd.read_csv(tmp_path / "splits.csv")
    for given in (None, True):  # inferred from the clips' videos, or stated
        stats = split_statistics(splits, clips, val_is_test=given).set_index("split")
        assert stats.loc["valid", ["source", "items", "frames", "samples"]].tolist() == [
            "test",
            1,
            80,
            5,
        ]
    assert "valid (= test)" in class_counts(splits, clips).columns
    # an image run stating it (run_info.json) without any valid image on disk
    images = tmp_path / "images"
    images.mkdir()
    pd.DataFrame(
        {"path": ["x", "y", "z"], "label": [0, 1, 1], "split": ["train", "test", "test"]}
    ).to_csv(images / "splits.csv", index=False)
    (images / "run_info.json").write_text('{"val_is_test": true}')
    write_data_analysis(images)
    stats = pd.read_csv(images / "analysis" / "split_statistics.csv")
    assert stats["split"].tolist() == ["train", "valid", "test"]
    assert stats.set_index("split").loc["valid", ["source", "items"]].tolist() == ["test", 2]


def test_unknown_split_names_are_kept_after_the_known_ones() -> None:
    splits = pd.DataFrame(
        {"path": list("abcd"), "label": [0, 0, 1, 1], "split": ["val", "train", "test", "val"]}
    )
    stats = split_statistics(splits)
    assert stats["split"].tolist() == ["train", "test", "val"]
    assert stats.set_index("split").loc["val", "items"] == 2


def test_videos_without_known_properties_are_left_out_of_their_figure(tmp_path: Path) -> None:
    splits = pd.DataFrame(
        {
            "path": ["a", "b", "c"],
            "label": [0, 1, 1],
            "split": ["train", "train", "test"],
            "num_frames": [90, 100, np.nan],
            "fps": [30.0, 0.0, 25.0],
            "width": [48, 48, 64],
            "height": [64, 64, 80],
        }
    )
    videos = video_table(splits)
    assert videos["path"].tolist() == ["a"] and videos["duration"].tolist() == [3.0]
    unknown = splits.assign(fps=np.nan)
    unknown.to_csv(tmp_path / "splits.csv", index=False)
    names = {p.name for p in write_data_analysis(tmp_path)}
    assert "video_properties.png" not in names and "class_distribution.png" in names


def test_a_hundred_classes_keep_the_class_distribution_one_page(tmp_path: Path) -> None:
    labels = np.repeat(np.arange(100), 3)
    pd.DataFrame(
        {
            "path": [f"{i}.jpg" for i in range(300)],
            "label": labels,
            "split": np.tile(["train", "valid", "test"], 100),
            "class_name": [f"sport {c}" for c in labels],
        }
    ).to_csv(tmp_path / "splits.csv", index=False)
    write_data_analysis(tmp_path)
    with Image.open(tmp_path / "analysis" / "class_distribution.png") as image:
        assert image.width <= 24 * 110
    stats = pd.read_csv(tmp_path / "analysis" / "split_statistics.csv").set_index("split")
    assert stats["classes"].tolist() == [100, 100, 100]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,split\na.jpg,train\n", "no column(s) label"),
        ("", "not a readable CSV"),
    ],
)
def test_unusable_splits_csv_raises_naming_the_file(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "splits.csv").write_text(content)
    with pytest.raises(AnalysisInputError, match=re.escape(message)) as caught:
        write_data_analysis(tmp_path)
    assert str(tmp_path / "splits.csv") in str(caught.value)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 1
    assert message in capsys.readouterr().err


def test_clips_csv_without_a_split_column_raises(tmp_path: Path) -> None:
    splits_and_clips(tmp_path)
    clips = pd.read_csv(tmp_path / "clips.csv").drop(columns="split")
    clips.to_csv(tmp_path / "clips.csv", index=False)
    with pytest.raises(AnalysisInputError, match=r"clips\.csv has no column\(s\) split"):
        write_data_analysis(tmp_path)


def test_epoch_ticks_are_whole_epochs() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.1, 0.2, 0.3])
    integer_epochs(ax)
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if 0 <= t <= 2]
    plt.close(fig)
    assert ticks == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(("epochs", "shown"), [([0], ["0"]), ([0, 1], ["0", "1"])])
def test_one_or_two_epoch_runs_get_a_readable_epoch_axis(
    epochs: list[int], shown: list[str]
) -> None:
    """One point used to get ticks -0.045 ... 0.045: fractions of an epoch around a dot."""
    fig, ax = plt.subplots()
    ax.plot(epochs, [0.5] * len(epochs), marker="o")
    integer_epochs(ax)
    fig.canvas.draw()
    low, high = ax.get_xlim()
    labels = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    plt.close(fig)
    assert labels == shown
    assert low <= epochs[0] - 0.4 and high >= epochs[-1] + 0.4  # the dots are not at the edge


def test_a_broken_per_class_csv_is_a_message_naming_it(tmp_path: Path) -> None:
    from sports_rec.reporting.per_run.training_figures import PlotInputError

    (tmp_path / "per_class_accuracy.csv").write_text("epoch,accuracy\n0,0.5\n")
    with pytest.raises(PlotInputError, match=r"per_class_accuracy.csv has no column\(s\) split"):
        plot_run(tmp_path)
    (tmp_path / "per_class_accuracy.csv").write_text("")
    with pytest.raises(PlotInputError, match="is not a readable CSV"):
        plot_run(tmp_path)
