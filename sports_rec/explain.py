"""Explain a checkpoint's predictions: ``python -m sports_rec.explain ckpt_path=PATH
[method=saliency|gradcam|gradcam++|integrated_gradients] [split=test] [num_samples=16]
[misclassified_only=true] [class_name=NAME]``.

The split is rebuilt from the checkpoint alone (as ``evaluate`` does; the training split
with the evaluation transform). The first ``num_samples`` samples in the split's order that
pass the filters are explained (:mod:`sports_rec.explaining.attribution`), each for its
predicted class (``target=label``: its true class). Written into the run folder:

* image models - ``explanations/<n>_<true>_as_<pred>.png`` panels (input, map, overlay, and
  for keypoint nets the skeleton with each joint's share);
* clip models - ``explanations/<n>_<true>_as_<pred>/`` with the GradCAM videos and
  ``metadata.txt`` (:mod:`sports_rec.explaining.video`); ``long_sample.enabled=true`` adds
  ``explanations/long_<video>_<start>/``, a stretch of one video whose map and
  probabilities follow the clip covering each frame;
* ``explanations.csv`` - one row per sample: ``index, path, true, pred, prob, method,
  target, keypoint_share, delta, layer, file`` (+ ``start_frame`` for clips).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Subset
from torchvision import tv_tensors

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.checkpoint import check_same_classes, load_classifier
from sports_rec.data.clips import read_frame_labels
from sports_rec.data.datasets import apply_transform
from sports_rec.data.formats.exercise_video import ExerciseVideoLayout
from sports_rec.data.video_io import probe_video, read_frames
from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.evaluate import merged_data_config
from sports_rec.explaining.attribution import attribute, check_method
from sports_rec.explaining.panels import (
    class_list,
    display_stats,
    panel_title,
    to_rgb,
    write_image_panel,
)
from sports_rec.explaining.recipe import apply_recipe_settings
from sports_rec.explaining.video import write_clip_videos
from sports_rec.models.classifier import Classifier
from sports_rec.predicting.clip_scoring import sliding_clips
from sports_rec.predicting.timeline import frame_preparation
from sports_rec.train import build_datamodule
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.config_checks import check_explain_config
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import exit_on_user_error, lightning_noise_filtered, task_wrapper

log = get_logger(__name__)
CSV_COLUMNS = [
    "index",
    "path",
    "start_frame",
    "true",
    "pred",
    "prob",
    "method",
    "target",
    "keypoint_share",
    "delta",
    "layer",
    "file",
]


class NoSampleToExplain(SportsRecError, ValueError):
    """The filters left no sample of the split."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "x"


def _batch_inputs(model: Classifier, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {key: batch[key].to(model.device).float() for key in model.input_keys}


def choose_samples(
    model: Classifier,
    dataset: Any,
    num_samples: int,
    misclassified_only: bool,
    class_id: int | None,
    batch_size: int,
) -> pd.DataFrame:
    """``index, true, pred, prob`` of the first ``num_samples`` samples passing the filters
    (in the split's order), predicted in batches until enough are found."""
    loader = DataLoader(dataset, batch_size=max(1, batch_size))
    chosen: list[dict[str, Any]] = []
    with torch.inference_mode():
        for batch in loader:
            probs = model(_batch_inputs(model, batch)).float().softmax(dim=1)
            prob, pred = probs.max(dim=1)
            for i, index in enumerate(batch["index"].tolist()):
                true = int(batch["label"][i])
                if misclassified_only and int(pred[i]) == true:
                    continue
                if class_id is not None and true != class_id:
                    continue
                chosen.append(
                    {
                        "index": index,
                        "true": true,
                        "pred": int(pred[i]),
                        "prob": float(prob[i]),
                        "probs": probs[i].cpu().numpy(),
                    }
                )
                if len(chosen) >= num_samples:
                    return pd.DataFrame(chosen)
    return pd.DataFrame(chosen, columns=["index", "true", "pred", "prob", "probs"])


def _class_id(names: list[str], class_name: str | None) -> int | None:
    if class_name is None:
        return None
    if str(class_name) not in names:
        raise ConfigError(
            f"class_name={class_name!r} is not a class of this checkpoint; its classes are "
            f"{class_list(names, limit=200)}"
        )
    return names.index(str(class_name))


def explain_samples(
    cfg: DictConfig, model: Classifier, dataset: Any, chosen: pd.DataFrame, method: str
) -> list[dict[str, Any]]:
    """Attribute the chosen samples in batches and write their panels or videos."""
    names = list(model.class_names)
    metadata = model.hparams.metadata
    mean, std = display_stats(metadata["transforms"]["eval"], int(metadata.get("channels", 3)))
    out = Path(cfg.paths.output_dir) / "explanations"
    spatial = "video" if "video" in model.input_keys else "image"
    rows: list[dict[str, Any]] = []
    step = max(1, int(cfg.batch_size))
    for first in range(0, len(chosen), step):
        part = chosen.iloc[first : first + step]
        batch = next(iter(DataLoader(Subset(dataset, part["index"].tolist()), batch_size=step)))
        inputs = _batch_inputs(model, batch)
        targets = torch.tensor(part["true" if cfg.target == "label" else "pred"].tolist())
        result = attribute(
            model.net,
            inputs,
            model.input_keys,
            targets,
            method,
            layer=cfg.get("layer"),
            steps=int(cfg.steps),
        )
        for k, sample in enumerate(part.to_dict("records")):
            n = first + k
            true, pred = names[sample["true"]], names[sample["pred"]]
            stem = f"{n:03d}_{_slug(true)}_as_{_slug(pred)}"
            rgb = to_rgb(inputs[spatial][k], mean, std)
            share = None if result.keypoint_share is None else float(result.keypoint_share[k])
            row = {
                "index": sample["index"],
                "path": dataset.paths[sample["index"]],
                "true": true,
                "pred": pred,
                "prob": sample["prob"],
                "method": method,
                "target": names[int(targets[k])],
                "keypoint_share": share,
                "delta": None if result.delta is None else float(result.delta[k]),
                "layer": result.layer,
            }
            if spatial == "video":
                clip = dataset.clips.iloc[sample["index"]]
                row["start_frame"] = int(clip["start_frame"])
                frames = len(rgb)
                write_clip_videos(
                    out / stem,
                    rgb,
                    result.maps[k],
                    np.repeat(sample["probs"][None], frames, axis=0),
                    names,
                    np.full(frames, sample["true"]),
                    {
                        "video": row["path"],
                        "start_frame": row["start_frame"],
                        "frames": frames,
                        "true": true,
                        "predicted": pred,
                        "probability": f"{sample['prob']:.4f}",
                        "method": method,
                        "layer": result.layer,
                        "explained": row["target"],
                        "checkpoint": cfg.ckpt_path,
                    },
                    fps=float(cfg.fps),
                    alpha=float(cfg.alpha),
                )
                row["file"] = f"explanations/{stem}/"
            else:
                keypoints = inputs["keypoints"][k].cpu().numpy() if "keypoints" in inputs else None
                joints = None if result.joints is None else result.joints[k]
                write_image_panel(
                    out / f"{stem}.png",
                    rgb,
                    result.maps[k],
                    panel_title(true, pred, sample["prob"], row["target"]),
                    method,
                    alpha=float(cfg.alpha),
                    keypoints=keypoints,
                    joints=joints,
                    keypoint_share=share,
                )
                row["file"] = f"explanations/{stem}.png"
            rows.append(row)
    return rows


def explain_long_sample(cfg: DictConfig, model: Classifier, dataset: Any, method: str) -> Path:
    """A long stretch of one video of the split (see the module docstring)."""
    options = cfg.long_sample
    videos = dataset.videos
    wanted = options.get("video")
    if wanted:
        match = videos[
            (videos["path"] == str(wanted))
            | (videos["path"].map(lambda p: Path(p).stem) == str(wanted))
        ]
        if match.empty:
            stems = [Path(p).stem for p in videos["path"]]
            raise ConfigError(
                f"long_sample.video={wanted!r} is not a video of this split; its videos are "
                f"{class_list(stems, limit=30)}"
            )
        row = match.iloc[0]
    else:
        row = videos.iloc[0]
    metadata = model.hparams.metadata
    data_cfg = metadata["data"]
    clip_len = int(data_cfg["dataset"]["clip_len"])
    info = probe_video(row["path"])
    start = int(options.start_frame)
    end = min(start + int(options.frames), info.num_frames)
    if end - start < clip_len:
        raise ConfigError(
            f"long_sample: frames {start}-{end} of '{row['path']}' ({info.num_frames} frames) "
            f"hold less than one clip ({clip_len}); lower long_sample.start_frame"
        )
    prepare = frame_preparation(
        data_cfg,
        info,
        Path(row["path"]),
        masks=row.get("mask_dir") if data_cfg["dataset"].get("use_masks") else None,
        poses=row.get("pose_path") if data_cfg["dataset"].get("skeleton_attention") else None,
    )
    raw = read_frames(row["path"], range(start, end), data_cfg["dataset"].get("backend", "decord"))
    transform = dataset.transform
    names = list(model.class_names)
    stride = max(1, int(options.stride))
    maps = np.zeros((end - start, prepare.size, prepare.size), np.float32)
    probs = np.zeros((end - start, len(names)), np.float32)
    mean, std = display_stats(metadata["transforms"]["eval"], 3)
    rgb = np.zeros((end - start, prepare.size, prepare.size, 3), np.uint8)
    clips = list(sliding_clips([prepare(raw, start)], clip_len, stride))
    for clip_start, clip in clips:
        video = tv_tensors.Video(torch.from_numpy(clip).permute(0, 3, 1, 2))
        tensor = torch.as_tensor(apply_transform(transform, {"video": video})["video"])
        tensor = tensor.permute(1, 0, 2, 3)[None].to(model.device)
        with torch.inference_mode():
            p = model({"video": tensor}).float().softmax(dim=1)[0].cpu().numpy()
        target = int(p.argmax())
        result = attribute(
            model.net,
            {"video": tensor},
            model.input_keys,
            torch.tensor([target]),
            method,
            layer=cfg.get("layer"),
            steps=int(cfg.steps),
        )
        # Each clip paints the frames up to the next clip's start (the last one: to its end).
        upto = clip_len if clip_start == clips[-1][0] else stride
        span = slice(clip_start, clip_start + upto)
        maps[span] = result.maps[0][:upto]
        probs[span] = p
        rgb[span] = to_rgb(tensor[0], mean, std)[:upto]
    layout_cfg = dict(data_cfg.get("layout") or {})
    labels = read_frame_labels(row["label_path"], ExerciseVideoLayout.from_options(**layout_cfg))
    true = np.full(end - start, -1)
    known = labels[start:end]
    true[: len(known)] = known
    folder = (
        Path(cfg.paths.output_dir)
        / "explanations"
        / f"long_{_slug(Path(row['path']).stem)}_{start}"
    )
    write_clip_videos(
        folder,
        rgb,
        maps,
        probs,
        names,
        true,
        {
            "video": row["path"],
            "start_frame": start,
            "frames": end - start,
            "clip_len": clip_len,
            "stride": stride,
            "clips": len(clips),
            "method": method,
            "explained": "each clip's predicted class",
            "checkpoint": cfg.ckpt_path,
        },
        fps=float(cfg.fps),
        alpha=float(cfg.alpha),
    )
    return folder


@task_wrapper
def explain(cfg: DictConfig) -> dict[str, Any]:
    """Explain ``cfg.num_samples`` samples of ``cfg.split`` (see the module docstring)."""
    check_explain_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    model = load_classifier(cfg.ckpt_path)
    model.eval()
    apply_recipe_settings(cfg)  # the run recipe's explain: values the command line omits
    metadata = model.hparams.metadata
    is_video = "video" in model.input_keys
    method = check_method(str(cfg.method or ("gradcam" if is_video else "saliency")))
    if cfg.target not in ("pred", "label"):
        raise ConfigError(
            f"target must be pred (the predicted class) or label (the true class), got "
            f"{cfg.target!r}"
        )
    names = list(model.class_names)
    class_id = _class_id(names, cfg.get("class_name"))
    data_cfg = merged_data_config(metadata["data"], cfg.get("data"), cfg.paths.output_dir)
    datamodule = build_datamodule(data_cfg, metadata["transforms"])
    with lightning_noise_filtered():
        datamodule.prepare_data()
        datamodule.setup()
    check_same_classes(
        names,
        datamodule.class_names,
        f"the data at '{datamodule.root}'",
        dataset=metadata.get("dataset", "?"),
    )
    dataset = datamodule.eval_dataloader(str(cfg.split)).dataset
    out = Path(cfg.paths.output_dir)
    result: dict[str, Any] = {"method": method, "output": str(out / "explanations.csv")}
    if is_video and cfg.long_sample.enabled:
        result["long_sample"] = str(explain_long_sample(cfg, model, dataset, method))
    chosen = choose_samples(
        model,
        dataset,
        int(cfg.num_samples),
        bool(cfg.misclassified_only),
        class_id,
        int(cfg.batch_size),
    )
    if chosen.empty and not result.get("long_sample"):
        filters = [
            f
            for f, on in (
                ("misclassified_only", cfg.misclassified_only),
                (f"class_name={cfg.class_name}", class_id is not None),
            )
            if on
        ]
        raise NoSampleToExplain(
            f"no sample of the {cfg.split} split ({len(dataset)} samples) passes "
            f"{' and '.join(filters) or 'the filters'}; loosen them or choose another split"
        )
    rows = explain_samples(cfg, model, dataset, chosen, method) if not chosen.empty else []
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    table.to_csv(out / "explanations.csv", index=False)
    result["samples"] = len(table)
    print(
        f"Explained {len(table)} sample(s) of the {cfg.split} split with {method}: "
        f"{(out / 'explanations').resolve()} (table: {out / 'explanations.csv'})",
        flush=True,
    )
    return result


@hydra_entry_point("explain")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        explain(cfg)


if __name__ == "__main__":
    main()
