"""``data.dataset.keypoints=estimate``: keypoints for any image dataset, estimated once per
file by the pose backend and cached by content, so the InfiniteForm fusion nets train on
image folders that carry no keypoints. Skipped without the ``pose`` extra."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sports_rec.errors import ConfigError
from sports_rec.pose_estimation import INSTALL_HINT
from sports_rec.pose_estimation.coco_mapping import coco_keypoints
from sports_rec.pose_estimation.keypoint_cache import EstimateOptions, KeypointCache
from tests.conftest import run_cli, shared_sample

needs_mediapipe = pytest.mark.skipif(
    importlib.util.find_spec("mediapipe") is None,
    reason=f"mediapipe is not installed. {INSTALL_HINT}",
)
SPORTS = ("boxing", "golf", "tennis", "weightlifting")


def test_coco_visibility_of_estimated_joints() -> None:
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[0] = (10, 20, 0.9)  # confident, inside: v = 2
    keypoints[1] = (10, 20, 0.2)  # unsure, inside: v = 1
    keypoints[2] = (120, 20, 0.95)  # confident but outside a 100 px wide image: v = 0
    coco = coco_keypoints(keypoints, 100, 50, min_conf=0.5)
    assert coco[0].tolist() == [10, 20, 2] and coco[1].tolist() == [10, 20, 1]
    assert coco[2].tolist() == [120, 20, 0] and not coco[3:].any()  # unplaced: zero slots


def test_estimate_options_are_checked() -> None:
    assert EstimateOptions.parse("estimate", "/c").cache_dir == "/c"
    assert EstimateOptions.parse({"no_person": "skip"}, None).no_person == "skip"
    with pytest.raises(ConfigError, match="no_person must be one of"):
        EstimateOptions.parse({"no_person": "guess"}, None)
    with pytest.raises(ConfigError, match="unknown option"):
        EstimateOptions.parse({"backend": "mediapipe", "colour": 1}, None)
    with pytest.raises(ConfigError, match="must be null"):
        EstimateOptions.parse(3, None)


@pytest.mark.parametrize("policy", ["zeros", "skip"])
def test_images_without_a_person_follow_the_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, policy: str
) -> None:
    """A stand-in backend finds a person in every other image; the rest get zeros or are
    dropped, and the dataset's notes (data_report.txt) count them."""
    from PIL import Image

    from sports_rec.data.datasets import KeypointImageDataset

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (40, 30), (i * 40, 0, 0)).save(paths[-1])
    person = np.tile(np.array([[10, 10, 2]], np.float32), (17, 1))

    def found(self, files):
        return [person if i % 2 == 0 else None for i in range(len(files))]

    monkeypatch.setattr(KeypointCache, "keypoints", found)
    frame = pd.DataFrame({"path": [str(p) for p in paths], "label": [0, 1, 0, 1]})
    dataset = KeypointImageDataset(
        frame, keypoints={"no_person": policy}, image_size=32, cache_dir=str(tmp_path / "c")
    )
    assert len(dataset) == (4 if policy == "zeros" else 2)
    assert dataset.notes and "2 of 4 images: no person found" in dataset.notes[0]
    if policy == "zeros":
        assert not dataset.keypoints[1].any() and dataset.keypoints[0].any()
    else:
        assert dataset.labels == [0, 0]


@needs_mediapipe
def test_real_photos_are_estimated_once_then_read_from_the_cache(tmp_path: Path) -> None:
    test = shared_sample("sports100_sample") / "test"
    photos = [p for sport in SPORTS for p in sorted((test / sport).glob("*.jpg"))[:1]]
    assert len(photos) == len(SPORTS)
    copy = tmp_path / "renamed.jpg"  # same bytes under another name: a cache hit
    shutil.copy(photos[0], copy)
    options = EstimateOptions.parse({"cache_dir": str(tmp_path / "poses")}, None)
    first = KeypointCache(options)
    found = first.keypoints(photos)
    assert first.misses == len(photos) and first.hits == 0
    people = [k for k in found if k is not None]
    assert len(people) >= 3  # one athlete in each of these photos
    for keypoints in people:  # COCO (x, y, v) in the source image's pixels
        assert set(np.unique(keypoints[:, 2])) <= {0.0, 1.0, 2.0}
        assert (keypoints[:, 2] == 2).sum() >= 6
    again = KeypointCache(options)
    cached = again.keypoints([*photos, copy])
    assert again.misses == 0 and again.hits == len(photos) + 1
    for a, b in zip(found, cached, strict=False):
        assert (a is None and b is None) or np.array_equal(a, b)
    assert len(list((tmp_path / "poses").rglob("*.json"))) == len(photos)


@needs_mediapipe
def test_a_fusion_net_trains_on_an_image_folder_with_estimated_keypoints(
    make_cfg, tmp_path: Path
) -> None:
    """The synthetic drawings hold no real person: the run handles "no person" as the
    policy says (zeros) and counts it in data_report.txt; the net still gets 51 values."""
    from sports_rec.checkpoint import load_classifier
    from sports_rec.train import train

    cfg = make_cfg(
        "data.dataset.keypoints=estimate",
        "model.net.extra_inputs=[keypoints]",
        "model.net.head=[]",
        "trainer.max_epochs=1",
        "data.synthetic.per_class=6",
        "data.synthetic.eval_per_class=3",
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["test/acc"])
    run = Path(cfg.paths.output_dir)
    report = (run / "data_report.txt").read_text()
    found_note = "no person found by mediapipe, given all-zero keypoints" in report
    model = load_classifier(run / "checkpoints" / "last.ckpt")
    assert model.input_keys == ("image", "keypoints")
    spec = {entry["name"]: entry["shape"] for entry in model.input_spec}
    assert spec["keypoints"] == [51]
    stored = model.hparams.metadata["data"]["dataset"]
    assert stored["keypoints"] == "estimate" and stored["_target_"].endswith("KeypointImageDataset")
    assert found_note  # the drawings mostly hold no person: counted, not fatal
    cache = Path(cfg.paths.cache_dir) / "poses"
    assert list(cache.rglob("*.json")), "the estimates are cached beside the image cache"
    json.loads(next(cache.rglob("*.json")).read_text())

    # predict: the checkpoint given plain photos estimates their keypoints the same way
    test = shared_sample("sports100_sample") / "test"
    photos = tmp_path / "photos"
    photos.mkdir()
    for sport in SPORTS[:3]:
        shutil.copy(sorted((test / sport).glob("*.jpg"))[0], photos / f"{sport}.jpg")
    out = tmp_path / "predictions.csv"
    run_cli(
        "sports_rec.predict",
        f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        f"input={photos}",
        f"output={out}",
        cwd=tmp_path,
    )
    table = pd.read_csv(out)
    assert len(table) == 3 and (table["error"].fillna("") == "").all()
    assert table["keypoints_from"].str.startswith("estimated (mediapipe)").all()
    assert (~table["keypoints_from"].str.contains("no person")).sum() >= 2


def test_photos_or_an_annotation_table(tmp_path: Path) -> None:
    from sports_rec.modalities.keypoint_image import given_photos

    column = {"dataset": {"keypoints": None}}
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"")
    (tmp_path / "table").mkdir()
    (tmp_path / "table" / "annotations.json").write_text("{}")
    assert given_photos(str(tmp_path / "photos"), column)
    assert given_photos(str(tmp_path / "photos" / "a.jpg"), column)
    assert given_photos(str(tmp_path / "photos" / "*.jpg"), column)
    assert not given_photos(str(tmp_path / "table"), column)
    assert not given_photos(str(tmp_path / "table" / "annotations.json"), column)
    estimated = {"dataset": {"keypoints": "estimate"}}  # trained on estimated keypoints
    assert given_photos(str(tmp_path / "table"), estimated)
