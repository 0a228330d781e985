"""``python -m sports_rec.app``: the local web app for any checkpoints.

Three tiny checkpoints are trained once (an image net, an image + keypoints net, a clip
net), as the jobs of a hand-made sweep folder. The app's parts are checked directly
against what ``predict`` writes for the same file (labels, the timeline's segments); then
the app is started on a free localhost port and driven through ``gradio_client``; then the
system Chromium drives the page itself (Playwright), one test per model kind, each leaving
a screenshot in its temporary folder. The Gradio tests skip without the ``app`` extra,
the browser tests without Chromium.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from omegaconf import OmegaConf
from PIL import Image

from sports_rec.data.io.video_io import probe_video, write_video
from sports_rec.errors import ConfigError
from sports_rec.predict import predict
from sports_rec.serving import INSTALL_HINT
from sports_rec.serving.clips import TimelineSettings, VideoInputError
from sports_rec.serving.compare import metrics_table, per_class_accuracy
from sports_rec.serving.images import ImageInputError, ImageItem, view_box
from sports_rec.serving.images import test_split_items as split_items
from sports_rec.serving.launch import server_host
from sports_rec.serving.models import NoModelLoaded, check_device, load_models
from sports_rec.serving.sources import checkpoint_sources
from sports_rec.train import train
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, compose_config

needs_gradio = pytest.mark.skipif(
    importlib.util.find_spec("gradio") is None, reason=f"gradio is not installed: {INSTALL_HINT}"
)
HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(
    not HAS_MEDIAPIPE,
    reason="mediapipe (the pose extra) is not installed: photos get no estimated skeleton",
)

# The sweep's jobs, in its folder's order: what each was run with on the command line, as its
# .hydra/overrides.yaml records it (the page names each by what differs: data and model).
RUNS = {
    "image": ["data=synthetic", "model=small"],
    "fusion": ["data=synthetic_infiniteform", "model=small", "model.net.extra_inputs=[keypoints]"],
    "clip": ["data=synthetic_exercise_video", "model=c3d", "transforms=video"],
}
# ... and what makes them tiny (left out of overrides.yaml, to keep the names short).
SIZES = {
    "image": ["data.synthetic.per_class=8"],
    "fusion": [
        "data.synthetic.per_class=8",
        "model.net.head=[16]",
        "data.dataset.encoding=normalized",
    ],
    "clip": ["data.synthetic.per_class=48", "model.net.width=8"],
}
TINY_IMAGES = [
    "data.synthetic.classes=3",
    "data.synthetic.eval_per_class=3",
    "data.synthetic.size=32",
    "data.image_size=32",
]
SIZES["image"] += TINY_IMAGES
SIZES["fusion"] += TINY_IMAGES
SIZES["clip"] += ["data.synthetic.classes=3", "data.synthetic.eval_per_class=32"]
COMMON = [
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "data.num_workers=0",
    "print_config=false",
    "logger=csv",
    "callbacks.epoch_metrics.plots=false",
    "callbacks.epoch_metrics.per_class_plots=false",
]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{"root", "folder": the sweep folder, "runs": {name: run folder}, "output": what
    the runs printed}``: three one-epoch runs, each with the ``.hydra/`` files a sweep job
    has (run_dirs= searches for them)."""
    root = tmp_path_factory.mktemp("app")
    runs: dict[str, Path] = {}
    printed = io.StringIO()
    for number, (name, overrides) in enumerate(RUNS.items()):
        out = root / "sweep" / str(number)
        given = [f"paths.data_dir={root / 'data'}", *overrides, *SIZES[name], *COMMON]
        cfg = compose_config("train", given, out, root)
        with contextlib.redirect_stdout(printed):
            train(cfg)
        (out / ".hydra").mkdir()
        OmegaConf.save(cfg, out / ".hydra" / "config.yaml")
        (out / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        runs[name] = out
    return {"root": root, "folder": root / "sweep", "runs": runs, "output": printed.getvalue()}


def checkpoint_tested(run: Path) -> Path:
    return Path(json.loads((run / "test_metrics.json").read_text())["ckpt_path"])


@pytest.fixture(scope="module")
def served(sweep: dict[str, Any]) -> dict[str, Any]:
    """The three checkpoints loaded as the app loads them, by name."""
    sources = checkpoint_sources(run_dirs=[str(sweep["folder"])])
    models, failed = load_models(sources, check_device("cpu"))
    assert not failed
    return dict(zip(RUNS, models, strict=True))


@pytest.fixture(scope="module")
def photo(sweep: dict[str, Any]) -> Path:
    """A 160 x 120 photo (not square: the map must keep its shape) from the test split."""
    source = sorted((sweep["root"] / "data").rglob("test/*/*.jpg"))[0]
    target = sweep["root"] / "photo.png"
    Image.open(source).convert("RGB").resize((160, 120)).save(target)
    return target


@pytest.fixture(scope="module")
def video(sweep: dict[str, Any]) -> Path:
    """A test subject's video of the clip run's data."""
    return sorted((sweep["root"] / "data").rglob("subject*.mp4"))[-1]


def predicted_csv(ckpt: Path, source: Path, out: Path, *overrides: str) -> pd.DataFrame:
    """``predict``'s CSV for ``source`` (in-process, the real entry point's task)."""
    csv = out / "predictions.csv"
    overrides = (f"ckpt_path={ckpt}", f"input={source}", f"output={csv}", *overrides)
    predict(compose_config("predict", list(overrides), out, out))
    return pd.read_csv(csv)


def predicted_timeline(ckpt: Path, source: Path, out: Path) -> pd.DataFrame:
    predict(compose_config("predict", [f"ckpt_path={ckpt}", f"input={source}"], out, out))
    return pd.read_csv(out / "timeline.csv", dtype={"exercise": str})


def top_k(row: pd.Series) -> dict[str, float]:
    ranks = [c for c in row.index if c.startswith("label_")]
    return {row[f"label_{i}"]: row[f"prob_{i}"] for i in range(1, len(ranks) + 1)}


# ------------------------------------------------------------------- checkpoints and runs


def test_every_run_ends_with_the_command_that_opens_it_in_the_app(sweep: dict) -> None:
    lines = [line for line in sweep["output"].splitlines() if line.startswith("Try it: ")]
    assert lines == [
        f"Try it: python -m sports_rec.app ckpt_path={checkpoint_tested(run)}"
        for run in sweep["runs"].values()
    ]


def test_a_sweep_folder_gives_each_runs_tested_checkpoint(sweep: dict, tmp_path: Path) -> None:
    sources = checkpoint_sources(run_dirs=str(sweep["folder"]))
    assert [s.path for s in sources] == [checkpoint_tested(run) for run in sweep["runs"].values()]
    assert all(s.path.name.startswith("best-val-acc") for s in sources)
    # named by what differs between the runs, as reports name them
    assert [s.name for s in sources] == [
        "data=synthetic model=small",
        "data=synthetic_infiniteform model=small model.net.extra_inputs=[keypoints]",
        "data=synthetic_exercise_video model=c3d transforms=video",
    ]
    assert sources[2].run.test_metrics["test/acc"] >= 0
    assert list(sources[2].run.per_class["class_name"])
    # ckpt_path + ckpt_paths + run_dirs together, each checkpoint once
    image = sweep["runs"]["image"]
    again = checkpoint_sources(
        ckpt_path=str(checkpoint_tested(image)),
        ckpt_paths=[str(image / "checkpoints" / "last.ckpt")],
        run_dirs=[str(image)],
    )
    assert [s.path.name for s in again] == [checkpoint_tested(image).name, "last.ckpt"]
    assert again[0].run.folder == image
    assert [s.name for s in again] == ["0/best-val-acc-epoch000", "0/last"]
    # a run folder moved elsewhere: the recorded (absolute) path is gone, its own copy is used
    moved = tmp_path / "moved"
    import shutil

    shutil.copytree(sweep["runs"]["clip"], moved)
    (found,) = checkpoint_sources(run_dirs=[str(moved)])
    assert found.path == moved / "checkpoints" / checkpoint_tested(sweep["runs"]["clip"]).name
    # a run that failed before keeping a checkpoint is listed with why
    shutil.rmtree(moved / "checkpoints")
    (moved / "test_metrics.json").unlink()
    (moved / "run_info.json").write_text(json.dumps({"status": "failed", "error": "OSError: x"}))
    (empty,) = checkpoint_sources(run_dirs=[str(moved)])
    assert empty.path is None
    assert empty.problem == (
        f"run folder '{moved}' holds no checkpoint in checkpoints/ (the run failed: OSError: x)"
    )
    with pytest.raises(ConfigError, match="name the checkpoints to serve"):
        checkpoint_sources()


def test_checkpoints_that_cannot_be_loaded_are_listed_with_why(sweep: dict, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    marker = tmp_path / "pwned"
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"hyper_parameters": {"metadata": _CreatesAFile(marker)}}, unsafe)
    image = checkpoint_tested(sweep["runs"]["image"])
    sources = checkpoint_sources(
        ckpt_paths=[str(image), str(garbage), str(unsafe), str(tmp_path / "missing.ckpt")]
    )
    models, failed = load_models(sources, check_device("cpu"))
    assert [m.name for m in models] == [sources[0].name]
    messages = {f.source.path.name: f.message for f in failed}
    assert "is not a readable checkpoint file" in messages["garbage.ckpt"]
    assert "asks to run Python code" in messages["unsafe.ckpt"] and not marker.exists()
    assert "checkpoint not found" in messages["missing.ckpt"]
    with pytest.raises(NoModelLoaded, match=r"garbage.ckpt: .* is not a readable checkpoint"):
        load_models(sources[1:], check_device("cpu"))


class _CreatesAFile:
    """Unpickling this object creates a file: what a malicious checkpoint could do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_device_and_host_are_checked() -> None:
    assert check_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
            check_device("cuda")
    with pytest.raises(ConfigError, match="use cpu or cuda"):
        check_device("tpu")
    local = OmegaConf.create({"host": "127.0.0.1", "share_local_network": False})
    assert server_host(local) == "127.0.0.1"
    assert server_host(OmegaConf.merge(local, {"share_local_network": True})) == "0.0.0.0"
    with pytest.raises(ConfigError, match="share_local_network=true"):
        server_host(OmegaConf.merge(local, {"host": "0.0.0.0"}))


# ----------------------------------------------------------------------- image models


def test_image_labels_are_predicts_and_the_map_has_the_photos_size(
    served: dict, photo: Path, tmp_path: Path
) -> None:
    model = served["image"]
    (prediction,) = model.kind.predict(model, [ImageItem(photo, photo.name)], top_k=3)
    csv = predicted_csv(model.source.path, photo, tmp_path, "top_k=3")
    assert prediction.entries == pytest.approx(top_k(csv.iloc[0]), abs=1e-6)
    assert list(prediction.entries) == [csv.iloc[0][f"label_{i}"] for i in (1, 2, 3)]
    for method in ("saliency", "gradcam"):
        explained = model.kind.explain(model, prediction, method)
        assert explained.overlay.shape == (120, 160, 3) and explained.skeleton is None
    assert explained.layer == "layer4"


def test_the_view_box_is_the_centre_crop_the_eval_transform_keeps() -> None:
    assert view_box({"size": 32, "crop_pct": 1.0}, 48, 36) == (0, 0, 48, 36)
    assert view_box(None, 48, 36) == (0, 0, 48, 36)
    # shorter side to round(224 / 0.875) = 256, centre 224: 7/8 of the short side, square
    assert view_box({"size": 224, "crop_pct": 0.875}, 400, 256) == (88, 16, 312, 240)


def test_an_unreadable_image_is_refused_with_its_reason(served: dict, tmp_path: Path) -> None:
    from sports_rec.serving.images import readable_image

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(ImageInputError, match=r"'broken\.jpg' cannot be read as an image"):
        readable_image(broken)
    with pytest.raises(ImageInputError, match="is a video; image models classify photos"):
        readable_image(tmp_path / "clip.mp4")


@needs_mediapipe
def test_a_fusion_net_gets_the_estimated_skeleton_of_a_photo(
    served: dict, photo: Path, tmp_path: Path
) -> None:
    model = served["fusion"]
    (prediction,) = model.kind.predict(model, [ImageItem(photo, photo.name)], top_k=3)
    csv = predicted_csv(model.source.path, photo, tmp_path, "top_k=3")
    assert prediction.entries == pytest.approx(top_k(csv.iloc[0]), abs=1e-6)
    assert prediction.keypoints_from == csv.iloc[0]["keypoints_from"]
    assert prediction.keypoints_from.startswith("estimated (mediapipe)")
    explained = model.kind.explain(model, prediction, "saliency")
    assert explained.overlay.shape == explained.skeleton.shape == (120, 160, 3)


def test_a_fusion_test_sample_keeps_its_annotated_keypoints(
    served: dict, sweep: dict, tmp_path: Path
) -> None:
    """Picked from the test split: its true label, its annotation's keypoints (drawn), and
    the labels predict gives the same sample of the annotation file."""
    model = served["fusion"]
    items = split_items(model, tmp_path / "split", limit=4)
    assert len(items) == 4 and all(i.true_label in model.class_names for i in items)
    assert len({i.true_label for i in items}) == 3  # round-robin over the classes
    predictions = model.kind.predict(model, items, top_k=3)
    annotations = next((sweep["root"] / "data").rglob("infiniteform_coco.json"))
    csv = predicted_csv(model.source.path, annotations, tmp_path, "top_k=3")
    for item, prediction in zip(items, predictions, strict=True):
        assert prediction.keypoints_from == "annotated"
        row = csv[csv["annotation_id"] == item.row["annotation_id"]].iloc[0]
        assert prediction.entries == pytest.approx(top_k(row), abs=1e-5)
    explained = model.kind.explain(model, predictions[0], "saliency")
    with Image.open(items[0].path) as opened:
        source = np.asarray(opened.convert("RGB"))
    assert explained.skeleton.shape == source.shape
    assert (explained.skeleton != source).any()  # the bones are drawn


# ------------------------------------------------------------------------ clip models


def test_the_timeline_is_predicts_and_a_moment_gets_gradcam_videos(
    served: dict, video: Path, tmp_path: Path
) -> None:
    model = served["clip"]
    timeline = model.kind.timeline(model, video, tmp_path / "app", TimelineSettings())
    expected = predicted_timeline(model.source.path, video, tmp_path / "predict")
    pd.testing.assert_frame_equal(
        timeline.segments.reset_index(drop=True), expected, check_dtype=False
    )
    assert sum(timeline.shares().values()) == pytest.approx(1)
    info = probe_video(video)
    with Image.open(timeline.chart) as chart:
        assert chart.size == (1000, 340)
    annotated = probe_video(timeline.annotated)
    assert (annotated.num_frames, annotated.width) == (info.num_frames, info.width)
    cam = model.kind.gradcam(model, timeline, 1.0, tmp_path / "cam")
    assert cam.name == "overlay_with_probs.mp4"
    assert probe_video(cam).num_frames == 16  # one clip of the model
    assert "start_frame: 22" in (cam.parent / "metadata.txt").read_text()  # 1 s * 30 fps - 8


def test_a_clip_model_refuses_images_and_short_videos(
    served: dict, photo: Path, tmp_path: Path
) -> None:
    from sports_rec.predicting.clip_scoring import VideoTooShortError

    model = served["clip"]
    with pytest.raises(VideoInputError, match=r"'photo\.png' is not a video"):
        model.kind.timeline(model, photo, tmp_path, TimelineSettings())
    short = write_video(tmp_path / "short.mp4", np.zeros((8, 32, 32, 3), np.uint8), fps=30)
    with pytest.raises(VideoTooShortError, match="shorter than one clip"):
        model.kind.timeline(model, short, tmp_path, TimelineSettings())


# ---------------------------------------------------------------------------- compare


def test_compare_tables_come_from_the_run_folders(served: dict, sweep: dict) -> None:
    models = list(served.values())
    table = metrics_table(models)
    assert list(table["model"]) == [m.name for m in models]
    for model, (_, row) in zip(models, table.iterrows(), strict=True):
        recorded = json.loads((model.source.run.folder / "test_metrics.json").read_text())
        assert row["accuracy"] == pytest.approx(recorded["test/acc"], abs=1e-4)
        assert row["tested"] == "epoch 0"
    per_class = per_class_accuracy(models)
    assert list(per_class.columns) == ["class", *(m.name for m in models), "lowest"]
    assert per_class["lowest"].dropna().is_monotonic_increasing
    image = pd.read_csv(sweep["runs"]["image"] / "per_class.csv")
    for name, accuracy in zip(image["class_name"], image["accuracy"], strict=True):
        got = per_class.set_index("class").loc[name, models[0].name]
        assert got == pytest.approx(accuracy, abs=1e-4)


def test_without_gradio_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    hide = (
        "import runpy, sys; sys.modules['gradio'] = None; "
        "sys.argv = ['sports_rec.app', 'ckpt_path=x.ckpt']; "
        "runpy.run_module('sports_rec.app', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines == [f"sports_rec.app: {INSTALL_HINT}"]
    assert "pip install -e '.[app]'" in lines[0]


# ------------------------------------------------------------- the app, through its API


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def app(sweep: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The app on a free localhost port, started as the command starts it, serving the
    sweep's runs and a checkpoint that cannot be loaded; ``{"url", "client", "running"}``."""
    pytest.importorskip("gradio", reason=INSTALL_HINT)
    from gradio_client import Client

    from sports_rec.serving.launch import start_app

    out = tmp_path_factory.mktemp("app_run")
    garbage = out / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    cfg = compose_config(
        "app",
        [
            f"ckpt_paths=[{garbage}]",
            f"run_dirs=[{sweep['folder']}]",
            f"app.port={free_port()}",
            "top_k=3",
        ],
        out,
        out,
    )
    running = start_app(cfg, block=False)
    try:
        yield {"url": running.url, "client": Client(running.url, verbose=False), "running": running}
    finally:
        running.close()


def confidences(label: dict) -> dict[str, float]:
    return {c["label"]: c["confidence"] for c in label["confidences"]}


@needs_gradio
def test_the_page_serves_on_localhost_and_lists_what_it_could_not_load(app: dict) -> None:
    import httpx

    assert app["url"].startswith("http://127.0.0.1:")
    config = httpx.get(app["url"] + "config", timeout=30).text
    assert "garbage.ckpt</strong> could not be loaded" in config or (
        "garbage.ckpt** could not be loaded" in config
    )
    assert "is not a readable checkpoint file" in config
    assert "Traceback" not in config
    # every model-running event shares one queue slot, whatever the tab
    functions = app["running"].demo.fns.values()
    assert {(f.concurrency_id, f.concurrency_limit) for f in functions} == {("models", 1)}


@needs_gradio
def test_photos_through_the_page_get_predicts_labels_and_maps(
    app: dict, served: dict, photo: Path, tmp_path: Path
) -> None:
    from gradio_client import handle_file

    result = app["client"].predict(
        [handle_file(str(photo))], "saliency", api_name="/predict_images"
    )
    shown, truth, table, *columns = result
    assert shown["value"] == "photo.png" and truth == ""
    (image_top, image_map, image_skeleton, _), (fusion_top, fusion_map, fusion_skeleton, note) = (
        columns[:4],
        columns[4:],
    )
    expected = predicted_csv(served["image"].source.path, photo, tmp_path, "top_k=3").iloc[0]
    assert image_top["label"] == expected["label_1"]
    assert confidences(image_top) == pytest.approx(top_k(expected), abs=1e-6)
    assert image_skeleton is None  # an image net is given no skeleton
    if HAS_MEDIAPIPE:  # the fusion net is given the photo's estimated skeleton
        for drawn in (image_map, fusion_map, fusion_skeleton):
            with Image.open(drawn) as picture:
                assert picture.size == (160, 120)  # the photo's size
        assert fusion_top["label"] in served["fusion"].class_names
        assert "keypoints: estimated (mediapipe)" in note and "map: saliency" in note
    else:  # no pose backend: that column says why, the image net's column still works
        assert fusion_top is None and "**Cannot predict:**" in note
        with Image.open(image_map) as picture:
            assert picture.size == (160, 120)
    assert [row[2] for row in table["data"]] == [served["image"].name, served["fusion"].name]
    assert table["data"][0][3] == expected["label_1"]


@needs_gradio
def test_a_test_sample_shows_its_true_label(app: dict, served: dict) -> None:
    items, note = app["running"].session.test_items()
    assert note.startswith("synthetic_sports100's test split (9 samples); synthetic_infiniteform")
    item = items[1]
    assert item.name.startswith("synthetic_sports100: ")
    _, truth, table, *_ = app["client"].predict(item.name, "gradcam", api_name="/predict_sample")
    assert truth == f"**True label of {item.name}: {item.true_label}**"
    assert {row[1] for row in table["data"]} == {item.true_label}


@needs_gradio
def test_a_video_through_the_page_gets_predicts_timeline(
    app: dict, served: dict, video: Path, tmp_path: Path
) -> None:
    from gradio_client import handle_file

    client = app["client"]
    moment, share, chart, segments, annotated, note = client.predict(
        handle_file(str(video)), 8, 0.5, 1.0, None, api_name="/predict_video"
    )
    expected = predicted_timeline(served["clip"].source.path, video, tmp_path)
    shown = pd.DataFrame(segments["data"], columns=segments["headers"])
    assert list(shown["exercise"].astype(str)) == list(expected["exercise"])
    for column in ("frames", "start_frame", "end_frame"):
        assert list(shown[column]) == list(expected[column])
    assert np.allclose(shown["end_s"], expected["end_s"], atol=1e-3)
    assert share["label"] == expected.groupby("exercise")["frames"].sum().idxmax()
    assert moment["maximum"] == pytest.approx(probe_video(video).num_frames / 30, abs=0.06)
    with Image.open(chart) as picture:
        assert picture.size == (1000, 340)
    assert probe_video(annotated).num_frames == probe_video(video).num_frames
    assert "segment(s)" in note
    cam = client.predict(1.0, api_name="/gradcam")
    assert Path(cam).name == "overlay_with_probs.mp4" and probe_video(cam).num_frames == 16


@needs_gradio
def test_compare_puts_every_model_on_one_input(app: dict, served: dict, photo: Path) -> None:
    from gradio_client import handle_file

    table, *maps = app["client"].predict(handle_file(str(photo)), api_name="/compare")
    rows = {row[0]: row for row in table["data"]}
    assert set(rows) == {m.name for m in served.values()}
    assert rows[served["clip"].name][3] == "takes videos, not an image"
    assert rows[served["image"].name][1] in served["image"].class_names
    assert len(maps) == 2  # the two image models' maps, at the photo's size
    for drawn in maps if HAS_MEDIAPIPE else maps[:1]:  # (fusion: the estimated skeleton)
        with Image.open(drawn) as picture:
            assert picture.size == (160, 120)


@needs_gradio
def test_bad_input_is_a_message_in_the_page(app: dict, photo: Path, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client = app["client"]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(AppError, match=r"'broken\.jpg' cannot be read as an image"):
        client.predict([handle_file(str(broken))], "saliency", api_name="/predict_images")
    short = write_video(tmp_path / "short.mp4", np.zeros((8, 32, 32, 3), np.uint8), fps=30)
    with pytest.raises(AppError, match=r"shorter than one clip of the model \(16 frames\)"):
        client.predict(handle_file(str(short)), 8, 0.5, 1.0, None, api_name="/predict_video")
    with pytest.raises(AppError, match=r"'photo\.png' is not a video, but .* classifies video"):
        client.predict(handle_file(str(photo)), 8, 0.5, 1.0, None, api_name="/predict_video")
    with pytest.raises(AppError, match=r"'broken\.jpg' cannot be read as an image"):
        client.predict(handle_file(str(broken)), api_name="/compare")


# --------------------------------------------------------------- the page, in a browser


@pytest.fixture(scope="module")
def browser(app: dict) -> Iterator[Any]:
    """The system Chromium driven by Playwright (no browser download), as test_report does."""
    if not CHROMIUM.is_file():
        pytest.skip(f"headless Chromium is not installed at {CHROMIUM} (.ci/run installs it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def page_of(browser: Any, app: dict, tab: str) -> Iterator[Any]:
    """A page of the app on ``tab``; fails if it asked anything of another host or logged
    an error."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if "127.0.0.1" not in r.url else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(app["url"])
        page.wait_for_selector("#models", timeout=60_000)
        page.get_by_role("tab", name=tab).click()
        yield page
    finally:
        page.close()
    assert not [u for u in elsewhere if not u.startswith(("data:", "blob:"))], elsewhere
    assert problems == []


def top_label(page: Any, component: str) -> str:
    selector = f"#{component} [data-testid=label-output-value]"
    page.wait_for_selector(selector, timeout=120_000)
    return page.inner_text(selector).strip()


@needs_gradio
def test_browser_image_model(
    browser: Any, app: dict, served: dict, photo: Path, tmp_path: Path
) -> None:
    """Drop a photo: the image net's top label is predict's; the map is drawn at the photo's
    size; then an unreadable file is a message in the page."""
    expected = predicted_csv(served["image"].source.path, photo, tmp_path, "top_k=3")
    with page_of(browser, app, "Images") as page:
        page.set_input_files("#photos input[type=file]", str(photo))
        assert top_label(page, "image-top-0") == expected.iloc[0]["label_1"]
        page.wait_for_selector("#image-map-0 img", timeout=60_000)
        width = page.eval_on_selector("#image-map-0 img", "img => img.naturalWidth")
        assert width == 160
        page.screenshot(path=str(tmp_path / "app_images.png"), full_page=True)
        broken = tmp_path / "broken.jpg"
        broken.write_bytes(b"\xff\xd8 not a jpeg")
        page.set_input_files("#photos input[type=file]", str(broken))  # added to the photo
        toast = page.locator("[data-testid=toast-body]", has_text="cannot be read as an image")
        toast.first.wait_for(timeout=60_000)
        assert "'broken.jpg' cannot be read as an image" in toast.first.inner_text()
        assert "Traceback" not in page.content()


@needs_gradio
def test_browser_fusion_model(
    browser: Any, app: dict, served: dict, sweep: dict, tmp_path: Path
) -> None:
    """Pick a sample of the fusion net's test split: its true label and the annotated
    skeleton the net is given are shown, and its top label is predict's for that sample of
    the annotation file."""
    items, _ = app["running"].session.test_items()
    item = next(i for i in items if i.row and "keypoints" in i.row)
    annotations = next((sweep["root"] / "data").rglob("infiniteform_coco.json"))
    csv = predicted_csv(served["fusion"].source.path, annotations, tmp_path, "top_k=3")
    expected = csv[csv["annotation_id"] == item.row["annotation_id"]].iloc[0]
    with page_of(browser, app, "Images") as page:
        page.fill("#test-sample input", item.name)
        page.get_by_role("option", name=item.name).click()
        assert top_label(page, "image-top-1") == expected["label_1"]
        page.wait_for_selector("#image-skeleton-1 img", timeout=60_000)
        assert f"True label of {item.name}: {item.true_label}" in page.inner_text("#truth")
        assert "keypoints: annotated" in page.inner_text("#image-note-1")
        page.screenshot(path=str(tmp_path / "app_fusion.png"), full_page=True)


@needs_gradio
def test_browser_clip_model(
    browser: Any, app: dict, served: dict, video: Path, tmp_path: Path
) -> None:
    """Drop a video: the exercise with the most time is predict's timeline's; the segments
    table, the chart and the annotated video appear; a moment gets its GradCAM video."""
    expected = predicted_timeline(served["clip"].source.path, video, tmp_path / "predict")
    longest = expected.groupby("exercise")["frames"].sum().idxmax()
    with page_of(browser, app, "Videos") as page:
        page.set_input_files("#video input[type=file]", str(video))
        assert top_label(page, "clip-top-0") == longest
        page.wait_for_selector("#clip-segments-0 table", timeout=60_000)
        page.wait_for_selector("#clip-chart-0 img", timeout=60_000)
        page.click("#gradcam-button")
        for video_id in ("clip-annotated-0", "clip-gradcam-0"):  # decoded by the browser
            page.wait_for_function(
                f"document.querySelector('#{video_id} video')?.readyState >= 2", timeout=120_000
            )
        page.screenshot(path=str(tmp_path / "app_videos.png"), full_page=True)


@needs_gradio
def test_browser_compare(
    browser: Any, app: dict, served: dict, photo: Path, tmp_path: Path
) -> None:
    """Compare: one row per model for one photo, beside each run's metrics."""
    with page_of(browser, app, "Compare") as page:
        page.set_input_files("#compare-file input[type=file]", str(photo))
        page.wait_for_selector("#compare-map-1 img", timeout=120_000)
        text = page.inner_text("#compare-table")
        assert all(model.name in text for model in served.values())
        assert "takes videos, not an image" in text
        assert served["clip"].name in page.inner_text("#metrics")
        page.screenshot(path=str(tmp_path / "app_compare.png"), full_page=True)


@needs_gradio
@pytest.mark.slow  # the real command: a new Python process importing torch and gradio
def test_the_command_serves_until_ctrl_c(sweep: dict, tmp_path: Path) -> None:
    """``python -m sports_rec.app ckpt_path=...`` (the line a run ends with) serves the page
    on 127.0.0.1 and stops cleanly on Ctrl+C, ending with its run folder."""
    import os
    import signal

    import httpx

    ckpt = checkpoint_tested(sweep["runs"]["image"])
    process = subprocess.Popen(
        [sys.executable, "-m", "sports_rec.app", f"ckpt_path={ckpt}", f"app.port={free_port()}"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("The app is at "):
                break
        url = lines[-1].split()[4]
        assert url.startswith("http://127.0.0.1:"), lines
        assert "sports_rec" in httpx.get(url, timeout=30).text
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert f"Loaded 0: image model, 3 classes (synthetic_sports100), {ckpt}" in output
    assert "Run folder: " in output
