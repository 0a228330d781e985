"""Exercise-video data: clip cutting, labels, downsampling, poses/masks/attention, the reader
on the synthetic layout and every bad-input case (each built by breaking one thing in a copy).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sports_rec.data.clips import (
    clip_labels,
    clip_starts,
    downsample_class,
    make_clips,
    read_frame_labels,
    video_frame_labels,
)
from sports_rec.data.formats.exercise_video import (
    ExerciseVideoLayout,
    VideoIndexTable,
    dominant_class,
    read_exercise_video,
)
from sports_rec.data.formats.exercise_video_layout import COCO_JOINTS
from sports_rec.data.index import DatasetLayoutError
from sports_rec.data.io.video_io import read_frames, write_video
from sports_rec.data.poses import (
    load_mask_frames,
    read_pose_csv,
    resize_keypoints,
    skeleton_attention,
)
from sports_rec.data.synthetic.exercise_video import frame_width, write_exercise_video
from sports_rec.errors import ConfigError

LAYOUT = ExerciseVideoLayout()
CLASSES = 6  # ids 0..5, class 0 absent as in the study


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small synthetic set for the module: 4 train + 2 test subjects, 32 px."""
    out = tmp_path_factory.mktemp("exercise_video")
    write_exercise_video(out, CLASSES, per_class=40, eval_per_class=24, size=32, seed=0)
    return out


@pytest.fixture
def copy(synthetic: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic set that a test may break."""
    return Path(shutil.copytree(synthetic, tmp_path / "data"))


def read(root: Path, **options: object) -> VideoIndexTable:
    return read_exercise_video(root, num_classes=CLASSES, **options)


def videos_table(lengths: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": list(lengths),
            "label": 0,
            "split": "train",
            "group": [f"g{i}" for i in range(len(lengths))],
            "num_frames": list(lengths.values()),
            "mask_dir": None,
            "pose_path": "poses.csv",
        }
    )


# ---------------------------------------------------------------- clips (hand computations)


def test_clip_starts_by_hand() -> None:
    assert clip_starts(40, 16, 8).tolist() == [0, 8, 16, 24]
    assert clip_starts(40, 16, 16).tolist() == [0, 16]
    assert clip_starts(41, 16, 8).tolist() == [0, 8, 16, 24]  # 32 + 16 > 41
    assert clip_starts(15, 16, 8).tolist() == []


def test_label_rules_at_a_segment_boundary() -> None:
    # 7 frames of class 2, 3 of class 3, then class 4: the first clip has 7x2, 3x3, 6x4 and
    # its centre frame (8) is class 3.
    labels = np.array([2] * 7 + [3] * 3 + [4] * 30)
    starts = clip_starts(40, 16, 8)
    assert clip_labels(labels, starts, 16, "majority").tolist() == [2, 4, 4, 4]
    assert clip_labels(labels, starts, 16, "centre").tolist() == [3, 4, 4, 4]


def test_majority_ties_go_to_the_centre_frame_else_the_lowest_id() -> None:
    start = np.array([0])
    assert clip_labels(np.array([1] * 8 + [2] * 8), start, 16).tolist() == [2]
    # 1 and 2 tie at 6 frames; the centre frame (8) is class 3, not tied: lowest id wins.
    assert clip_labels(np.array([1] * 6 + [3] * 4 + [2] * 6), start, 16).tolist() == [1]


def test_background_options() -> None:
    videos = videos_table({"a.mp4": 40})
    labels = {"a.mp4": np.array([-1] * 20 + [5] * 20)}
    # clip 0: all background; clip 8: 12 background + 4 class 5; clips 16 and 24: mostly 5.
    excluded = make_clips(videos, labels, 16, 8, background="exclude", num_classes=17)
    assert excluded["start_frame"].tolist() == [16, 24]
    assert excluded["label"].tolist() == [5, 5]
    as_class = make_clips(videos, labels, 16, 8, background="class", num_classes=17)
    assert as_class["start_frame"].tolist() == [0, 8, 16, 24]
    assert as_class["label"].tolist() == [17, 17, 5, 5]


def test_make_clips_columns_strides_and_video_end() -> None:
    videos = videos_table({"a.mp4": 40, "b.mp4": 30})
    labels = {"a.mp4": np.full(40, 3), "b.mp4": np.full(40, 4)}  # b: labels longer than video
    train = make_clips(videos, labels, clip_len=16, stride=8)
    assert train[["path", "start_frame"]].values.tolist() == [
        ["a.mp4", 0], ["a.mp4", 8], ["a.mp4", 16], ["a.mp4", 24], ["b.mp4", 0], ["b.mp4", 8],
    ]  # fmt: skip
    assert train["label"].tolist() == [3, 3, 3, 3, 4, 4]
    assert list(train.columns[:5]) == ["path", "group", "split", "start_frame", "label"]
    assert set(train["group"]) == {"g0", "g1"} and set(train["pose_path"]) == {"poses.csv"}
    assert train["mask_dir"].isna().all()
    test = make_clips(videos, labels, clip_len=16, stride=16)
    assert test[["path", "start_frame"]].values.tolist() == [
        ["a.mp4", 0],
        ["a.mp4", 16],
        ["b.mp4", 0],
    ]


def test_read_frame_labels_with_and_without_header(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("frame_number, column1, column2\n0, 0, -1\n1, 0, 3\n3, 1, 3\n")
    assert read_frame_labels(path, LAYOUT).tolist() == [-1, 3, -1, 3]  # frame 2 missing
    path.write_text("1,0,4\n2,0,-1\n")  # no header, counted from 1
    assert read_frame_labels(path, LAYOUT).tolist() == [4, -1]
    assert read_frame_labels(path, ExerciseVideoLayout(label_frame_base=0)).tolist() == [-1, 4, -1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the label file is empty"),
        ("frame_number,column1,column2\n", "header but no rows"),
        ("0,0\n1,0\n", "2 columns and no header.*label_columns"),
        ("0,0,1\n1,0,x\n", "line 2: 'column2' value 'x' is not an integer"),
        ("0,0,1.5\n", "line 1: 'column2' value '1.5' is not an integer"),
        ("5,0,1\n6,0,1\n", "frames start at 5.*label_frame_base"),
        ("0,0,1\n0,0,2\n", "frame 0 is labelled more than once"),
        ("0,0,1\n1,0,-2\n", "line 2: class -2 is neither background"),
    ],
)
def test_read_frame_labels_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(DatasetLayoutError, match=message) as err:
        read_frame_labels(path, LAYOUT)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_classes": 3, "class_names": ["a", "b"]}, "class_names has 2 names"),
        ({"pose_coords": ["x", "y"]}, "pose_coords must name 3"),
        ({"background_label": 0}, "background_label=0 collides"),
        ({"num_classes": 0}, "num_classes must be >= 1"),
    ],
)
def test_layout_option_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ExerciseVideoLayout.from_options(**options)


def test_layout_from_config_lists() -> None:
    layout = ExerciseVideoLayout.from_options(class_names=["a", "b"], num_classes=2)
    assert layout.class_names == ("a", "b") and layout.names() == ["a", "b"]
    assert ExerciseVideoLayout().names() == [str(i) for i in range(17)]


def test_make_clips_rejects_bad_options_and_labels() -> None:
    videos = videos_table({"a.mp4": 40})
    labels = {"a.mp4": np.full(40, 3)}
    with pytest.raises(ConfigError, match="label_rule"):
        make_clips(videos, labels, label_rule="mode")
    with pytest.raises(ConfigError, match="background"):
        make_clips(videos, labels, background="drop")
    with pytest.raises(ConfigError, match="num_classes=3"):
        make_clips(videos, labels, num_classes=3)


def test_downsample_class_to_the_median_of_the_others() -> None:
    train_counts = {1: 50, 2: 10, 3: 20, 4: 30}
    labels = [c for c, n in train_counts.items() for _ in range(n)]
    clips = pd.DataFrame(
        {"label": labels + [1] * 7, "split": ["train"] * len(labels) + ["test"] * 7}
    )
    out = downsample_class(clips, class_id=1, seed=3)
    counts = out[out["split"] == "train"]["label"].value_counts().to_dict()
    assert counts == {1: 20, 2: 10, 3: 20, 4: 30}  # median of 10, 20, 30
    assert int((out["split"] == "test").sum()) == 7  # test clips untouched
    assert out.attrs["downsample"] == {
        "class_id": 1, "split": "train", "target": 20, "before": 50, "after": 20,
    }  # fmt: skip
    assert out.index.is_monotonic_increasing  # order kept
    assert out.index.equals(downsample_class(clips, class_id=1, seed=3).index)
    assert not out.index.equals(downsample_class(clips, class_id=1, seed=4).index)
    assert len(downsample_class(clips, class_id=2, seed=0)) == len(clips)  # below target
    assert downsample_class(clips, class_id=1, target=5)["label"].eq(1).sum() == 5 + 7


# ---------------------------------------------------------------- poses, masks, attention


def write_pose_csv(path: Path, rows: list[dict[str, float]]) -> Path:
    columns = ["frame"] + [f"{j}_{c}" for j in COCO_JOINTS for c in ("x", "y", "conf")]
    pd.DataFrame([{c: row.get(c, 0.0) for c in columns} for row in rows]).to_csv(path, index=False)
    return path


def test_read_pose_csv_fills_missing_frames_and_keeps_the_clearest_person(tmp_path: Path) -> None:
    path = write_pose_csv(
        tmp_path / "s.csv",
        [
            {"frame": 0, "nose_x": 5, "nose_y": 6, "nose_conf": 0.9},
            {"frame": 2, "nose_x": 1, "nose_y": 1, "nose_conf": 0.2},  # a second, faint person
            {"frame": 2, "nose_x": 7, "nose_y": 8, "nose_conf": 0.8},
            {"frame": 9, "nose_x": 7, "nose_y": 8, "nose_conf": 0.8},  # beyond the video
        ],
    )
    poses = read_pose_csv(path, LAYOUT, num_frames=4)
    assert poses.shape == (4, 17, 3) and poses.dtype == np.float32
    assert poses[0, 0].tolist() == pytest.approx([5, 6, 0.9])
    assert poses[2, 0].tolist() == pytest.approx([7, 8, 0.8])
    assert not poses[1].any() and not poses[3].any()


def test_pose_csv_without_some_joints_names_them(tmp_path: Path) -> None:
    path = write_pose_csv(tmp_path / "s.csv", [{"frame": 0}])
    table = pd.read_csv(path).drop(columns=["left_wrist_x", "left_wrist_conf"])
    table.to_csv(path, index=False)
    with pytest.raises(DatasetLayoutError, match=r"left_wrist_x, left_wrist_conf") as err:
        read_pose_csv(path, LAYOUT, 1)
    assert "pose_column_pattern" in str(err.value) and str(path) in str(err.value)


def test_pose_csv_unreadable_or_with_bad_frame_numbers(tmp_path: Path) -> None:
    path = write_pose_csv(tmp_path / "s.csv", [{"frame": 0}, {"frame": 1}])
    table = pd.read_csv(path).astype({"frame": object})
    table.loc[1, "frame"] = "abc"
    table.to_csv(path, index=False)
    with pytest.raises(DatasetLayoutError, match="line 3: frame number 'abc' is not a number"):
        read_pose_csv(path, LAYOUT, 2)
    path.write_text("")
    with pytest.raises(DatasetLayoutError, match="cannot read the pose CSV"):
        read_pose_csv(path, LAYOUT, 2)


def test_synthetic_pose_csv_reads_with_low_confidence_joints(synthetic: Path) -> None:
    path = synthetic / "dataset/skeleton/yolo_pose_csv/subject01.csv"
    num_frames = len(read_frame_labels(synthetic / "label/subject01.csv", LAYOUT))
    poses = read_pose_csv(path, LAYOUT, num_frames)
    detected = poses[:, :, 2].any(axis=1)
    assert 0 < (~detected).sum() < 0.1 * num_frames  # a few frames without a detection
    conf = poses[detected, :, 2]
    assert ((conf > 0) & (conf < 0.5)).any() and (conf >= 0.75).mean() > 0.8


def test_load_mask_frames_and_missing_frames(synthetic: Path, tmp_path: Path) -> None:
    mask_dir = synthetic / "dataset/mask/subject01"
    masks = load_mask_frames(mask_dir, [0, 5, 6], LAYOUT)
    assert masks.shape == (3, 32, 26) and masks.dtype == np.uint8
    assert set(np.unique(masks).tolist()) == {0, 1}
    on_disk = np.asarray(Image.open(mask_dir / "000005.png"))
    assert np.array_equal(masks[1], (on_disk > 0).astype(np.uint8))
    broken = Path(shutil.copytree(mask_dir, tmp_path / "m"))
    (broken / "000006.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"frame\(s\) 6 .*000006\.png"):
        load_mask_frames(broken, [5, 6], LAYOUT)
    Image.new("L", (8, 8)).save(broken / "000006.png")
    with pytest.raises(DatasetLayoutError, match="differ in size"):
        load_mask_frames(broken, [5, 6], LAYOUT)


def keypoints_with(joint: int, x: float, y: float, conf: float = 1.0) -> np.ndarray:
    keypoints = np.zeros((1, 17, 3), np.float32)
    keypoints[0, joint] = (x, y, conf)
    return keypoints


def test_attention_peak_width_and_no_confident_joint() -> None:
    # Left shoulder (COCO 5) at the centre of pixel (row 10, column 20).
    maps = skeleton_attention(keypoints_with(5, 20.5, 10.5), 40, 60, sigma=10.0)
    assert maps.shape == (1, 40, 60) and maps.dtype == np.float32
    assert maps[0, 10, 20] == pytest.approx(1.0)
    assert maps[0, 10, 30] == pytest.approx(math.exp(-0.5), rel=1e-5)  # 10 px = sigma away
    assert maps[0, 20, 20] == pytest.approx(math.exp(-0.5), rel=1e-5)
    assert maps.max() == pytest.approx(1.0)
    # The nose is not an attention joint; a low-confidence shoulder is ignored: all ones.
    assert np.all(skeleton_attention(keypoints_with(0, 20.5, 10.5), 40, 60) == 1.0)
    assert np.all(skeleton_attention(keypoints_with(5, 20.5, 10.5, 0.3), 40, 60) == 1.0)


def test_attention_combines_by_max_and_scales_sigma() -> None:
    keypoints = keypoints_with(5, 20.5, 10.5)
    keypoints[0, 6] = (20.5, 10.5, 1.0)  # right shoulder on the same spot
    assert skeleton_attention(keypoints, 40, 60).max() == pytest.approx(1.0)
    # sigma 10 px at height 200 is 5 px on a 100 px map.
    maps = skeleton_attention(keypoints, 100, 100, sigma=10.0, reference_height=200)
    assert maps[0, 10, 25] == pytest.approx(math.exp(-0.5), rel=1e-5)
    moved = resize_keypoints(keypoints, (40, 60), (20, 30))
    assert moved[0, 5].tolist() == pytest.approx([10.25, 5.25, 1.0])


# ---------------------------------------------------------------- synthetic layout


def test_synthetic_layout_is_deterministic_and_mixes_headers(
    synthetic: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    write_exercise_video(again, CLASSES, per_class=40, eval_per_class=24, size=32, seed=0)
    for rel in ("label/subject01.csv", "label/subject04.csv", "split.csv",
                "dataset/skeleton/yolo_pose_csv/subject03.csv"):  # fmt: skip
        assert (synthetic / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    write_exercise_video(other, CLASSES, per_class=40, eval_per_class=24, size=32, seed=1)
    assert (synthetic / "label/subject01.csv").read_bytes() != (
        other / "label/subject01.csv"
    ).read_bytes()
    first_lines = {p.stem: p.read_text().splitlines()[0] for p in (synthetic / "label").iterdir()}
    assert first_lines["subject01"] == "frame_number,column1,column2"
    assert first_lines["subject02"].startswith("1,")  # no header, frames counted from 1
    assert first_lines["subject04"].startswith("0,")  # no header


def test_synthetic_video_frames_match_masks_and_poses(synthetic: Path) -> None:
    video = synthetic / "dataset/anon/subject01.mp4"
    frames = read_frames(video, [0, 30, 60]).astype(float).mean(axis=3)
    masks = load_mask_frames(synthetic / "dataset/mask/subject01", [0, 30, 60], LAYOUT) > 0
    assert frames.shape == (3, 32, 26)
    # The figure (channel values >= 150) is drawn where its mask is, on a darker background.
    for frame, mask in zip(frames, masks, strict=True):
        assert frame[mask].mean() > frame[~mask].mean() + 60
    poses = read_pose_csv(synthetic / "dataset/skeleton/yolo_pose_csv/subject01.csv", LAYOUT, 61)
    for t, mask in zip((0, 30, 60), masks, strict=True):
        if poses[t, 5, 2] > 0:  # the left shoulder lies on the silhouette
            x, y = poses[t, 5, :2].astype(int)
            assert mask[y, x]


@pytest.mark.parametrize("size", [32, 64, 112])
def test_synthetic_frame_width_is_portrait_and_decodable(size: int, tmp_path: Path) -> None:
    width = frame_width(size)
    assert width % 2 == 0 and abs(width / size - 0.75) < 0.1
    path = write_video(tmp_path / "v.mp4", np.zeros((2, size, width, 3), np.uint8), 30.0)
    assert read_frames(path, [0, 1]).shape == (2, size, width, 3)  # decord, the default


def test_synthetic_class_balance(synthetic: Path) -> None:
    labels = np.concatenate(
        [read_frame_labels(p, LAYOUT) for p in sorted((synthetic / "label").iterdir())]
    )
    counts = np.bincount(labels[labels >= 0], minlength=CLASSES)
    assert counts[0] == 0  # class 0 absent, as in the study
    assert counts[1] > 3 * counts[2:].max()  # class 1 dominates
    assert (labels == -1).sum() > 0 and (counts[2:] > 0).all()


# ---------------------------------------------------------------- reader


def test_reader_on_the_synthetic_layout(synthetic: Path) -> None:
    index = read(synthetic)
    frame = index.frame
    assert isinstance(index, VideoIndexTable) and index.skipped == {}
    assert not any("using the first" in note for note in index.notes)  # lengths agree exactly
    assert len(frame) == 6 and frame["group"].tolist() == [f"subject0{i}" for i in range(1, 7)]
    assert frame["split"].tolist() == ["train"] * 4 + ["test"] * 2
    assert index.class_names == ["0", "1", "2", "3", "4", "5"]
    assert list(frame.columns) == ["path", "label", "split", "group", "label_path", "mask_dir",
                                   "pose_path", "num_frames", "fps", "width", "height"]  # fmt: skip
    first = frame.iloc[0]
    assert first["path"] == str(synthetic / "dataset/anon/subject01.mp4")
    assert first["mask_dir"] == str(synthetic / "dataset/mask/subject01")
    assert first["pose_path"] == str(synthetic / "dataset/skeleton/yolo_pose_csv/subject01.csv")
    assert (first["width"], first["height"], first["fps"]) == (26, 32, pytest.approx(30.0))
    labels = video_frame_labels(frame, index.layout)
    for row in frame.itertuples():
        assert len(labels[row.path]) == row.num_frames  # subject02's 1-based labels align
        assert row.label == dominant_class(labels[row.path])
    probed = ["num_frames", "width", "height"]
    assert read(synthetic, video_backend="pyav").frame[probed].equals(frame[probed])
    clips = make_clips(frame, labels, num_classes=CLASSES)
    assert set(clips["label"]) <= set(range(1, CLASSES)) and len(clips) > 60


def test_reader_layout_options_and_errors(copy: Path) -> None:
    with pytest.raises(ConfigError, match="label_colum"):
        read(copy, label_colum="x")
    with pytest.raises(DatasetLayoutError, match="synthetic exercise_video"):
        read(copy / "missing")
    # Renamed header columns: an error naming the keys, then the keys fix it.
    for label in sorted((copy / "label").iterdir()):
        label.write_text(label.read_text().replace("frame_number,column1,column2", "f,a,cls", 1))
    label = copy / "label/subject01.csv"
    with pytest.raises(DatasetLayoutError, match="label_class_column") as err:
        read(copy)
    assert str(label) in str(err.value)
    index = read(
        copy, label_frame_column="f", label_class_column="cls", label_columns=["f", "a", "cls"]
    )
    assert len(index.frame) == 6
    with pytest.raises(DatasetLayoutError, match=r"line \d+: class [3-5] is neither .*num_classes"):
        read_exercise_video(copy, num_classes=3, label_frame_column="f", label_class_column="cls",
                            label_columns=["f", "a", "cls"])  # fmt: skip


def test_unreadable_and_truncated_videos_are_skipped(copy: Path) -> None:
    bad = copy / "dataset/anon/subject03.mp4"
    bad.write_bytes(b"this is not a video")
    truncated = copy / "dataset/anon/subject05.mp4"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    index = read(copy)
    assert len(index.frame) == 4
    assert "unreadable video" in index.skipped[str(bad)]
    assert "unreadable video" in index.skipped[str(truncated)]
    assert "2 video(s) skipped" in "\n".join(index.notes)


def test_video_shorter_than_a_clip_is_skipped(synthetic: Path) -> None:
    lengths = read(synthetic).frame.set_index("group")["num_frames"]
    shortest = lengths.idxmin()
    index = read(synthetic, clip_len=int(lengths.min()) + 1)
    assert shortest not in set(index.frame["group"])
    assert "shorter than one clip" in index.skipped[str(synthetic / f"dataset/anon/{shortest}.mp4")]


def append_label_rows(path: Path, count: int) -> None:
    lines = path.read_text().splitlines()
    last = int(lines[-1].split(",")[0])
    lines += [f"{last + k},0,-1" for k in range(1, count + 1)]
    path.write_text("\n".join(lines) + "\n")


def test_label_length_mismatch_truncates_or_skips(copy: Path) -> None:
    frames = read(copy).frame.set_index("group")["num_frames"]
    append_label_rows(copy / "label/subject01.csv", 3)  # within the tolerance of 5
    append_label_rows(copy / "label/subject04.csv", 20)
    shorter = copy / "label/subject05.csv"
    shorter.write_text("\n".join(shorter.read_text().splitlines()[:-20]) + "\n")
    index = read(copy)
    kept = index.frame.set_index("group")["num_frames"]
    assert kept["subject01"] == frames["subject01"]
    assert any("subject01.mp4" in n and "using the first" in n for n in index.notes)
    for subject in ("subject04", "subject05"):
        reason = index.skipped[str(copy / f"dataset/anon/{subject}.mp4")]
        assert "label_length_tolerance" in reason, reason
    assert "subject04" not in kept and "subject05" not in kept


def test_missing_label_file_is_skipped(copy: Path) -> None:
    (copy / "label/subject02.csv").unlink()
    index = read(copy)
    assert "no label file" in index.skipped[str(copy / "dataset/anon/subject02.mp4")]
    assert len(index.frame) == 5


def test_missing_masks_skip_only_when_masks_are_required(copy: Path) -> None:
    (copy / "dataset/mask/subject06/000007.png").unlink()
    (copy / "dataset/mask/subject06/000009.png").unlink()
    assert len(read(copy).frame) == 6
    index = read(copy, require_masks=True)
    reason = index.skipped[str(copy / "dataset/anon/subject06.mp4")]
    assert "frame(s) 7, 9" in reason
    assert len(index.frame) == 5


def test_missing_pose_csv_skips_only_when_poses_are_required(copy: Path) -> None:
    (copy / "dataset/skeleton/yolo_pose_csv/subject01.csv").unlink()
    plain = read(copy)
    assert plain.frame.set_index("group").loc["subject01", "pose_path"] is None
    index = read(copy, require_poses=True)
    assert "no pose CSV" in index.skipped[str(copy / "dataset/anon/subject01.mp4")]


def test_pose_csv_without_joints_stops_the_reader(copy: Path) -> None:
    path = copy / "dataset/skeleton/yolo_pose_csv/subject02.csv"
    pd.read_csv(path).drop(columns=["right_hip_y"]).to_csv(path, index=False)
    with pytest.raises(DatasetLayoutError, match="right_hip_y") as err:
        read(copy)
    assert str(path) in str(err.value)


def test_split_file_mismatches(copy: Path) -> None:
    split = copy / "split.csv"
    lines = split.read_text().splitlines()
    # subject03 loses its row; a subject without a video appears.
    split.write_text("\n".join([line for line in lines if "subject03" not in line]
                               + ["subject99,test"]) + "\n")  # fmt: skip
    index = read(copy)
    assert "no row in split.csv" in index.skipped[str(copy / "dataset/anon/subject03.mp4")]
    assert any("1 subject(s) without a video: subject99" in note for note in index.notes)
    split.write_text("\n".join([*lines, "subject01,test"]) + "\n")
    with pytest.raises(
        DatasetLayoutError, match="'subject01' is listed as both 'train' and 'test'"
    ):
        read(copy)
    split.write_text("\n".join([*lines, "subject07,holdout"]) + "\n")
    with pytest.raises(
        DatasetLayoutError, match=r"split.csv, line 8: subject 'subject07' .*'holdout'"
    ):
        read(copy)


def test_headerless_split_file_and_missing_split_file(copy: Path) -> None:
    split = copy / "split.csv"
    split.write_text("\n".join(split.read_text().splitlines()[1:]) + "\n")
    assert read(copy).frame["split"].tolist() == ["train"] * 4 + ["test"] * 2
    split.write_text("id,fold\nsubject01,train\n")
    with pytest.raises(DatasetLayoutError, match="split_subject_column"):
        read(copy)
    assert len(read(copy, split_subject_column="id", split_column="fold").frame) == 1
    split.write_text("")
    with pytest.raises(DatasetLayoutError, match="cannot read the split file"):
        read(copy)
    split.unlink()
    with pytest.raises(DatasetLayoutError, match="split_file"):
        read(copy)


def test_nothing_usable_names_the_layout_and_the_generator(copy: Path) -> None:
    for label in (copy / "label").iterdir():
        label.unlink()
    with pytest.raises(DatasetLayoutError, match="no usable video") as err:
        read(copy)
    message = str(err.value)
    assert "python -m sports_rec.data.synthetic exercise_video --out <dir>" in message
    assert "dataset/anon/<subject>.mp4" in message and "no label file" in message
