"""Exercise video end to end: the clip dataset (counts by hand, cache = decoder, masks,
skeleton attention, one augmentation per clip, downsampling), bad input through the
datamodule (skipped and listed, or stopped before training), and a narrow C3D that learns
on the synthetic videos and is evaluated again from its checkpoint alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision import tv_tensors

from sports_rec.builders import build_datamodule, plain
from sports_rec.data.clips import read_frame_labels
from sports_rec.data.datasets.video_clips import VideoClipDataset
from sports_rec.data.formats.exercise_video import ExerciseVideoLayout, read_exercise_video
from sports_rec.data.io.video_io import read_frames, resize_frames
from sports_rec.data.poses import load_mask_frames, read_pose_csv, skeleton_attention
from sports_rec.data.synthetic.exercise_video import write_exercise_video
from sports_rec.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    resolve_transforms,
    video_transforms,
)
from sports_rec.evaluate import evaluate
from sports_rec.train import train
from tests.conftest import VIDEO_DATA, compose_config

CLASSES = 5
LAYOUT = {"num_classes": CLASSES}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("videos")
    write_exercise_video(out, CLASSES, per_class=48, eval_per_class=32, size=64, seed=1)
    return out


@pytest.fixture(scope="module")
def index(videos: Path) -> pd.DataFrame:
    return read_exercise_video(videos, layout=LAYOUT).frame


def dataset(frame: pd.DataFrame, tmp_path: Path | None = None, **options) -> VideoClipDataset:
    cache = {"cache_dir": str(tmp_path / "cache")} if tmp_path is not None else {}
    return VideoClipDataset(frame, layout=LAYOUT, size=32, **cache, **options)


# ---------------------------------------------------------------- clips


def hand_clips(frame: pd.DataFrame, stride: int) -> list[tuple[str, int, int]]:
    """(video, start, label) by plain loops: every 16-frame window at ``stride`` that fits,
    labelled by its most frequent frame label (ties: the centre frame's), background dropped."""
    clips = []
    layout = ExerciseVideoLayout(num_classes=CLASSES)
    for row in frame.itertuples():
        labels = read_frame_labels(row.label_path, layout)[: row.num_frames]
        start = 0
        while start + 16 <= len(labels):
            window = list(labels[start : start + 16])
            counts = {value: window.count(value) for value in set(window)}
            best = max(counts.values())
            centre = window[8]
            label = (
                centre if counts[centre] == best else min(v for v in counts if counts[v] == best)
            )
            if label >= 0:
                clips.append((row.path, start, int(label)))
            start += stride
    return clips


@pytest.mark.parametrize("train", [True, False])
def test_clips_match_a_hand_computation(index: pd.DataFrame, train: bool) -> None:
    split = index[index["split"] == ("train" if train else "test")]
    data = dataset(split, train=train)
    got = list(zip(data.clips["path"], data.clips["start_frame"], data.labels, strict=True))
    assert got == hand_clips(split, 8 if train else 16)
    assert len(data) == len(got) > 0


def test_downsampling_cuts_only_the_training_clips_once(index: pd.DataFrame) -> None:
    train = index[index["split"] == "train"]
    full = dataset(train, train=True)
    cut = dataset(train, train=True, downsample=1, downsample_seed=3)
    counts = pd.Series(cut.labels).value_counts()
    others = pd.Series(full.labels).value_counts().drop(1)
    assert counts[1] == int(np.median(others)) < pd.Series(full.labels).value_counts()[1]
    assert counts.drop(1).equals(others.loc[counts.drop(1).index])
    assert cut.table["used"].sum() == len(cut) and (~cut.table["used"]).sum() > 0
    assert cut.notes and "downsampled once" in cut.notes[0]
    evaluation = dataset(index[index["split"] == "test"], train=False, downsample=1)
    assert evaluation.table["used"].all()  # evaluation splits are never cut


def test_sample_is_a_normalised_clip_of_16_frames(index: pd.DataFrame) -> None:
    data = dataset(index[index["split"] == "test"], transform=video_transforms(train=False))
    sample = data[0]
    assert sample["video"].shape == (3, 16, 32, 32) and sample["video"].dtype == torch.float32
    raw = data.load(0)  # [T, C, H, W] in 0-1
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None, None]
    expected = (raw.permute(1, 0, 2, 3) - mean) / std
    assert torch.allclose(sample["video"], expected, atol=1e-5)
    assert sample["label"] == data.labels[0] and sample["index"] == 0


def test_frame_cache_serves_the_decoders_frames(index: pd.DataFrame, tmp_path: Path) -> None:
    split = index[index["split"] == "test"]
    cached, direct = dataset(split, tmp_path), dataset(split)
    entries = list((tmp_path / "cache").glob("*.npy"))
    assert len(entries) == split["path"].nunique()  # built once, at set-up
    for i in (0, len(cached) // 2, len(cached) - 1):
        assert torch.equal(cached.load(i), direct.load(i))
    row = cached.clips.iloc[1]
    start = int(row["start_frame"])
    frames = read_frames(row["path"], list(range(start, start + 16)), size=(32, 32))
    assert torch.equal(cached.load(1), torch.from_numpy(frames).permute(0, 3, 1, 2) / 255.0)


def test_masks_zero_the_background(index: pd.DataFrame) -> None:
    split = index[index["split"] == "test"]
    plain, masked = dataset(split), dataset(split, use_masks=True)
    row = masked.clips.iloc[0]
    start = int(row["start_frame"])
    masks = load_mask_frames(row["mask_dir"], range(start, start + 16), ExerciseVideoLayout())
    small = resize_frames(np.repeat(masks[..., None] * 255, 3, -1).astype(np.uint8), (32, 32))
    weight = torch.from_numpy(small[..., 0] / 255.0).float()[:, None]  # [T, 1, H, W]
    assert torch.allclose(masked.load(0), plain.load(0) * weight, atol=1e-6)
    background = weight.expand(-1, 3, -1, -1) == 0
    assert background.float().mean() > 0.3 and masked.load(0)[background].abs().max() == 0


def test_skeleton_attention_weights_frames_by_gaussians_on_8_joints(index: pd.DataFrame) -> None:
    split = index[index["split"] == "test"]
    plain, attended = dataset(split), dataset(split, skeleton_attention=True, skeleton_sigma=6)
    row = attended.clips.iloc[0]
    start, height, width = int(row["start_frame"]), int(row["height"]), int(row["width"])
    poses = read_pose_csv(row["pose_path"], ExerciseVideoLayout(), int(row["num_frames"]))
    maps = skeleton_attention(poses[start : start + 16], height, width, sigma=6)
    assert maps.shape == (16, height, width) and maps.max() == pytest.approx(1.0, abs=0.02)
    small = resize_frames(np.repeat((maps * 255).astype(np.uint8)[..., None], 3, -1), (32, 32))
    weight = torch.from_numpy(small[..., 0] / 255.0).float()[:, None]
    assert torch.allclose(attended.load(0), plain.load(0) * weight, atol=1e-6)
    # the blobs sit on the arms and hips, not in the corners of the frame
    assert weight[:, 0, :3, :3].max() < 0.05 and weight.amax(dim=(2, 3)).min() > 0.9


def test_one_augmentation_draw_per_clip() -> None:
    frame = torch.rand(1, 3, 32, 32).expand(16, -1, -1, -1).clone()
    torch.manual_seed(0)
    augment = video_transforms(train=True, hflip=1.0, rotation=10.0,
                               color_jitter={"brightness": 0.4, "hue": 0.1})  # fmt: skip
    out = augment({"video": tv_tensors.Video(frame)})["video"]
    assert out.shape == (16, 3, 32, 32)
    assert all(torch.equal(out[0], out[t]) for t in range(1, 16))  # every frame alike
    flip_only = video_transforms(train=True, hflip=1.0, rotation=0.0, color_jitter=None)
    flipped = flip_only({"video": tv_tensors.Video(frame)})["video"]
    normalise = video_transforms(train=False)
    assert torch.allclose(flipped, normalise({"video": frame.flip(-1)})["video"])


def test_colour_jitter_names_are_checked() -> None:
    from sports_rec.errors import ConfigError

    with pytest.raises(ConfigError, match="brightness, contrast, saturation and hue"):
        video_transforms(train=True, color_jitter={"brightnes": 0.2})


# ---------------------------------------------------------------- bad input, end to end


def video_cfg(tmp_path: Path, root: Path, *overrides: str):
    return compose_config(
        "train",
        [
            f"paths.data_dir={tmp_path / 'data'}",
            *VIDEO_DATA,
            f"data.root={root}",
            "data.synthetic=null",
            f"data.layout.num_classes={CLASSES}",
            "data.dataset.cache_workers=0",
            "trainer.accelerator=cpu",
            "print_config=false",
            "logger=none",
            *overrides,
        ],
        tmp_path / "run",
        tmp_path,
    )


def test_bad_videos_are_skipped_and_listed_before_training(videos: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(videos, tmp_path / "broken"))
    anon = root / "dataset" / "anon"
    (anon / "subject01.mp4").write_bytes(b"not a video")  # unreadable
    shutil.rmtree(root / "dataset" / "mask" / "subject02")  # masks required below
    label = root / "label" / "subject03.csv"
    lines = label.read_text().splitlines()
    label.write_text("\n".join(lines[: len(lines) // 3]) + "\n")  # far shorter than the video
    cfg = video_cfg(tmp_path, root, "data.dataset.use_masks=true", "data.val_split=test")
    transforms = resolve_transforms(plain(cfg.transforms), plain(cfg.model.net))
    datamodule = build_datamodule(cfg.data, transforms)
    datamodule.setup()
    skipped = pd.read_csv(tmp_path / "run" / "skipped_files.csv")
    reasons = dict(zip(skipped["path"].map(lambda p: Path(p).name), skipped["reason"], strict=True))
    assert set(reasons) == {"subject01.mp4", "subject02.mp4", "subject03.mp4"}
    assert "unreadable video" in reasons["subject01.mp4"]
    assert "mask" in reasons["subject02.mp4"]
    assert "label" in reasons["subject03.mp4"]
    report = (tmp_path / "run" / "data_report.txt").read_text()
    assert "skipped: 3 file(s)" in report and "train clips:" in report
    used = set(pd.read_csv(tmp_path / "run" / "splits.csv")["path"].map(lambda p: Path(p).name))
    assert used.isdisjoint(reasons)


def test_a_split_left_without_videos_stops_before_training(videos: Path, tmp_path: Path) -> None:
    from sports_rec.data.datamodule import EmptySplitError

    root = Path(shutil.copytree(videos, tmp_path / "broken"))
    split = pd.read_csv(root / "split.csv")
    for subject in split.loc[split["split"] == "test", "subject"]:
        (root / "dataset" / "anon" / f"{subject}.mp4").write_bytes(b"")
    cfg = video_cfg(tmp_path, root, "data.val_split=test")
    with pytest.raises(EmptySplitError, match="'test' split is empty"):
        train(cfg)
    assert not list((tmp_path / "run").rglob("*.ckpt"))
    skipped = pd.read_csv(tmp_path / "run" / "skipped_files.csv")
    assert len(skipped) == 2 and skipped["reason"].str.contains("the file is empty").all()


# ---------------------------------------------------------------- training and evaluation


@pytest.mark.slow  # trained_video_run: twelve epochs
def test_narrow_c3d_learns_above_chance(trained_video_run: dict) -> None:
    run = trained_video_run["dir"]
    result = json.loads((run / "test_metrics.json").read_text())
    clips = pd.read_csv(run / "clips.csv")
    test = clips[clips["split"] == "test"]
    present = test["label"].nunique()
    majority = test["label"].value_counts(normalize=True).max()
    assert result["test/mean_class_acc"] >= 2 / present, result  # chance: 1 / present classes
    assert result["test/acc"] > majority, result  # better than always the dominant class
    history = pd.read_csv(run / "metrics.csv")
    assert history["train/loss"].iloc[-1] < history["train/loss"].iloc[0]


@pytest.mark.slow
def test_video_run_folder(trained_video_run: dict) -> None:
    run = trained_video_run["dir"]
    clips = pd.read_csv(run / "clips.csv")
    splits = pd.read_csv(run / "splits.csv")
    assert set(clips["group"]) == set(splits["group"])
    for split in ("train", "valid", "test"):  # no subject in two splits
        groups = set(splits.loc[splits["split"] == split, "group"])
        assert groups.isdisjoint(set(splits.loc[splits["split"] != split, "group"]))
    report = (run / "data_report.txt").read_text()
    assert f"test clips: {int((clips['split'] == 'test').sum())} (" in report
    per_class = pd.read_csv(run / "per_class_accuracy.csv")
    epochs = len(pd.read_csv(run / "metrics.csv"))
    assert len(per_class) == epochs * 2 * CLASSES
    assert per_class.loc[per_class["class_id"] == 0, "support"].eq(0).all()  # class 0 absent
    assert per_class.loc[per_class["class_id"] == 0, "accuracy"].isna().all()
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    spec = ckpt["hyper_parameters"]["metadata"]["input_spec"]
    assert spec == [{"name": "video", "shape": [3, 16, 32, 32], "dtype": "torch.float32"}]
    result = json.loads((run / "test_metrics.json").read_text())
    mean_all = pd.read_csv(run / "per_class.csv")["recall"].mean()  # absent class 0 counts 0
    assert result["test/recall_mean_all_classes"] == pytest.approx(mean_all, abs=1e-6)
    assert (run / "misclassified.png").is_file()
    # The data analysis of the clips (written when the datamodule set up).
    stats = pd.read_csv(run / "analysis" / "split_statistics.csv").set_index("split")
    used = clips[clips["used"]]
    for split in ("train", "valid", "test"):
        assert stats.loc[split, "samples"] == (used["split"] == split).sum()
        assert stats.loc[split, "groups"] == splits.loc[splits["split"] == split, "group"].nunique()
    for figure in ("class_distribution.png", "video_properties.png"):
        assert (run / "analysis" / figure).is_file()
    assert (run / "plots" / "combined.png").is_file()


@pytest.mark.slow
def test_evaluate_a_video_checkpoint_alone(trained_video_run: dict, tmp_path: Path) -> None:
    reference = json.loads((trained_video_run["dir"] / "test_metrics.json").read_text())
    cfg = compose_config(
        "evaluate",
        [f"ckpt_path={reference['ckpt_path']}", "trainer.accelerator=cpu"],
        tmp_path / "eval",
        tmp_path,
    )
    metrics = evaluate(cfg)
    for key in ("test/acc", "test/acc_top3", "test/mean_class_acc", "test/loss"):
        assert metrics[key] == pytest.approx(reference[key], abs=1e-4), key


def test_multi_clip_segments_by_hand() -> None:
    from sports_rec.callbacks.multi_clip import score_segments, segment_ids, segment_metrics

    clips = pd.DataFrame(
        {
            "path": ["a"] * 5 + ["b"] * 2,
            "start_frame": [0, 16, 32, 64, 80, 0, 16],  # a gap (background) at 48 in video a
            "label": [1, 1, 2, 2, 2, 1, 1],
        }
    )
    assert segment_ids(clips).tolist() == [0, 0, 1, 2, 2, 3, 3]
    probs = np.array(
        [[0.1, 0.9, 0.0], [0.1, 0.3, 0.6], [0.0, 0.2, 0.8], [0.0, 0.9, 0.1], [0.0, 0.4, 0.6],
         [0.2, 0.4, 0.4], [0.0, 0.1, 0.9]]
    )  # fmt: skip
    segments = score_segments(clips, probs)
    # means: [.1 .6 .3], [0 .2 .8], [0 .65 .35], [.1 .25 .65]
    assert segments["pred"].tolist() == [1, 2, 1, 2]
    assert segments["clips"].tolist() == [2, 1, 2, 2]
    assert segments["confidence"].round(3).tolist() == [0.6, 0.8, 0.65, 0.65]
    bounds = segments[["start_frame", "end_frame"]].values.tolist()
    assert bounds == [[0, 16], [32, 32], [64, 80], [0, 16]]
    metrics = segment_metrics(segments)
    assert metrics == {"test/segment_acc": 0.5, "test/segment_mean_class_acc": 0.5}


@pytest.mark.slow
def test_multi_clip_evaluation_from_a_checkpoint(trained_video_run: dict, tmp_path: Path) -> None:
    reference = json.loads((trained_video_run["dir"] / "test_metrics.json").read_text())
    cfg = compose_config(
        "evaluate",
        [
            f"ckpt_path={reference['ckpt_path']}",
            "trainer.accelerator=cpu",
            "callbacks.multi_clip.enabled=true",
        ],
        tmp_path / "eval",
        tmp_path,
    )
    evaluate(cfg)
    written = json.loads((tmp_path / "eval" / "test_metrics.json").read_text())
    segments = pd.read_csv(tmp_path / "eval" / "test_segments.csv")
    clips = pd.read_csv(trained_video_run["dir"] / "clips.csv")
    assert segments["clips"].sum() == int((clips["split"] == "test").sum())
    assert written["test/segment_acc"] == pytest.approx(
        (segments["label"] == segments["pred"]).mean()
    )
    assert written["test/acc"] == pytest.approx(reference["test/acc"], abs=1e-4)
