"""Export (ONNX, TorchScript) and predict, from a checkpoint alone.

Two tiny checkpoints are trained once for the session (``tiny_checkpoints`` in conftest):
the default timm net on RGB input and LeNet on grayscale (1-channel) input. Exported files
are reloaded here with ONNX Runtime / ``torch.jit.load`` and compared with ``model.net`` on
a batch size other than the traced one, which proves the batch dimension is dynamic.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch
import torch.nn as nn

from sports_rec.checkpoint import load_classifier
from sports_rec.data.synthetic import SyntheticSpec, generate
from sports_rec.export import export
from sports_rec.models.exporting import export_model
from sports_rec.models.runners import ExportError
from sports_rec.predict import predict
from sports_rec.predicting.inputs import PredictInputError
from tests.conftest import TINY_CHECKPOINT_NETS, compose_config, run_cli, run_folder

NETS = TINY_CHECKPOINT_NETS
CLASSES = 3

# The tests reload TorchScript files themselves; torch flags torch.jit as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def checkpoints(tiny_checkpoints: dict[str, Path]) -> dict[str, Path]:
    """``{"rgb": last.ckpt of the default net, "gray": last.ckpt of a 1-channel LeNet}``."""
    return tiny_checkpoints


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """A folder tree of synthetic images (some grayscale JPEGs, a stray non-image file)
    plus one file of random bytes and one truncated JPEG."""
    root = generate(
        SyntheticSpec("sports100", classes=3, per_class=2, eval_per_class=1, size=32),
        tmp_path_factory.mktemp("images") / "photos",
    )
    good = sorted(p for p in root.rglob("*.jpg"))
    (root / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(600))
    whole = good[0].read_bytes()
    (root / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    return {"root": [root], "good": good, "bad": [root / "corrupt.jpg", root / "truncated.jpg"]}


def run_export(ckpt: Path, fmt: str, out: Path, *overrides: str) -> dict:
    cfg = compose_config("export", [f"ckpt_path={ckpt}", f"format={fmt}", *overrides], out, out)
    return export(cfg)


def run_predict(ckpt: Path, source: Path | str, out: Path, *overrides: str) -> pd.DataFrame:
    cfg = compose_config("predict", [f"ckpt_path={ckpt}", f"input={source}", *overrides], out, out)
    result = predict(cfg)
    table = pd.read_csv(result["output"])
    table["error"] = table["error"].fillna("")
    return table


@pytest.fixture(scope="module")
def onnx_file(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx_export")
    return Path(run_export(checkpoints["rgb"], "onnx", out)["output"])


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("net", list(NETS))
def test_export_round_trip_matches_pytorch_with_dynamic_batch(
    checkpoints: dict[str, Path], tmp_path: Path, net: str, fmt: str, capsys
) -> None:
    result = run_export(checkpoints[net], fmt, tmp_path / "run")
    output = Path(result["output"])
    name = "model.onnx" if fmt == "onnx" else "model.torchscript.pt"
    assert output == tmp_path / "run" / name and output.is_file()
    assert 0.0 <= result["max_difference"] <= 1e-4
    printed = capsys.readouterr().out
    assert "max |difference| = " in printed and str(output.resolve()) in printed

    model = load_classifier(checkpoints[net])
    channels = 1 if net == "gray" else 3
    sidecar = json.loads(Path(f"{output}.json").read_text())
    assert sidecar["class_names"] == model.class_names
    assert (sidecar["channels"], sidecar["image_size"]) == (channels, 32)
    assert sidecar["eval_transform"]["train"] is False
    assert sidecar["format"] == fmt

    image = torch.randn(5, channels, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.net(image).numpy()
    if fmt == "onnx":
        session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["image"]
        assert [o.name for o in session.get_outputs()] == ["logits"]
        got = session.run(["logits"], {"image": image.numpy()})[0]
    else:
        with torch.no_grad():
            got = torch.jit.load(str(output)).eval()(image).numpy()
    assert got.shape == (5, CLASSES)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


class InverseNet(nn.Module):
    """Uses ``linalg.inv``, which the TorchScript-based ONNX exporter has no mapping for."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.linalg.inv(image[:, 0, :CLASSES, :CLASSES]).sum(dim=1)


class BatchSizeBranchNet(nn.Module):
    """Python control flow on the batch size: tracing freezes the branch of the example."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = image.mean(dim=(1, 2, 3)).unsqueeze(1).repeat(1, CLASSES)
        return logits if image.shape[0] == 2 else logits + 1.0


def test_export_refuses_an_operator_onnx_cannot_express(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    model = load_classifier(checkpoints["rgb"])
    model.net = InverseNet()
    with pytest.raises(ExportError, match=r"as onnx: .*linalg_inv.*Try format=torchscript"):
        export_model(model, "onnx", tmp_path / "inverse.onnx")


def test_export_refuses_a_net_with_several_inputs(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    model = load_classifier(checkpoints["rgb"])
    model.input_keys = ("image", "keypoints")
    with pytest.raises(ExportError, match=r"to torchscript: the net consumes \['image', 'key"):
        export_model(model, "torchscript", tmp_path / "fusion.pt")


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the point of the test
def test_export_refuses_an_unfaithful_trace(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    model = load_classifier(checkpoints["rgb"])
    model.net = BatchSizeBranchNet()
    with pytest.raises(ExportError, match=r"differs from PyTorch by max \|difference\| = 1 >"):
        export_model(model, "torchscript", tmp_path / "branch.pt")


def test_export_refuses_an_unknown_format(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown format='tflite'"):
        run_export(checkpoints["rgb"], "tflite", tmp_path / "run")


@pytest.mark.parametrize("net", list(NETS))
def test_predict_folder_reports_unreadable_files_and_goes_on(
    checkpoints: dict[str, Path], images: dict, tmp_path: Path, net: str, capsys
) -> None:
    table = run_predict(checkpoints[net], images["root"][0], tmp_path / "run", "top_k=10")
    assert (tmp_path / "run" / "predictions.csv").is_file()
    columns = ["path", "error", "label_1", "prob_1", "label_2", "prob_2", "label_3", "prob_3"]
    assert list(table.columns) == columns  # top_k capped at the 3 classes
    expected = sorted(str(p) for p in images["good"] + images["bad"])
    assert sorted(table["path"]) == expected  # the stray sports.csv/.h5 files are skipped

    rows = table.set_index("path")
    for bad in images["bad"]:
        assert rows.loc[str(bad), "error"] != ""
        assert rows.loc[str(bad), ["label_1", "prob_1"]].isna().all()
    good = rows.loc[[str(p) for p in images["good"]]]
    assert (good["error"] == "").all()
    probs = good[["prob_1", "prob_2", "prob_3"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (np.diff(probs, axis=1) <= 0).all()  # most likely first
    labels = good[["label_1", "label_2", "label_3"]].to_numpy()
    assert all(sorted(row) == load_classifier(checkpoints[net]).class_names for row in labels)
    # sports.csv and the stray .h5 model file are counted, not predicted (the hidden
    # .synthetic.json marker is not an input at all).
    assert (
        f"Predicted {len(expected)} files (2 unreadable) with {checkpoints[net]} (PyTorch); "
        "2 non-image file(s) in the input skipped" in capsys.readouterr().out
    )


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_predict_with_exported_model_matches_pytorch(
    checkpoints: dict[str, Path], images: dict, onnx_file: Path, tmp_path: Path, fmt: str
) -> None:
    if fmt == "onnx":
        model_file = onnx_file
    else:
        model_file = Path(run_export(checkpoints["rgb"], fmt, tmp_path / "export")["output"])
    reference = run_predict(checkpoints["rgb"], images["root"][0], tmp_path / "torch", "top_k=3")
    exported = run_predict(
        checkpoints["rgb"],
        images["root"][0],
        tmp_path / "exported",
        "top_k=3",
        f"model_file={model_file}",
        "batch_size=5",  # other batches than the reference run: dynamic batch again
    )
    assert list(exported["path"]) == list(reference["path"])
    assert list(exported["error"]) == list(reference["error"])
    labels = ["label_1", "label_2", "label_3"]
    pd.testing.assert_frame_equal(exported[labels], reference[labels])
    probs = ["prob_1", "prob_2", "prob_3"]
    np.testing.assert_allclose(exported[probs], reference[probs], atol=1e-4, rtol=0)


def test_predict_refuses_a_model_file_from_another_checkpoint(
    checkpoints: dict[str, Path], images: dict, onnx_file: Path, tmp_path: Path
) -> None:
    from sports_rec.predicting.inputs import ModelMismatch

    match = (
        r"records inputs \[\('image', \[3, 32, 32\]\)\] "
        r"where the checkpoint has \[\('image', \[1, 32, 32\]\)\]"
    )
    with pytest.raises(ModelMismatch, match=match):
        run_predict(checkpoints["gray"], images["root"][0], tmp_path, f"model_file={onnx_file}")


def test_predict_without_inputs_names_the_input(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(PredictInputError, match=f"no image files found for input='{empty}'"):
        run_predict(checkpoints["rgb"], empty, tmp_path / "run")
    with pytest.raises(PredictInputError, match="does not exist"):
        run_predict(checkpoints["rgb"], tmp_path / "missing", tmp_path / "run")


@pytest.mark.slow  # the real CLI
def test_predict_cli_with_a_glob(
    checkpoints: dict[str, Path], images: dict, tmp_path: Path
) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, path in enumerate([*images["good"][:3], *images["bad"]]):
        shutil.copy(path, flat / f"img{i}.jpg")
    result = run_cli(
        "sports_rec.predict",
        f"ckpt_path={checkpoints['gray']}",
        f"input={flat}/*.jpg",
        "top_k=2",
        cwd=tmp_path,
    )
    out = run_folder(result.stdout)
    assert out.parent == tmp_path / "logs" / "predict" / "runs"
    assert "Predicted 5 files (2 unreadable)" in result.stdout
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 5
    assert list(table.columns) == ["path", "error", "label_1", "prob_1", "label_2", "prob_2"]
    assert table["error"].notna().sum() == 2
    assert Path(table["path"].iloc[0]).name == "img0.jpg"


def test_predict_with_a_missing_model_file_names_it(
    checkpoints: dict[str, Path], images: dict, tmp_path: Path
) -> None:
    from sports_rec.predicting.inputs import PredictInputError

    missing = tmp_path / "model.onnx"
    with pytest.raises(PredictInputError, match=r"model_file=.*model\.onnx' does not exist"):
        run_predict(
            checkpoints["rgb"], images["root"][0], tmp_path / "run", f"model_file={missing}"
        )
