"""Poses and person masks for any photos or videos: ``python -m sports_rec.pose input=... ``.

``input`` is an image or video file, a folder (searched recursively) or a glob pattern
(``**`` recurses). Files are told apart by suffix; both kinds may be given at once:

* **Images** become an InfiniteForm-style dataset in ``output`` (``annotations.json`` and
  ``images/<id>.rgb.png``) that ``data=infiniteform data.root=<output>`` trains on: one
  annotation per person with 17 COCO keypoints, box and area, its class (``pose_category``)
  the image's folder (``unknown`` for images directly in the input folder, or
  ``category=NAME`` for all). Rules and field meanings:
  :mod:`sports_rec.pose_estimation.writers`.
* **Videos** get the exercise-video layout's files in ``output``:
  ``dataset/skeleton/yolo_pose_csv/<subject>.csv`` and ``dataset/mask/<subject>/<frame>.png``
  (``subject`` = the video's name without ``.mp4``), so ``input=<root>/dataset/anon
  output=<root>`` completes a video set that lacks poses or masks in place. Frames are
  streamed (memory does not grow with the video) through the backend's video mode.

Existing files are never replaced unless ``overwrite=true``: a dataset already in
``output`` stops the image part with a message; a video's existing pose CSV and mask files
are kept (and counted), and a video whose files are all there is skipped without decoding.
``overlay=true`` also draws every result (``overlays/<input path>.jpg``, ``<subject>.mp4``).

Into the run folder: ``poses.csv`` (one row per image: its most confident person, or its
error), ``videos.csv`` (one row per video), ``summary.json``; the summary is printed too.
A file that cannot be decoded is a row with its error, not a stop. Without the backend's
library the command names what to install and exits with status 1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.errors import ConfigError
from sports_rec.pose_estimation import create_estimator
from sports_rec.pose_estimation.media_jobs import (
    VIDEO_COLUMNS,
    check_image_output,
    count_videos,
    duplicate_row,
    estimator_options,
    find_media,
    media_progress,
    run_images,
    run_video,
    subject_of,
)
from sports_rec.pose_estimation.writers import (
    ANNOTATIONS_FILE,
    NO_PERSON_POLICIES,
    pose_table_columns,
)
from sports_rec.utils.atomic import write_text_atomic
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import exit_on_user_error, task_wrapper

log = get_logger(__name__)


def _plain(node: Any) -> dict[str, Any]:
    """A config mapping (or None) as a plain dict."""
    if node is None:
        return {}
    plain = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    return {str(k): v for k, v in dict(plain).items()}


def _check(cfg: DictConfig) -> None:
    if cfg.no_person not in NO_PERSON_POLICIES:
        raise ConfigError(
            f"no_person must be one of {', '.join(NO_PERSON_POLICIES)}, got {cfg.no_person!r}"
        )
    if not 0.0 <= float(cfg.min_conf) <= 1.0:
        raise ConfigError(f"min_conf must be in [0, 1], got {cfg.min_conf!r}")


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The printed summary: what was found, what was written, what was kept or failed."""
    images, videos = summary["images"], summary["videos"]
    lines = [f"Poses estimated with {summary['backend']} in {summary['seconds']:.1f} s:"]
    if images["total"]:
        lines.append(
            f"  images: {images['total']} ({images['with_person']} with a person, "
            f"{images['without_person']} without, {images['errors']} unreadable); "
            f"{images['persons']} persons"
        )
    if videos["total"]:
        lines.append(
            f"  videos: {videos['total']} ({videos['errors']} unreadable, "
            f"{videos['skipped']} already complete); {videos['frames']} frames, "
            f"{videos['frames_without_person']} without a person"
        )
    if summary["other_files"]:
        lines.append(f"  {summary['other_files']} other file(s) in the input ignored")
    if summary["dataset"]:
        lines.append(
            f"  dataset: {summary['dataset']} (train on it with data=infiniteform "
            f"data.root={summary['output']})"
        )
    if videos["total"]:
        lines.append(f"  video poses and masks under {summary['output']}/dataset/")
    kept = summary["kept"]
    if any(kept.values()):
        lines.append(
            "  kept existing files (overwrite=false): "
            + ", ".join(f"{n} {what}" for what, n in kept.items() if n)
        )
    for error in summary["errors"][:10]:
        lines.append(f"  error: {error['path']}: {error['error']}")
    if len(summary["errors"]) > 10:
        lines.append(f"  ... {len(summary['errors']) - 10} more errors (see summary.json)")
    return lines


@task_wrapper
def pose(cfg: DictConfig) -> dict[str, Any]:
    """Estimate poses (and masks) for ``cfg.input`` and write them (the CLI's task)."""
    started = time.perf_counter()
    _check(cfg)
    media = find_media(cfg.input)
    run_dir = Path(cfg.paths.output_dir)
    output = Path(cfg.output).expanduser() if cfg.get("output") else run_dir / "data"
    layout = ExerciseVideoLayout.from_options(**_plain(cfg.get("layout")))
    if media.images:
        check_image_output(output, bool(cfg.overwrite))
    backend, options = estimator_options(cfg.pose)
    output.mkdir(parents=True, exist_ok=True)
    video_rows: list[dict[str, Any]] = []
    image_table = pd.DataFrame(columns=pose_table_columns())
    image_counts: dict[str, Any] = {}
    with create_estimator(backend, **options) as estimator, media_progress(cfg.progress) as bar:
        if media.images:
            image_table, image_counts = run_images(estimator, media, output, cfg, bar)
        seen: dict[str, Path] = {}
        for video in media.videos:
            subject = subject_of(video, layout)
            if subject in seen:  # two files, one subject: the second would reuse the first's
                video_rows.append(duplicate_row(video, subject, seen[subject]))
                continue
            seen[subject] = video
            video_rows.append(run_video(estimator, video, output, cfg, layout, media.base, bar))

    if media.images:
        image_table.to_csv(run_dir / "poses.csv", index=False)
    if media.videos:
        pd.DataFrame(video_rows, columns=VIDEO_COLUMNS).to_csv(run_dir / "videos.csv", index=False)
    errors = [
        {"path": r["path"], "error": r["error"]}
        for r in [*image_table.to_dict("records"), *video_rows]
        if r["error"]
    ]
    video_counts = count_videos(video_rows)
    summary: dict[str, Any] = {
        "backend": backend,
        "backend_options": options,
        "input": str(cfg.input),
        "output": str(output.resolve()),
        "dataset": str((output / ANNOTATIONS_FILE).resolve()) if media.images else None,
        "images": {
            "total": len(media.images),
            **{
                key: image_counts.get(key, 0)
                for key in ("with_person", "without_person", "errors", "persons", "annotations")
            },
        },
        "videos": video_counts,
        "persons": image_counts.get("persons", 0) + video_counts["persons"],
        "other_files": media.others,
        "errors": errors,
        "kept": {
            "pose CSVs": sum(str(r["pose_csv"]).startswith("kept") for r in video_rows),
            "mask files": sum(r["masks_kept"] for r in video_rows),
            "overlays": image_counts.get("overlays_kept", 0)
            + sum(str(r["overlay"]).startswith("kept") for r in video_rows),
        },
        "settings": {
            "min_conf": float(cfg.min_conf),
            "no_person": str(cfg.no_person),
            "overwrite": bool(cfg.overwrite),
            "overlay": bool(cfg.overlay),
            "masks": bool(cfg.masks),
            "layout": _plain(cfg.get("layout")),
        },
        "seconds": round(time.perf_counter() - started, 3),
    }
    if media.videos and cfg.masks and not getattr(estimator, "segmentation", False):
        summary["note"] = f"the {backend} backend makes no person masks: none were written"
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    for line in summary_lines(summary):
        print(line, flush=True)
    if summary.get("note"):
        print(f"  note: {summary['note']}", flush=True)
    return summary


@hydra_entry_point("pose")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        pose(cfg)


if __name__ == "__main__":
    main()
