"""``python -m sports_rec.explain`` from a checkpoint alone: panels for a CNN, a ViT and an
image + keypoints net, the maths of each method checked directly, the filters, GradCAM
videos of a clip model (frame count and size), and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from sports_rec.checkpoint import load_classifier
from sports_rec.data.io.video_io import probe_video
from sports_rec.errors import ConfigError
from sports_rec.explain import NoSampleToExplain, explain
from sports_rec.explaining.attribution import attribute
from sports_rec.explaining.targets import MethodNotApplicable, cam_target
from sports_rec.explaining.video import VIDEO_NAMES
from sports_rec.train import train
from tests.conftest import compose_config, expect_user_error, run_cli

IMAGE = [
    "data.synthetic.classes=3",
    "data.synthetic.per_class=8",
    "data.synthetic.eval_per_class=4",
    "data.synthetic.size=64",
    "data.image_size=64",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "print_config=false",
    "test=false",
]
NETS = {
    "cnn": ["model=small"],
    "vit": ["model=timm", "model.net.name=test_vit", "+model.net.img_size=64"],
    "fusion": [
        "model=small",
        "model.net.head=[16]",
        "data=synthetic_infiniteform",
        "data.dataset.encoding=normalized",
        "model.net.extra_inputs=[keypoints]",
    ],
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explain")
    found = {}
    for name, extra in NETS.items():
        train(
            compose_config(
                "train", [f"paths.data_dir={root / 'data'}", *IMAGE, *extra], root / name, root
            )
        )
        found[name] = root / name / "checkpoints" / "last.ckpt"
    return found


def run_explain(ckpt: Path, out: Path, *overrides: str) -> pd.DataFrame:
    cfg = compose_config("explain", [f"ckpt_path={ckpt}", *overrides], out, out)
    explain(cfg)
    return pd.read_csv(out / "explanations.csv")


@pytest.mark.parametrize("net", ["cnn", "vit", "fusion"])
@pytest.mark.parametrize("method", ["saliency", "gradcam"])
def test_panels_for_every_image_net(
    checkpoints: dict[str, Path], tmp_path: Path, net: str, method: str
) -> None:
    table = run_explain(checkpoints[net], tmp_path, f"method={method}", "num_samples=3")
    assert len(table) == 3 and set(table["method"]) == {method}
    assert (table["target"] == table["pred"]).all()
    for name in table["file"]:
        with Image.open(tmp_path / name) as panel:
            panel.verify()
            width = panel.size[0]
        with_joints = net == "fusion" and method == "saliency"  # GradCAM: the image only
        assert width == (1280 if with_joints else 960)  # 4 or 3 columns of 320 px
    if net == "fusion" and method == "saliency":
        assert table["keypoint_share"].between(0, 1, inclusive="right").all()
    else:
        assert table["keypoint_share"].isna().all()
    if method == "gradcam":
        expected = {"cnn": "layer4", "vit": "blocks.5.norm1", "fusion": "backbone.layer4"}[net]
        assert set(table["layer"]) == {expected}


def _one_batch(ckpt: Path, size: int = 64) -> tuple:
    model = load_classifier(ckpt).eval()
    torch.manual_seed(0)
    inputs = {"image": torch.randn(2, 3, size, size)}
    if "keypoints" in model.input_keys:
        inputs["keypoints"] = torch.rand(2, 51)
    return model, inputs


def test_saliency_is_the_absolute_gradient_max_over_channels(
    checkpoints: dict[str, Path],
) -> None:
    model, inputs = _one_batch(checkpoints["cnn"])
    targets = torch.tensor([2, 0])
    result = attribute(model.net, inputs, model.input_keys, targets, "saliency")
    x = inputs["image"].clone().requires_grad_(True)
    model.net(x)[0, 2].backward()  # sample 0 only: samples do not interact in eval mode
    by_hand = x.grad[0].abs().amax(dim=0)
    assert torch.allclose(result.raw["image"][0].abs().amax(dim=0), by_hand, atol=1e-6)
    assert np.allclose(result.maps[0], (by_hand / by_hand.max()).numpy(), atol=1e-5)


def test_gradcam_maps_are_in_unit_range_and_depend_on_the_class(
    checkpoints: dict[str, Path],
) -> None:
    model, inputs = _one_batch(checkpoints["cnn"])
    maps = [
        attribute(
            model.net, inputs, model.input_keys, torch.tensor([c, c]), "gradcam", layer="layer3"
        ).maps
        for c in range(3)
    ]  # layer3: 4x4 at 64 px (layer4's 2x2 maps are often all negative, hence flat)
    for m in maps:
        assert m.shape == (2, 64, 64) and m.min() >= 0
        peaks = m.reshape(2, -1).max(axis=1)
        assert all(p == pytest.approx(1) or p == 0 for p in peaks), peaks
    assert max(float(m.max()) for m in maps) == pytest.approx(1)
    assert not np.allclose(maps[0], maps[1]) or not np.allclose(maps[1], maps[2])


def test_integrated_gradients_are_complete_over_both_inputs(
    checkpoints: dict[str, Path],
) -> None:
    """The attributions of image and keypoints add up to score(x) - score(baseline)."""
    model, inputs = _one_batch(checkpoints["fusion"])
    targets = torch.tensor([1, 2])
    result = attribute(
        model.net, inputs, model.input_keys, targets, "integrated_gradients", steps=64
    )
    with torch.no_grad():
        score = model.net(*inputs.values()).gather(1, targets[:, None])[:, 0]
        base = model.net(*(torch.zeros_like(v) for v in inputs.values()))
        gap = score - base.gather(1, targets[:, None])[:, 0]
    total = sum(a.reshape(2, -1).sum(dim=1) for a in result.raw.values())
    assert torch.allclose(total, gap, atol=0.02 * float(gap.abs().max()) + 1e-4)
    assert np.abs(result.delta).max() < 0.02 * float(gap.abs().max()) + 1e-4
    assert (
        result.joints.shape == (2, 17)
        and ((result.keypoint_share > 0) & (result.keypoint_share <= 1)).all()
    )


def test_filters_choose_samples_by_truth_and_error(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    table = run_explain(
        checkpoints["cnn"], tmp_path / "a", "num_samples=50", "misclassified_only=true"
    )
    assert (table["true"] != table["pred"]).all()
    names = load_classifier(checkpoints["cnn"]).class_names
    table = run_explain(
        checkpoints["cnn"],
        tmp_path / "b",
        "num_samples=50",
        f"class_name={names[1]}",
        "target=label",
    )
    assert len(table) == 4 and set(table["true"]) == {names[1]}
    assert (table["target"] == table["true"]).all()
    with pytest.raises(ConfigError, match=r"class_name='nope' is not a class.*" + names[0]):
        run_explain(checkpoints["cnn"], tmp_path / "c", "class_name=nope")


def test_samples_are_taken_round_the_classes_unless_first_is_asked(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """The test split is sorted by class: by default the first samples explained are one of
    each class (round-robin), with order=first all of the first class."""
    from sports_rec.explaining.samples import class_round_robin

    assert class_round_robin([0, 0, 0, 1, 1, 2]) == [0, 3, 5, 1, 4, 2]
    names = load_classifier(checkpoints["cnn"]).class_names
    table = run_explain(checkpoints["cnn"], tmp_path / "a", "num_samples=3")
    assert sorted(table["true"]) == sorted(names[:3])
    table = run_explain(checkpoints["cnn"], tmp_path / "b", "num_samples=3", "order=first")
    assert set(table["true"]) == {names[0]}


def test_no_matching_sample_is_a_message(
    checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sports_rec.explain as module

    monkeypatch.setattr(module, "choose_samples", lambda *a, **k: pd.DataFrame())
    with pytest.raises(NoSampleToExplain, match=r"no sample of the test split .* passes"):
        run_explain(checkpoints["cnn"], tmp_path / "a", "misclassified_only=true")


@pytest.mark.slow  # the real CLI
def test_a_bad_method_is_a_message_on_the_command_line(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    expect_user_error(
        run_cli(
            "sports_rec.explain",
            f"ckpt_path={checkpoints['cnn']}",
            "method=lime",
            cwd=tmp_path,
            check=False,
        ),
        "method='lime' is unknown; choose one of saliency, gradcam",
    )


def test_gradcam_needs_a_spatial_stage() -> None:
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    with pytest.raises(MethodNotApplicable, match=r"declares none.*use method=saliency"):
        cam_target(net)
    with pytest.raises(ConfigError, match=r"layer='nowhere' is not a module"):
        cam_target(net, "nowhere")


# ---------------------------------------------------------------- clip models


@pytest.mark.slow  # trained_video_run (twelve epochs) and the CLI
def test_gradcam_videos_of_a_clip_model(trained_video_run: dict, tmp_path: Path) -> None:
    ckpt = trained_video_run["dir"] / "checkpoints" / "last.ckpt"
    result = run_cli(
        "sports_rec.explain",
        f"ckpt_path={ckpt}",
        "num_samples=2",
        "layer=block3",
        "long_sample.enabled=true",
        "long_sample.frames=40",
        "long_sample.stride=8",
        f"hydra.run.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert "Explained 2 sample(s)" in result.stdout
    table = pd.read_csv(tmp_path / "explanations.csv")
    assert len(table) == 2 and set(table["layer"]) == {"block3"}
    size = int(trained_video_run["cfg"].data.image_size)
    for folder in table["file"]:
        videos = {name: probe_video(tmp_path / folder / f"{name}.mp4") for name in VIDEO_NAMES}
        assert {v.num_frames for v in videos.values()} == {16}
        assert (videos["original"].width, videos["original"].height) == (size, size)
        assert videos["side_by_side"].width == 3 * size
        assert videos["overlay_with_probs"].height == 3 * size
        assert "layer: block3" in (tmp_path / folder / "metadata.txt").read_text()
    (long,) = (tmp_path / "explanations").glob("long_*")
    assert probe_video(long / "overlay_with_probs.mp4").num_frames == 40
    # the clips of predict's timeline that touch frames 0-39: starts 0, 8, 16, 24, 32
    metadata = (long / "metadata.txt").read_text()
    assert "clips: 5" in metadata

    # One rule for a frame's probability: the bars equal predict's frame_probs.csv (they
    # used to show the clip starting at or before each frame instead of the clips' mean).
    from sports_rec.predict import predict

    video = next(line for line in metadata.splitlines() if line.startswith("video: "))[7:]
    timeline = tmp_path / "timeline"
    predict(compose_config("predict", [f"ckpt_path={ckpt}", f"input={video}", "stride=8"],
                           timeline, tmp_path))  # fmt: skip
    bars = pd.read_csv(long / "frame_probs.csv")
    predicted = pd.read_csv(timeline / "frame_probs.csv").iloc[: len(bars)]
    assert list(bars["frame"]) == list(range(40))
    np.testing.assert_allclose(bars.to_numpy(), predicted.to_numpy(), atol=1e-5)


@pytest.mark.parametrize("value", [0, -3])
def test_a_sample_count_below_one_is_refused_naming_the_key(
    checkpoints: dict[str, Path], tmp_path: Path, value: int
) -> None:
    # It used to explain one sample, silently, with exit status 0.
    with pytest.raises(ConfigError, match=rf"num_samples={value}: must be an integer >= 1"):
        run_explain(checkpoints["cnn"], tmp_path, f"num_samples={value}")
    assert not (tmp_path / "explanations.csv").exists()
    assert not (tmp_path / "explanations").exists()
