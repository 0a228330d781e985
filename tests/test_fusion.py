"""Image + keypoint fusion (study 003): keypoints that move with the pixels, freeze policies
on named parts, the input spec in checkpoints, and fusion end to end (train, evaluate a
split, predict from a JSON, export with two inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.ops.misc import FrozenBatchNorm2d

from sports_rec.checkpoint import load_classifier
from sports_rec.data.datasets import KeypointImageDataset
from sports_rec.data.formats.infiniteform import read_infiniteform
from sports_rec.data.keypoints import COCO_FLIP_INDEX, COCO_KEYPOINTS
from sports_rec.data.synthetic import SyntheticSpec, generate
from sports_rec.data.transforms import (
    KeypointVisibility,
    RandomHorizontalFlip,
    image_transforms,
)
from sports_rec.models.nets.timm_net import create_timm_net
from sports_rec.train import train
from tests.conftest import compose_config

LEFT_SHOULDER, RIGHT_SHOULDER, NOSE = (COCO_KEYPOINTS.index(n) for n in
                                       ("left_shoulder", "right_shoulder", "nose"))  # fmt: skip


def _pose() -> np.ndarray:
    """17 joints (x, y, v) in a 60 x 40 image; the nose is a zero slot as in InfiniteForm."""
    joints = np.zeros((17, 3), np.float32)
    for j in range(1, 17):
        joints[j] = (5 + 3 * j, 4 + j, 2 if j % 2 else 1)
    joints[LEFT_SHOULDER] = (10, 20, 2)
    joints[RIGHT_SHOULDER] = (30, 22, 1)
    return joints


# ------------------------------------------------------------------ transforms


def test_flip_mirrors_keypoints_and_swaps_left_and_right_joints_with_visibility() -> None:
    joints = _pose()
    sample = {
        "image": tv_tensors.Image(torch.zeros(3, 40, 60)),
        "keypoints": tv_tensors.KeyPoints(torch.from_numpy(joints[:, :2]), canvas_size=(40, 60)),
        "visibility": KeypointVisibility(np.stack([joints[:, 2], joints[:, 2] * 0], 1)),
    }
    out = RandomHorizontalFlip(p=1.0)(sample)
    xy, vis = out["keypoints"], out["visibility"]
    # The left shoulder (x=10) is mirrored to x = 60 - 1 - 10 = 49 and becomes the right one.
    assert xy[RIGHT_SHOULDER].tolist() == [49.0, 20.0] and vis[RIGHT_SHOULDER, 0] == 2
    assert xy[LEFT_SHOULDER].tolist() == [29.0, 22.0] and vis[LEFT_SHOULDER, 0] == 1
    for joint, source in enumerate(COCO_FLIP_INDEX):
        assert xy[joint, 0] == 59 - joints[source, 0] and xy[joint, 1] == joints[source, 1]
    # Flipping twice gives the sample back.
    again = RandomHorizontalFlip(p=1.0)(out)
    assert torch.equal(again["keypoints"], sample["keypoints"])
    assert torch.equal(again["visibility"], sample["visibility"])


def _dataset(tmp_path: Path, transform, encoding: str = "pixels", crop=None, max_side=None):
    image = Image.new("RGB", (60, 40), (40, 90, 160))
    path = tmp_path / "pose.png"
    image.save(path)
    frame = pd.DataFrame({"path": [str(path)], "label": [0], "keypoints": [_pose()]})
    if crop is not None:
        frame["crop"] = [crop]
    return KeypointImageDataset(
        frame, transform=transform, encoding=encoding, image_size=32, max_side=max_side
    )


def test_keypoints_follow_resizes_and_encodings(tmp_path: Path) -> None:
    resize = image_transforms(train=False, size=30, crop_pct=1.0)  # 60x40 -> 30x30
    pixels = _dataset(tmp_path, resize, "pixels")[0]["keypoints"].reshape(17, 3)
    assert pixels[LEFT_SHOULDER].tolist() == pytest.approx([5.0, 15.0, 2.0])
    assert pixels[NOSE].tolist() == [0.0, 0.0, 0.0]  # a zero slot stays zero
    normalized = _dataset(tmp_path, resize, "normalized")[0]["keypoints"].reshape(17, 3)
    assert normalized[LEFT_SHOULDER].tolist() == pytest.approx([5 / 30, 15 / 30, 2.0])
    original = _dataset(tmp_path, resize, "original")[0]["keypoints"].reshape(17, 3)
    assert original.numpy() == pytest.approx(_pose())  # the metadata's pixels, untouched
    flip = image_transforms(train=True, size=30, random_resized_crop=False, hflip=1.0)
    flipped = _dataset(tmp_path, flip, "pixels")[0]["keypoints"].reshape(17, 3)
    assert flipped[NOSE].tolist() == [0.0, 0.0, 0.0]  # zero slots are not mirrored to x=W-1
    assert flipped[RIGHT_SHOULDER, 2] == 2  # the left shoulder's visibility moved with it


def test_an_avatar_crop_shifts_keypoints_and_a_joint_outside_becomes_invisible(
    tmp_path: Path,
) -> None:
    plain = image_transforms(train=False, size=40, crop_pct=1.0)
    sample = _dataset(tmp_path, plain, "pixels", crop=(8, 10, 48, 40))[0]
    assert tuple(sample["image"].shape) == (3, 40, 40)  # the 40 x 30 crop, resized
    joints = sample["keypoints"].reshape(17, 3)
    # (10, 20) -> (2, 10) in the crop -> x 40/40, y 40/30 scale
    assert joints[LEFT_SHOULDER].tolist() == pytest.approx([2.0, 10 * 40 / 30, 2.0])
    outside = [j for j in range(1, 17) if _pose()[j, 0] - 8 < 0 or _pose()[j, 0] - 8 >= 40]
    assert outside and all(joints[j, 2] == 0 for j in outside)


@pytest.mark.parametrize("crop", [None, (8, 10, 48, 40)])
def test_keypoints_stay_on_their_pixels_when_decoding_reduces_a_large_image(
    tmp_path: Path, crop
) -> None:
    """InfiniteForm's renders are far larger than ``max_side``: decoding reduces them, and
    the keypoints and avatar crop (in the source's pixels) must be scaled with them."""
    plain = image_transforms(train=False, size=40, crop_pct=1.0)
    full = _dataset(tmp_path, plain, "pixels", crop)[0]
    reduced_dataset = _dataset(tmp_path, plain, "pixels", crop, max_side=16)
    assert min(reduced_dataset.load(0)["image"].size) < 40  # decoding did reduce it
    reduced = reduced_dataset[0]
    joints, expected = reduced["keypoints"].reshape(17, 3), full["keypoints"].reshape(17, 3)
    assert torch.equal(joints[:, 2], expected[:, 2])
    assert joints[:, :2].numpy() == pytest.approx(expected[:, :2].numpy(), abs=2.5)
    assert joints[LEFT_SHOULDER, 2] == 2 and joints[NOSE].tolist() == [0.0, 0.0, 0.0]


# ------------------------------------------------------------------ freeze on named parts


def _trainable(net: torch.nn.Module) -> set[str]:
    return {n for n, p in net.named_parameters() if p.requires_grad}


def test_freezing_the_backbone_never_freezes_the_head_or_the_keypoint_path() -> None:
    net = create_timm_net(
        "resnet10t", 5, head=[16], extra_inputs={"keypoints": 51}, freeze="backbone"
    )
    assert _trainable(net) == {"head.0.weight", "head.0.bias", "head.3.weight", "head.3.bias"}
    assert net.head[0].in_features == 512 + 51 and net.input_keys == ("image", "keypoints")
    logits = net(torch.randn(2, 3, 32, 32), torch.randn(2, 51))
    logits.sum().backward()
    assert net.head[0].weight.grad[:, 512:].abs().sum() > 0  # the keypoints reach the head
    assert isinstance(net.backbone.bn1, FrozenBatchNorm2d)


def test_last_stage_and_classifier_readings_of_an_unfrozen_final_layer() -> None:
    stage = create_timm_net("resnet10t", 5, head=[], freeze="all_but_last_stage")
    assert {n.split(".")[1] for n in _trainable(stage) if n.startswith("backbone.")} == {"layer4"}
    logits = create_timm_net(
        "resnet10t", 5, head=[], features="logits", freeze="all_but_classifier"
    )
    assert _trainable(logits) == {"backbone.fc.weight", "backbone.fc.bias", "head.0.weight",
                                  "head.0.bias"}  # fmt: skip
    assert logits.head[0].in_features == 1000  # on the backbone's own ImageNet outputs


def test_batchnorm_statistics_of_frozen_layers_can_keep_updating() -> None:
    net = create_timm_net("resnet10t", 5, head=[], freeze="backbone", freeze_bn_stats=False)
    bn = net.backbone.bn1
    assert isinstance(bn, torch.nn.BatchNorm2d) and not bn.weight.requires_grad
    before = bn.running_mean.clone()
    net.train()(torch.randn(4, 3, 32, 32))
    assert not torch.equal(before, bn.running_mean)  # the study's "model set to train mode"


# ------------------------------------------------------------------ end to end

FUSION = [
    "model=small",
    "model.net.head=[]",
    "data=synthetic_infiniteform",
    "data.synthetic.classes=4",
    "data.synthetic.per_class=24",
    "data.synthetic.eval_per_class=6",
    "data.synthetic.size=48",
    "data.image_size=48",
    "data.batch_size=16",
    "data.num_workers=0",
    "data.dataset.encoding=normalized",
    "model.net.freeze=backbone",  # as the study's models 1 and 3: a fixed feature extractor
    "model.net.extra_norm=true",  # (fusion only) standardised keypoints
    "trainer.max_epochs=6",
    "trainer.accelerator=cpu",
    "optimizer.lr=0.01",
    "print_config=false",
    "logger=none",
    "callbacks.rich_progress_bar=null",
]


@pytest.fixture(scope="module")
def fusion_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An image-only and an image+keypoint net trained alike on the synthetic set."""
    root = tmp_path_factory.mktemp("fusion")
    runs = {}
    for name, extra in (("image", []), ("fusion", ["model.net.extra_inputs=[keypoints]"])):
        overrides = [f"paths.data_dir={root / 'data'}", *FUSION, *extra]
        train(compose_config("train", overrides, root / name, root))
        runs[name] = root / name
    return runs


@pytest.mark.slow  # fusion_runs: two runs of six epochs
def test_keypoints_beat_the_image_alone(fusion_runs: dict[str, Path]) -> None:
    """As in the study (model 1 vs model 3): on a frozen backbone the keypoints carry the
    pose, the image features of the synthetic stick figures barely do."""
    acc = {
        name: json.loads((run / "test_metrics.json").read_text())["test/acc"]
        for name, run in fusion_runs.items()
    }
    assert acc["fusion"] >= 0.8, acc  # chance: 0.25 (measured: 0.95-1.0 vs 0.40)
    assert acc["fusion"] >= acc["image"] + 0.3, acc


@pytest.mark.slow
def test_the_checkpoint_describes_every_input(fusion_runs: dict[str, Path]) -> None:
    model = load_classifier(fusion_runs["fusion"] / "checkpoints" / "last.ckpt")
    spec = {entry["name"]: entry["shape"] for entry in model.hparams.metadata["input_spec"]}
    assert spec == {"image": [3, 48, 48], "keypoints": [51]}
    assert model.input_keys == ("image", "keypoints")


@pytest.mark.slow
def test_a_checkpoint_without_input_spec_still_loads(
    fusion_runs: dict[str, Path], tmp_path: Path
) -> None:
    """Checkpoints from before the spec existed: one image input, from channels/image_size."""
    ckpt = torch.load(fusion_runs["image"] / "checkpoints" / "last.ckpt", weights_only=True)
    del ckpt["hyper_parameters"]["metadata"]["input_spec"]
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    model = load_classifier(old)
    assert model.input_spec == [{"name": "image", "shape": [3, 48, 48], "dtype": "torch.float32"}]
    assert model({"image": torch.randn(2, 3, 48, 48)}).shape == (2, 4)


@pytest.mark.slow
def test_evaluate_a_split_other_than_test(fusion_runs: dict[str, Path], tmp_path: Path) -> None:
    from sports_rec.evaluate import evaluate

    ckpt = fusion_runs["fusion"] / "checkpoints" / "last.ckpt"
    cfg = compose_config(
        "evaluate", [f"ckpt_path={ckpt}", "split=train"], tmp_path / "eval", tmp_path
    )
    metrics = evaluate(cfg)
    written = json.loads((tmp_path / "eval" / "train_metrics.json").read_text())
    assert written["train/acc"] == pytest.approx(metrics["train/acc"])
    splits = pd.read_csv(fusion_runs["fusion"] / "splits.csv")
    support = pd.read_csv(tmp_path / "eval" / "train_per_class.csv")["support"].sum()
    assert support == (splits["split"] == "train").sum()
    assert not (tmp_path / "eval" / "test_metrics.json").exists()


@pytest.mark.slow
def test_predict_from_an_annotation_json_and_an_onnx_file_with_two_inputs(
    fusion_runs: dict[str, Path], tmp_path: Path
) -> None:
    from sports_rec.export import export
    from sports_rec.predict import predict

    ckpt = fusion_runs["fusion"] / "checkpoints" / "last.ckpt"
    data = generate(SyntheticSpec("infiniteform", 4, 3, 1, size=48, seed=9), tmp_path / "new")
    (annotations,) = (p for p in data.glob("*.json") if not p.name.startswith("."))

    out = tmp_path / "export"
    result = export(compose_config("export", [f"ckpt_path={ckpt}"], out, tmp_path))
    sidecar = json.loads(Path(result["sidecar"]).read_text())
    assert [i["name"] for i in sidecar["inputs"]] == ["image", "keypoints"]
    assert sidecar["inputs"][1]["shape"] == ["batch", 51]
    assert result["max_difference"] < 1e-4

    tables = {}
    for name, extra in (("torch", []), ("onnx", [f"model_file={result['output']}"])):
        cfg = compose_config(
            "predict",
            [f"ckpt_path={ckpt}", f"input={annotations}", *extra],
            tmp_path / name,
            tmp_path,
        )
        tables[name] = pd.read_csv(predict(cfg)["output"])
    expected = read_infiniteform(data, annotations=str(annotations))
    torch_table = tables["torch"]
    assert sorted(torch_table["path"]) == sorted(expected.frame["path"])
    assert "image_id" in torch_table.columns and torch_table["error"].isna().all()
    np.testing.assert_allclose(torch_table["prob_1"], tables["onnx"]["prob_1"], atol=1e-4)
    assert list(torch_table["label_1"]) == list(tables["onnx"]["label_1"])
