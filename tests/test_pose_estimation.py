"""Pose estimation (sports_rec.pose_estimation): the BlazePose -> COCO table, the backend
interface and its errors, and MediaPipe on real sports photos (skipped without mediapipe)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sports_rec.data.keypoints import COCO_FLIP_INDEX, COCO_KEYPOINTS
from sports_rec.errors import ConfigError
from sports_rec.pose_estimation import (
    BLAZEPOSE_LANDMARKS,
    BLAZEPOSE_TO_COCO,
    INSTALL_HINT,
    PersonPose,
    PoseBackendUnavailable,
    available_backends,
    blazepose_to_coco,
    check_image,
    create_estimator,
    mediapipe_backend,
    person_box,
)
from tests.conftest import PROJECT_ROOT, shared_sample

# Sports whose photos show one athlete, upright, as the subject; both photos of each from
# the sports100 test split. Chosen by sport, not by whether BlazePose finds someone: it
# found a person in 10 of these 12 (archery/1 and fencing/2 missed), and in 132 of all 200
# test photos (many show vehicles, horses, crowds or tiny people).
UPRIGHT_SPORTS = ("archery", "boxing", "fencing", "golf", "tennis", "weightlifting")
MIN_FOUND = 9  # of 12
MIN_CONF = 0.5
SHOULDERS, HIPS = (5, 6), (11, 12)


# ---------------------------------------------------------------- the mapping table


def test_table_maps_every_coco_joint_once_to_the_same_named_landmark() -> None:
    assert len(BLAZEPOSE_LANDMARKS) == 33
    assert len(BLAZEPOSE_TO_COCO) == len(COCO_KEYPOINTS) == 17
    assert len(set(BLAZEPOSE_TO_COCO)) == 17
    # both sides name joints from the subject's point of view, so names must agree exactly
    assert [BLAZEPOSE_LANDMARKS[i] for i in BLAZEPOSE_TO_COCO] == list(COCO_KEYPOINTS)


def test_table_keeps_left_right_pairs_mirrored() -> None:
    """Mirroring a COCO joint and then mapping equals mapping and then mirroring."""

    def mirror(name: str) -> str:
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a):
                return b + name[len(a) :]
        return name

    for coco, twin in enumerate(COCO_FLIP_INDEX):
        blaze = BLAZEPOSE_LANDMARKS[BLAZEPOSE_TO_COCO[coco]]
        assert BLAZEPOSE_LANDMARKS[BLAZEPOSE_TO_COCO[twin]] == mirror(blaze)


def test_landmark_names_are_mediapipes() -> None:
    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip(f"mediapipe is not installed. {INSTALL_HINT}")
    pose = mediapipe_backend.import_pose_solution()
    assert tuple(lm.name.lower() for lm in pose.PoseLandmark) == BLAZEPOSE_LANDMARKS


def test_conversion_to_pixels_and_confidence() -> None:
    landmarks = np.zeros((33, 3))
    landmarks[0] = (0.5, 0.25, 0.9)  # nose
    landmarks[2] = (0.0, 0.0, 1.2)  # left eye at the top-left corner of the image
    landmarks[5] = (1.0, 1.0, -0.1)  # right eye at the bottom-right corner
    landmarks[28] = (1.1, -0.05, 0.7)  # right ankle, predicted outside the frame
    out = blazepose_to_coco(landmarks, width=200, height=100)
    assert out.dtype == np.float32 and out.shape == (17, 3)
    np.testing.assert_allclose(out[0], (100.0, 25.0, 0.9), rtol=1e-6)
    np.testing.assert_allclose(out[1], (0.0, 0.0, 1.0))  # continuous: the corner is 0, not 0.5
    np.testing.assert_allclose(out[2], (200.0, 100.0, 0.0))
    np.testing.assert_allclose(out[16], (220.0, -5.0, 0.7), rtol=1e-6)  # kept, not clipped
    with pytest.raises(ValueError, match=r"\[33, 3\]"):
        blazepose_to_coco(np.zeros((17, 3)), 10, 10)


# ---------------------------------------------------------------- interface and errors


def test_person_pose_validates_and_normalises() -> None:
    mask = np.zeros((4, 5), np.uint8)
    mask[1, 2] = 255
    person = PersonPose(np.zeros((17, 3), np.float64), (0, 0, 2, 3), 1, mask)
    assert person.keypoints.dtype == np.float32
    assert person.mask is not None and person.mask.max() == 1 and person.area == 1.0
    assert PersonPose(np.zeros((17, 3)), (1, 1, 3, 4), 0.5).area == 6.0
    with pytest.raises(ValueError, match=r"\[17, 3\]"):
        PersonPose(np.zeros((33, 3)), (0, 0, 1, 1), 1.0)


def test_person_box_covers_mask_and_confident_joints_inside_the_image() -> None:
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:, :2] = (5.0, 5.0)
    keypoints[0] = (2.5, 1.5, 0.9)
    keypoints[1] = (50.0, 50.0, 0.1)  # unconfident and far off: ignored
    keypoints[2] = (12.0, 9.0, 0.8)  # confident and outside the 10 x 8 image: clipped
    mask = np.zeros((8, 10), np.uint8)
    mask[3:6, 1:4] = 1  # pixels spanning x in [1, 4], y in [3, 6]
    assert person_box(keypoints, mask, 10, 8) == (1.0, 1.5, 10.0, 8.0)
    assert person_box(keypoints, None, 10, 8) == (2.5, 1.5, 10.0, 8.0)
    keypoints[:, 2] = 0.0  # nothing confident, no mask: every joint counts
    assert person_box(keypoints, None, 100, 100) == (2.5, 1.5, 50.0, 50.0)


def test_check_image_refuses_what_backends_would_misread() -> None:
    assert check_image(np.zeros((4, 5, 3), np.uint8)[:, ::-1]).flags.c_contiguous
    for bad in (np.zeros((4, 5, 3), np.float32), np.zeros((4, 5), np.uint8), [[0]]):
        with pytest.raises(ValueError, match=r"RGB uint8|numpy array"):
            check_image(bad)  # type: ignore[arg-type]


def test_unknown_backend_or_option_is_a_config_error() -> None:
    assert set(available_backends()) == {"mediapipe", "yolo"}
    with pytest.raises(ConfigError, match="choose one of mediapipe, yolo"):
        create_estimator("openpose")
    with pytest.raises(ConfigError, match=r"no option.*sigma.*min_detection_confidence"):
        create_estimator("mediapipe", sigma=3)


def test_package_imports_without_any_backend_library() -> None:
    code = (
        "import sys, sports_rec.pose_estimation;"
        "assert not {'mediapipe', 'ultralytics'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)


def test_missing_mediapipe_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import mediapipe...` fail as if it were not installed
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions.pose", None)
    with pytest.raises(PoseBackendUnavailable) as err:
        create_estimator("mediapipe")
    message = str(err.value)
    assert isinstance(err.value, ConfigError)
    for needed in ('pip install -e ".[pose]"', "--no-deps", "make install", "Python 3.13"):
        assert needed in message


def test_protobuf_7_is_refused_with_the_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    # a stand-in mediapipe, so this runs where the real one is absent too
    parent = None
    for name in (
        "mediapipe",
        "mediapipe.python",
        "mediapipe.python.solutions",
        "mediapipe.python.solutions.pose",
    ):
        module = types.ModuleType(name)
        if parent is not None:
            setattr(parent, name.rsplit(".", 1)[1], module)
        monkeypatch.setitem(sys.modules, name, module)
        parent = module
    monkeypatch.setattr(mediapipe_backend, "_protobuf_major", lambda: 7)
    with pytest.raises(PoseBackendUnavailable, match=r"protobuf>=4\.25\.3,<7"):
        create_estimator("mediapipe")


def test_yolo_without_weights_or_ultralytics_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PoseBackendUnavailable, match=r"pose\.weights=PATH"):
        create_estimator("yolo")
    with pytest.raises(PoseBackendUnavailable, match="is not a file"):
        create_estimator("yolo", weights=tmp_path / "absent.pt")
    weights = tmp_path / "pose.pt"
    weights.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    with pytest.raises(PoseBackendUnavailable, match="pip install ultralytics"):
        create_estimator("yolo", weights=weights)


def test_yolo_results_become_people_best_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in for ultralytics: what the backend passes in and makes of the result."""
    seen: dict[str, object] = {}
    keypoints = np.zeros((2, 17, 3), np.float32)
    keypoints[0, :, 2], keypoints[1, :, 2] = 0.3, 0.9

    class FakeYOLO:
        def __init__(self, weights: str) -> None:
            seen["weights"] = weights

        def predict(self, image: np.ndarray, **options: object) -> list[object]:
            seen["pixel"], seen["options"] = image[0, 0].tolist(), options
            boxes = types.SimpleNamespace(
                xyxy=np.array([[-3.0, 1.0, 5.0, 6.0], [1.0, 1.0, 40.0, 6.0]]),
                conf=np.array([0.4, 0.8]),
            )
            found = types.SimpleNamespace(data=keypoints)
            return [types.SimpleNamespace(keypoints=found, boxes=_Sized(boxes, 2))]

    monkeypatch.setitem(sys.modules, "ultralytics", types.SimpleNamespace(YOLO=FakeYOLO))
    weights = tmp_path / "pose.pt"
    weights.write_bytes(b"")
    image = np.zeros((8, 10, 3), np.uint8)
    image[0, 0] = (1, 2, 3)
    with create_estimator("yolo", weights=weights, conf=0.3) as estimator:
        people = estimator.estimate(image)
    assert seen["weights"] == str(weights)
    assert seen["pixel"] == [3, 2, 1]  # Ultralytics reads numpy images as BGR
    assert seen["options"] == {"conf": 0.3, "iou": 0.7, "imgsz": 640, "verbose": False}
    assert [p.score for p in people] == pytest.approx([0.8, 0.4])
    assert people[0].keypoints[0, 2] == pytest.approx(0.9)
    assert people[0].box == (1.0, 1.0, 10.0, 6.0) and people[1].box == (0.0, 1.0, 5.0, 6.0)
    assert people[0].mask is None


class _Sized:
    """Attribute access to ``inner`` plus a length (Ultralytics' Boxes has both)."""

    def __init__(self, inner: object, length: int) -> None:
        self._inner, self._length = inner, length

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def __len__(self) -> int:
        return self._length


# ---------------------------------------------------------------- MediaPipe on real photos


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    root = shared_sample("sports100_sample") / "test"
    return {
        f"{sport}/{k}": np.asarray(Image.open(root / sport / f"{k}.jpg").convert("RGB"))
        for sport in UPRIGHT_SPORTS
        for k in (1, 2)
    }


@pytest.fixture(scope="module")
def found(photos: dict[str, np.ndarray]) -> dict[str, list[PersonPose]]:
    """Every photo's people, estimated once for the module."""
    # find_spec, not importorskip: importing mediapipe outside the backend skips its setup
    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip(f"mediapipe is not installed. {INSTALL_HINT}")
    with create_estimator("mediapipe") as estimator:
        return {name: estimator.estimate(image) for name, image in photos.items()}


def test_a_person_is_found_in_most_photos(found: dict[str, list[PersonPose]]) -> None:
    hits = [name for name, people in found.items() if people]
    assert len(hits) >= MIN_FOUND, f"found a person in {sorted(hits)} only"
    assert all(len(people) <= 1 for people in found.values())  # BlazePose: one per image


def test_found_people_have_plausible_geometry(
    photos: dict[str, np.ndarray], found: dict[str, list[PersonPose]]
) -> None:
    for name, people in found.items():
        height, width = photos[name].shape[:2]
        for person in people:
            kp, mask = person.keypoints, person.mask
            confident = kp[:, 2] >= MIN_CONF
            assert confident.sum() >= 8, name
            inside = (kp[:, 0] >= 0) & (kp[:, 0] < width) & (kp[:, 1] >= 0) & (kp[:, 1] < height)
            # BlazePose places joints out of frame too (with high visibility): most stay in
            assert (inside & confident).sum() >= 0.7 * confident.sum(), name
            assert mask is not None and mask.shape == (height, width) and mask.dtype == np.uint8
            assert 0.01 <= mask.mean() <= 0.8, name
            # the torso joints sit on the person's mask (catches unscaled or swapped x, y)
            torso = [j for j in (*SHOULDERS, *HIPS) if confident[j] and inside[j]]
            on_mask = [mask[int(kp[j, 1]), int(kp[j, 0])] for j in torso]
            assert len(torso) >= 2 and np.mean(on_mask) >= 0.75, (name, torso, on_mask)
            x0, y0, x1, y1 = person.box
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, name
            assert all(x0 <= kp[j, 0] <= x1 and y0 <= kp[j, 1] <= y1 for j in torso), name
            if confident[[*SHOULDERS, *HIPS]].all():
                # upright athletes: shoulders above hips, and each shoulder nearer the
                # hip of its own side than the other (left/right taken from one table)
                assert kp[SHOULDERS, 1].mean() < kp[HIPS, 1].mean(), name
                same_side = _dist(kp, 5, 11) + _dist(kp, 6, 12)
                assert same_side < _dist(kp, 5, 12) + _dist(kp, 6, 11), name


def _dist(keypoints: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(keypoints[a, :2] - keypoints[b, :2]))


def test_left_is_the_subjects_left(found: dict[str, list[PersonPose]]) -> None:
    """COCO and BlazePose both name joints from the subject's side: facing the camera, the
    left shoulder is on the image's right. Most athletes here face the camera."""
    facing = [
        p.keypoints for people in found.values() for p in people
        if (p.keypoints[[0, 1, 2, 5, 6], 2] >= MIN_CONF).all()
    ]  # fmt: skip
    left_on_right = sum(kp[5, 0] > kp[6, 0] for kp in facing)
    assert len(facing) >= MIN_FOUND - 2 and left_on_right >= 0.75 * len(facing)


def test_video_mode_follows_a_moving_person(photos: dict[str, np.ndarray]) -> None:
    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip(f"mediapipe is not installed. {INSTALL_HINT}")
    image = photos["tennis/1"]
    frames = [np.roll(image, shift, axis=1) for shift in (0, 6, 12, 18)]
    with create_estimator("mediapipe", min_detection_confidence=0.5) as estimator:
        per_frame = list(estimator.estimate_frames(iter(frames)))
    assert [len(people) for people in per_frame] == [1, 1, 1, 1]
    noses = [people[0].keypoints[0, 0] for people in per_frame]
    # the person moved 18 px right over the frames; the nose follows within a few pixels
    assert noses[-1] - noses[0] == pytest.approx(18, abs=5)
