"""``python -m sports_rec.pose``: real photos -> a dataset the InfiniteForm reader and
datamodule read; a video made from a real photo -> the pose CSV and masks the exercise-video
reader requires; errors as rows, existing files kept, overlays, the drawing helper, the v
rule, and one clear message without mediapipe (that test runs everywhere)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig
from PIL import Image

from sports_rec.builders import build_datamodule
from sports_rec.data.formats.exercise_video import read_exercise_video
from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.data.formats.infiniteform import read_infiniteform
from sports_rec.data.io.video_io import probe_video, write_video
from sports_rec.data.keypoints import BODY_BONES, stack_keypoints
from sports_rec.data.poses import load_mask_frames, read_pose_csv
from sports_rec.data.transforms import resolve_transforms
from sports_rec.pose import pose
from sports_rec.pose_estimation import INSTALL_HINT, PersonPose, PoseBackendUnavailable
from sports_rec.pose_estimation.coco_mapping import coco_keypoints
from sports_rec.pose_estimation.drawing import (
    CENTRE_COLOUR,
    LEFT_COLOUR,
    RIGHT_COLOUR,
    draw_people,
    draw_pose,
)
from sports_rec.pose_estimation.media_jobs import PoseOutputExists, find_media, image_category
from tests.conftest import (
    PROJECT_ROOT,
    VIDEO_DATA,
    compose_config,
    expect_user_error,
    run_cli,
    run_folder,
    shared_sample,
)

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(
    not HAS_MEDIAPIPE, reason=f"mediapipe is not installed. {INSTALL_HINT}"
)
CLASSES = ("golf", "tennis", "weightlifting")  # one upright athlete per photo
SUBJECT = "subject01"
NUM_FRAMES = 24
SIDE = 128


def run_pose(root: Path, run: str, *overrides: str) -> tuple[dict, Path]:
    """``pose(cfg)`` as the CLI runs it; returns its summary and run folder."""
    cfg: DictConfig = compose_config(
        "pose", ["progress=false", *overrides], root / "runs" / run, root
    )
    return pose(cfg), root / "runs" / run


# ---------------------------------------------------------------- no mediapipe needed


def test_coco_visibility_rule() -> None:
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:, :2] = (10.0, 20.0)
    keypoints[:, 2] = 0.9
    keypoints[1, 2] = 0.3  # inside, not confident: occluded
    keypoints[2] = (-4.0, 20.0, 0.8)  # left of the image: outside, position kept
    keypoints[3] = (40.0, 20.0, 0.8)  # x == width is outside (the image spans [0, 40))
    keypoints[4] = (12.0, 13.0, 0.0)  # not placed at all: the zero slot
    keypoints[5] = (np.nan, 1.0, 0.9)
    out = coco_keypoints(keypoints, width=40, height=30, min_conf=0.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], (10, 20, 2))
    np.testing.assert_array_equal(out[1], (10, 20, 1))
    np.testing.assert_array_equal(out[2], (-4, 20, 0))
    np.testing.assert_array_equal(out[3], (40, 20, 0))
    np.testing.assert_array_equal(out[4], (0, 0, 0))
    np.testing.assert_array_equal(out[5], (0, 0, 0))


def _figure() -> np.ndarray:
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[5] = (30.5, 10.5, 0.9)  # left shoulder (image right: facing the camera)
    keypoints[6] = (10.5, 10.5, 0.9)  # right shoulder
    keypoints[7] = (30.5, 30.5, 0.9)  # left elbow
    keypoints[8] = (10.5, 30.5, 0.2)  # right elbow, not confident
    return keypoints


def near(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    """An anti-aliased 1 px line centred on the pixel covers most of it."""
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= 40)


def test_draw_pose_colours_sides_and_hides_unconfident_joints() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    drawn = draw_pose(image, _figure(), thickness=1, radius=1)
    assert image.max() == 0  # a copy: the input is untouched
    # continuous (30.5, 20.5) is the centre of pixel row 20, column 30: the left upper arm
    assert near(drawn[20, 30], LEFT_COLOUR)
    assert near(drawn[10, 20], CENTRE_COLOUR)  # the shoulder bar joins both sides
    assert drawn[20, 10].max() == 0  # right upper arm: its elbow is below min_conf
    assert drawn[30, 10].max() == 0
    assert near(draw_pose(image, _figure(), min_conf=0.1, thickness=1)[20, 10], RIGHT_COLOUR)
    # InfiniteForm's v: 0 (outside) hidden, 1 and 2 drawn; zero slots never drawn
    coco = _figure()
    coco[:, 2] = np.where(coco[:, 2] > 0, 2, 0)
    coco[7, 2] = 0
    assert draw_pose(image, coco, thickness=1)[20, 30].max() == 0
    assert draw_pose(image, coco, thickness=1, bones=BODY_BONES)[0, 0].max() == 0


def test_draw_pose_tints_the_mask_and_checks_shapes() -> None:
    image = np.full((20, 30, 3), 100, np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[:5, :5] = 1
    drawn = draw_pose(image, np.zeros((17, 3)), mask=mask)
    assert (drawn[:5, :5] != 100).any(axis=-1).all() and (drawn[10:, 10:] == 100).all()
    person = PersonPose(_figure(), (10, 10, 31, 31), 0.9, mask)
    both = draw_people(image, [person], boxes=True)
    assert (both[:5, :5] == drawn[:5, :5]).all() and tuple(both[10, 10]) != (100, 100, 100)
    with pytest.raises(ValueError, match="mask of shape"):
        draw_pose(image, np.zeros((17, 3)), mask=np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\[17, 3\]"):
        draw_pose(image, np.zeros((33, 3)))


def test_inputs_and_categories(tmp_path: Path) -> None:
    for name in ("golf/a.jpg", "golf/b.png", "loose.jpg", "golf/notes.txt", "v/clip.mp4"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    media = find_media(tmp_path)
    assert [p.name for p in media.images] == ["a.jpg", "b.png", "loose.jpg"]
    assert [p.name for p in media.videos] == ["clip.mp4"] and media.others == 1
    assert [image_category(p, media.base) for p in media.images] == ["golf", "golf", "unknown"]
    assert image_category(media.images[0], media.base, "mine") == "mine"
    pattern = find_media(f"{tmp_path}/*/*.jpg")
    assert [image_category(p, pattern.base) for p in pattern.images] == ["golf"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_media(tmp_path / "absent")


def test_without_mediapipe_the_command_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "in" / "a.png"
    image.parent.mkdir()
    Image.new("RGB", (16, 16)).save(image)
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # `import mediapipe...` fails
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions.pose", None)
    with pytest.raises(PoseBackendUnavailable) as error:
        run_pose(tmp_path, "run", f"input={image.parent}")
    assert 'pip install -e ".[pose]"' in str(error.value)
    # the command line: one message, status 1, no traceback
    code = (
        "import sys; sys.modules['mediapipe'] = None; "
        "sys.modules['mediapipe.python.solutions.pose'] = None; "
        "sys.argv = ['pose', 'input=in', 'progress=false']; "
        "import runpy; runpy.run_module('sports_rec.pose', run_name='__main__', alter_sys=True)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    expect_user_error(result, "The pose backend 'mediapipe' needs mediapipe", "make install")
    assert not list(tmp_path.rglob("annotations.json"))


class _FakeYolo:
    """A stand-in for ultralytics.YOLO: two people in every image, the big one less sure."""

    def __init__(self, weights: str) -> None:
        self.weights = weights

    def predict(self, image: np.ndarray, **options: object) -> list[object]:
        keypoints = np.zeros((2, 17, 3), np.float32)
        keypoints[0, :, :2], keypoints[0, :, 2] = (4.0, 6.0), 0.9  # small, confident
        keypoints[1, :, :2], keypoints[1, :, 2] = (20.0, 20.0), 0.6
        keypoints[1, 0] = (-3.0, 5.0, 0.8)  # a nose outside the image
        boxes = _Boxes(np.array([[2.0, 2.0, 8.0, 10.0], [5.0, 5.0, 30.0, 28.0]]), [0.9, 0.7])
        return [types.SimpleNamespace(keypoints=types.SimpleNamespace(data=keypoints), boxes=boxes)]


class _Boxes:
    def __init__(self, xyxy: np.ndarray, conf: list[float]) -> None:
        self.xyxy, self.conf = xyxy, np.array(conf)

    def __len__(self) -> int:
        return len(self.xyxy)


def test_several_people_and_no_masks_with_a_yolo_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs without mediapipe: every person an annotation, the largest labels the image;
    a video's CSV has a row per person and no masks (YOLO-pose makes none)."""
    monkeypatch.setitem(sys.modules, "ultralytics", types.SimpleNamespace(YOLO=_FakeYolo))
    weights = tmp_path / "pose.pt"
    weights.write_bytes(b"")
    for name in ("jump/a.png", "jump/b.png"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "in" / name)
    write_video(tmp_path / "in" / "clip.mp4", np.zeros((4, 32, 32, 3), np.uint8), fps=4)
    summary, _ = run_pose(
        tmp_path, "run", f"input={tmp_path / 'in'}", f"output={tmp_path / 'out'}",
        "pose.backend=yolo", f"pose.weights={weights}", "video_backend=pyav",
        "+layout.pose_dir=poses", "+layout.pose_frame_base=1", "progress=true",
    )  # fmt: skip
    assert summary["images"]["persons"] == 4 and summary["videos"]["persons"] == 8
    assert "makes no person masks" in summary["note"]
    images = read_infiniteform(tmp_path / "out")
    assert len(images.frame) == 2 and images.class_names == ["jump"]
    assert images.frame["bbox"][0] == (5.0, 5.0, 25.0, 23.0)  # the larger person
    kp = images.frame["keypoints"][0]
    assert tuple(kp[0]) == (-3.0, 5.0, 0.0) and tuple(kp[1]) == (20.0, 20.0, 2.0)
    assert len(read_infiniteform(tmp_path / "out", unit="avatar").frame) == 4
    layout = ExerciseVideoLayout(pose_dir="poses", pose_frame_base=1)  # as configured
    csv_path = tmp_path / "out" / "poses" / "clip.csv"
    assert pd.read_csv(csv_path)["frame"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    poses = read_pose_csv(csv_path, layout, 4)
    assert (poses[:, 1, 2] == np.float32(0.9)).all()  # the most confident person per frame
    assert not layout.mask_folder(tmp_path / "out", "clip").exists()


# ---------------------------------------------------------------- real photos


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two photos of three sports, a blank image and a corrupt one, through the real CLI."""
    if not HAS_MEDIAPIPE:
        pytest.skip(f"mediapipe is not installed. {INSTALL_HINT}")
    source = shared_sample("sports100_sample") / "test"
    root = tmp_path_factory.mktemp("photos")
    for sport in CLASSES:
        (root / "in" / sport).mkdir(parents=True)
        for k in (1, 2):
            (root / "in" / sport / f"{k}.jpg").write_bytes(
                (source / sport / f"{k}.jpg").read_bytes()
            )
    Image.new("RGB", (96, 64), (128, 128, 128)).save(root / "in" / "golf" / "blank.png")
    (root / "in" / "tennis" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    result = run_cli(
        "sports_rec.pose", "input=in", "output=out", "overlay=true", "progress=false", cwd=root
    )
    return {"root": root, "out": root / "out", "run": run_folder(result.stdout + result.stderr)}


@needs_mediapipe
def test_photos_become_a_dataset_the_reader_indexes(photo_run: dict[str, Path]) -> None:
    table = read_infiniteform(photo_run["out"])
    assert table.class_names == sorted(CLASSES)
    frame = table.frame
    assert len(frame) == 7  # 6 photos + the blank image; the corrupt file has no image
    keypoints = stack_keypoints(frame["keypoints"])
    assert set(np.unique(keypoints[:, :, 2])) <= {0.0, 1.0, 2.0}
    coco = json.loads((photo_run["out"] / "annotations.json").read_text())
    (blank_id,) = [i["id"] for i in coco["images"] if i["source"].endswith("blank.png")]
    blank = frame.index[frame["image_id"] == blank_id]
    assert len(blank) == 1 and not keypoints[blank[0]].any()  # no person: zero slots
    assert frame["label"][blank[0]] == sorted(CLASSES).index("golf")  # still labelled
    found = [i for i in range(len(frame)) if keypoints[i, :, 2].max() > 0]
    assert len(found) >= 5
    for i in found:
        kp, width, height = keypoints[i], frame["width"][i], frame["height"][i]
        visible = kp[:, 2] == 2
        assert visible.sum() >= 8
        assert ((kp[visible, 0] >= 0) & (kp[visible, 0] < width)).all()
        assert ((kp[visible, 1] >= 0) & (kp[visible, 1] < height)).all()
        if visible[[5, 6, 11, 12]].all():  # upright athletes: shoulders above hips
            assert kp[[5, 6], 1].mean() < kp[[11, 12], 1].mean()
        _, _, w, h = frame["bbox"][i]
        assert w > 0 and h > 0 and frame["area"][i] > 0
    assert [image["id"] for image in coco["images"]] == list(range(1, 8))
    assert {a["estimated_by"] for a in coco["annotations"]} == {"mediapipe"}
    assert coco["categories"][0]["name"] == "person"


@needs_mediapipe
def test_the_dataset_loads_as_data_infiniteform(photo_run: dict[str, Path], tmp_path: Path) -> None:
    cfg = compose_config(
        "train",
        ["data=infiniteform", f"data.root={photo_run['out']}", "data.image_size=32",
         "data.batch_size=4", "data.num_workers=0", "trainer.accelerator=cpu"],
        tmp_path / "run",
        tmp_path,
    )  # fmt: skip
    datamodule = build_datamodule(cfg.data, resolve_transforms(cfg.transforms, cfg.data))
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape[1:] == (3, 32, 32) and batch["keypoints"].shape[1:] == (51,)


@needs_mediapipe
def test_image_rows_errors_summary_and_overlays(photo_run: dict[str, Path]) -> None:
    rows = pd.read_csv(photo_run["run"] / "poses.csv", keep_default_na=False)
    assert len(rows) == 8
    corrupt = rows[rows["path"].str.endswith("corrupt.jpg")].iloc[0]
    assert corrupt["error"] and corrupt["persons"] == 0 and corrupt["image_id"] == ""
    assert rows[rows["path"].str.endswith("blank.png")].iloc[0]["persons"] == 0
    summary = json.loads((photo_run["run"] / "summary.json").read_text())
    images = summary["images"]
    assert images["total"] == 8 and images["errors"] == 1
    assert images["with_person"] + images["without_person"] == 7
    assert images["without_person"] >= 1 and summary["backend"] == "mediapipe"
    assert summary["seconds"] > 0 and summary["errors"][0]["path"].endswith("corrupt.jpg")
    for sport in CLASSES:
        for k in (1, 2):
            overlay = photo_run["out"] / "overlays" / sport / f"{k}.jpg"
            with (
                Image.open(overlay) as drawn,
                Image.open(photo_run["root"] / "in" / sport / f"{k}.jpg") as original,
            ):
                assert drawn.size == original.size


@needs_mediapipe
def test_an_existing_dataset_is_not_overwritten(photo_run: dict[str, Path]) -> None:
    before = (photo_run["out"] / "annotations.json").stat().st_mtime_ns
    with pytest.raises(PoseOutputExists, match=r"already holds a pose dataset.*overwrite=true"):
        golf = photo_run["root"] / "in" / "golf"
        run_pose(photo_run["root"], "again", f"input={golf}", f"output={photo_run['out']}")
    assert (photo_run["out"] / "annotations.json").stat().st_mtime_ns == before


# ---------------------------------------------------------------- a video from a real photo


def make_video(path: Path, photo: Path) -> None:
    """``NUM_FRAMES`` frames of the photo, zoomed out and in and panned, at SIDE px."""
    image = Image.open(photo).convert("RGB")
    frames = []
    for t in range(NUM_FRAMES):
        side = round(SIDE * (1.0 + 0.25 * t / (NUM_FRAMES - 1)))  # zoom in by a quarter
        big = np.asarray(image.resize((side, side), Image.Resampling.BILINEAR))
        top = (side - SIDE) // 2
        crop = big[top : top + SIDE, top : top + SIDE]
        frames.append(np.pad(crop, ((0, 0), (t, 0), (0, 0)), mode="edge")[:, :SIDE])  # pan
    write_video(path, np.stack(frames), fps=12)


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny exercise-video root: one video, its labels and split.csv; no poses, no masks."""
    if not HAS_MEDIAPIPE:
        pytest.skip(f"mediapipe is not installed. {INSTALL_HINT}")
    photo = shared_sample("sports100_sample") / "test" / "weightlifting" / "1.jpg"
    root = tmp_path_factory.mktemp("videos") / "data"
    make_video(root / "dataset" / "anon" / f"{SUBJECT}.mp4", photo)
    (root / "label").mkdir()
    labels = "frame_number,column1,column2\n" + "".join(f"{i},x,3\n" for i in range(NUM_FRAMES))
    (root / "label" / f"{SUBJECT}.csv").write_text(labels)
    (root / "split.csv").write_text(f"subject,split\n{SUBJECT},train\n")
    return root


@pytest.fixture(scope="module")
def video_run(video_root: Path) -> dict:
    summary, run = run_pose(
        video_root.parent, "first", f"input={video_root / 'dataset' / 'anon'}",
        f"output={video_root}", "overlay=true",
    )  # fmt: skip
    return {"summary": summary, "run": run}


@needs_mediapipe
def test_video_poses_and_masks_are_what_the_reader_requires(
    video_root: Path, video_run: dict
) -> None:
    layout = ExerciseVideoLayout()
    poses = read_pose_csv(layout.pose_path(video_root, SUBJECT), layout, NUM_FRAMES)
    found = poses[:, :, 2].max(axis=1) > 0
    assert found.sum() >= NUM_FRAMES - 2
    assert video_run["summary"]["videos"]["frames"] == NUM_FRAMES
    assert video_run["summary"]["videos"]["frames_without_person"] == NUM_FRAMES - found.sum()
    masks = load_mask_frames(layout.mask_folder(video_root, SUBJECT), range(NUM_FRAMES), layout)
    assert masks.shape == (NUM_FRAMES, SIDE, SIDE) and set(np.unique(masks)) <= {0, 1}
    assert 0.02 < masks[found].mean() < 0.8
    with Image.open(layout.mask_folder(video_root, SUBJECT) / "000000.png") as png:
        assert png.mode == "L" and set(np.unique(np.asarray(png))) <= {0, 255}
    # the hips sit on the mask, frame after frame (x, y in the frame's continuous pixels)
    for t in np.flatnonzero(found):
        hips = [j for j in (11, 12) if poses[t, j, 2] >= 0.5]
        for j in hips:
            x, y = poses[t, j, :2]
            if 0 <= x < SIDE and 0 <= y < SIDE:
                assert masks[t, int(y), int(x)] == 1, (t, j)
    table = read_exercise_video(
        video_root, clip_len=8, require_masks=True, require_poses=True, video_backend="pyav"
    )
    assert len(table.frame) == 1 and not table.skipped
    row = table.frame.iloc[0]
    assert row["pose_path"] and row["mask_dir"] and row["num_frames"] == NUM_FRAMES
    overlay = video_root / "overlays" / f"{SUBJECT}.mp4"
    assert probe_video(overlay, backend="pyav").num_frames == NUM_FRAMES
    rows = pd.read_csv(video_run["run"] / "videos.csv", keep_default_na=False)
    assert rows.loc[0, "frames"] == NUM_FRAMES and rows.loc[0, "error"] == ""


@needs_mediapipe
def test_a_video_root_is_completed_in_place_never_overwritten(
    video_root: Path, video_run: dict
) -> None:
    layout = ExerciseVideoLayout()
    csv_path = layout.pose_path(video_root, SUBJECT)
    mask_dir = layout.mask_folder(video_root, SUBJECT)
    anon = video_root / "dataset" / "anon"
    stamp = csv_path.stat().st_mtime_ns
    # everything is there: skipped without decoding
    summary, _ = run_pose(video_root.parent, "again", f"input={anon}", f"output={video_root}")
    assert summary["videos"]["skipped"] == 1 and summary["kept"]["pose CSVs"] == 1
    # two masks lost: only those are written, the CSV and the other masks are kept
    for name in ("000003.png", "000010.png"):
        (mask_dir / name).unlink()
    kept_mask = (mask_dir / "000004.png").stat().st_mtime_ns
    summary, run = run_pose(video_root.parent, "fill", f"input={anon}", f"output={video_root}")
    row = pd.read_csv(run / "videos.csv", keep_default_na=False).iloc[0]
    assert row["masks_written"] == 2 and row["masks_kept"] == NUM_FRAMES - 2
    assert row["pose_csv"].startswith("kept") and csv_path.stat().st_mtime_ns == stamp
    assert (mask_dir / "000004.png").stat().st_mtime_ns == kept_mask
    assert (mask_dir / "000003.png").is_file()
    # overwrite=true replaces them all
    summary, run = run_pose(
        video_root.parent, "overwrite", f"input={anon}", f"output={video_root}", "overwrite=true"
    )
    row = pd.read_csv(run / "videos.csv", keep_default_na=False).iloc[0]
    assert row["masks_written"] == NUM_FRAMES and csv_path.stat().st_mtime_ns != stamp


@needs_mediapipe
def test_an_unreadable_video_is_a_row(tmp_path: Path) -> None:
    bad = tmp_path / "in" / "broken.mp4"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    summary, _ = run_pose(tmp_path, "run", f"input={bad}", f"output={tmp_path / 'out'}")
    assert summary["videos"]["errors"] == 1 and "broken.mp4" in summary["errors"][0]["error"]
    assert not list((tmp_path / "out").rglob("*.csv"))


@needs_mediapipe
def test_a_video_without_anyone_gets_empty_masks_and_no_pose_rows(tmp_path: Path) -> None:
    video = tmp_path / "in" / "empty.mp4"
    write_video(video, np.full((6, 48, 64, 3), 90, np.uint8), fps=6)
    summary, _ = run_pose(tmp_path, "run", f"input={video}", f"output={tmp_path / 'out'}")
    assert summary["videos"]["frames_without_person"] == 6 and summary["persons"] == 0
    layout = ExerciseVideoLayout()
    csv_path = layout.pose_path(tmp_path / "out", "empty")
    assert len(pd.read_csv(csv_path)) == 0  # the header only
    assert not read_pose_csv(csv_path, layout, 6).any()
    masks = load_mask_frames(layout.mask_folder(tmp_path / "out", "empty"), range(6), layout)
    assert masks.shape == (6, 48, 64) and not masks.any()


# ------------------------------------- predict: a c3d_all-style checkpoint on a raw video


@pytest.mark.slow  # trains a tiny C3D on masked, skeleton-weighted clips first
def test_a_masked_skeleton_clip_model_predicts_a_raw_video_with_nothing_given(
    video_root: Path, tmp_path: Path
) -> None:
    """Study 004's reported model multiplies frames by person masks and skeleton attention;
    given only a video (no masks=, no poses=), predict estimates both while streaming it
    once, writes them in the layout's names under <output>/estimated/ and says so."""
    from sports_rec.train import train

    run = tmp_path / "train"
    cfg = compose_config(
        "train",
        [
            f"paths.data_dir={tmp_path / 'data'}",
            *VIDEO_DATA,
            "data.dataset.use_masks=true",
            "data.dataset.skeleton_attention=true",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1",
            "trainer.accelerator=cpu",
            "print_config=false",
            "logger=csv",
        ],
        run,
        tmp_path,
    )
    train(cfg)
    video = video_root / "dataset" / "anon" / f"{SUBJECT}.mp4"
    out = tmp_path / "timeline"
    run_cli(
        "sports_rec.predict",
        f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        f"input={video}",
        f"output={out}",
        "stride=4",
        "annotate=true",
        cwd=tmp_path,
    )
    document = json.loads((out / "timeline.json").read_text())
    estimated = document["settings"]["estimated"]
    assert estimated["backend"] == "mediapipe" and estimated["frames"] == NUM_FRAMES
    assert estimated["frames_with_person"] >= NUM_FRAMES // 2  # the lifter is found
    masks = sorted((out / "estimated" / "dataset" / "mask" / SUBJECT).glob("*.png"))
    assert len(masks) == NUM_FRAMES
    assert (
        out / "estimated" / "dataset" / "skeleton" / "yolo_pose_csv" / f"{SUBJECT}.csv"
    ).is_file()
    assert document["settings"]["masks"] == estimated["masks"]
    assert len(pd.read_csv(out / "frame_probs.csv")) == NUM_FRAMES
    assert (out / "annotated.mp4").is_file()  # with the estimated skeleton drawn


def test_the_annotated_video_draws_the_skeleton_it_was_given(tmp_path: Path) -> None:
    from sports_rec.data.io.video_io import read_frames
    from sports_rec.predicting.annotate import write_annotated_video

    frames = np.full((2, 96, 96, 3), 40, np.uint8)
    keypoints = np.zeros((2, 17, 3), np.float32)
    keypoints[:, 5] = (30, 60, 0.9)  # left shoulder and elbow: one bone
    keypoints[:, 7] = (70, 60, 0.9)
    plain, drawn = tmp_path / "plain.mp4", tmp_path / "drawn.mp4"
    write_annotated_video(plain, [frames], 10.0, ["a", "a"], np.ones(2))
    write_annotated_video(drawn, [frames], 10.0, ["a", "a"], np.ones(2), keypoints=keypoints)
    row = slice(56, 65)  # around the bone, below the banner
    a, b = read_frames(plain, [0], "pyav")[0], read_frames(drawn, [0], "pyav")[0]
    assert np.abs(a[row, 35:65].astype(int) - b[row, 35:65]).mean() > 20
