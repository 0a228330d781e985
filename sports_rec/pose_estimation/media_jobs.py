"""The work of ``python -m sports_rec.pose`` (:mod:`sports_rec.pose`): which files the input
names, and each image or video estimated and written as the readers read it
(:mod:`sports_rec.pose_estimation.writers`), one row per file, never stopping for a bad one.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.data.index import GLOB_CHARS, IMAGE_EXTENSIONS, VIDEO_SUFFIXES, input_files
from sports_rec.data.io.image_io import ImageDecodeError, load_image
from sports_rec.data.io.video_io import VideoDecodeError, VideoWriter, iter_frames, probe_video
from sports_rec.errors import SportsRecError
from sports_rec.pose_estimation import PoseEstimator
from sports_rec.pose_estimation.drawing import draw_people
from sports_rec.pose_estimation.writers import (
    ANNOTATIONS_FILE,
    IMAGES_DIR,
    UNKNOWN_CATEGORY,
    CocoPoseWriter,
    VideoPoseWriter,
    missing_masks,
    pose_table_columns,
    pose_table_row,
)
from sports_rec.utils.atomic import atomic_write
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

VIDEO_COLUMNS = (
    "path", "subject", "frames", "frames_with_person", "persons", "pose_csv", "masks_written",
    "masks_kept", "overlay", "seconds", "note", "error",
)  # fmt: skip
COMPLETE = "already complete: pose CSV and every mask present (overwrite=false)"
FRAME_CHUNK = 16  # frames decoded at a time: memory stays at a few frames per video


class PoseInputError(SportsRecError, FileNotFoundError):
    """``input`` names no image or video."""


class PoseOutputExists(SportsRecError, FileExistsError):
    """``output`` already holds what this run would write, and ``overwrite`` is false."""


@dataclass
class Media:
    """What ``input`` named: images and videos (sorted), other files counted, and the folder
    paths are taken relative to (the input folder, or where a pattern starts)."""

    images: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    others: int = 0
    base: Path = Path(".")


def _glob_base(text: str) -> Path:
    """The folder a pattern starts from: its parts before the first with a glob character."""
    parts = Path(text).expanduser().parts
    fixed = list(itertools.takewhile(lambda part: not GLOB_CHARS & set(part), parts))
    return Path(*fixed) if fixed else Path(".")


def find_media(spec: str | Path) -> Media:
    """Resolve ``input``: a file (kept whatever its suffix: a non-video is read as an image),
    a folder (recursive, hidden files skipped) or a glob; sorted by suffix into kinds."""
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        kind = "videos" if path.suffix.lower() in VIDEO_SUFFIXES else "images"
        return Media(**{kind: [path]}, base=path.parent)
    candidates = input_files(path)
    if candidates is None:
        raise PoseInputError(
            f"input='{text}' does not exist (give an image or video file, a folder or a glob)"
        )
    media = Media(base=path if path.is_dir() else _glob_base(text))
    for candidate in candidates:
        suffix = candidate.suffix.lower()
        if suffix in IMAGE_EXTENSIONS:
            media.images.append(candidate)
        elif suffix in VIDEO_SUFFIXES:
            media.videos.append(candidate)
        else:
            media.others += 1
    if not media.images and not media.videos:
        raise PoseInputError(
            f"no image or video files found for input='{text}' (looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS | VIDEO_SUFFIXES))}; folders are searched "
            "recursively, patterns such as 'photos/**/*.jpg' are expanded)"
        )
    return media


def image_category(path: Path, base: Path, forced: str | None = None) -> str:
    """The class of an image: ``forced``, else its folder's name, or ``unknown`` for an image
    directly in the input folder (no class folder)."""
    if forced:
        return str(forced)
    if path.parent.resolve() == base.resolve():
        return UNKNOWN_CATEGORY
    return path.parent.name


def subject_of(video: Path, layout: ExerciseVideoLayout) -> str:
    """The exercise-video subject of a file: its name without the layout's video suffix."""
    if video.name.lower().endswith(layout.video_suffix.lower()):
        return video.name[: -len(layout.video_suffix)]
    return video.stem


def estimator_options(pose_cfg: DictConfig | dict) -> tuple[str, dict[str, Any]]:
    """``pose.backend`` and the backend's options (every other ``pose.*`` key that is set)."""
    options = (
        OmegaConf.to_container(pose_cfg, resolve=True)
        if isinstance(pose_cfg, DictConfig)
        else dict(pose_cfg)
    )
    assert isinstance(options, dict)
    backend = str(options.pop("backend", "mediapipe"))
    return backend, {str(k): v for k, v in options.items() if v is not None}


def overlay_path(output: Path, path: Path, base: Path, suffix: str) -> Path:
    """``<output>/overlays/<path relative to base><suffix>`` (the input's own tree)."""
    try:
        relative = path.resolve().relative_to(base.resolve())
    except ValueError:
        relative = Path(path.name)
    return output / "overlays" / relative.with_suffix(suffix)


def media_progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )


def _reason(error: Exception) -> str:
    """Why a file could not be used, without the training-oriented hint of decode errors."""
    return str(getattr(error, "reason", "") or error)


def _short(path: Path, limit: int = 40) -> str:
    name = path.name
    return name if len(name) <= limit else "..." + name[-(limit - 3) :]


# ---------------------------------------------------------------- images


def check_image_output(output: Path, overwrite: bool) -> None:
    """Refuse to write a dataset over one already in ``output`` (unless ``overwrite``)."""
    if overwrite:
        return
    existing = [output / ANNOTATIONS_FILE] if (output / ANNOTATIONS_FILE).exists() else []
    images = output / IMAGES_DIR
    if images.is_dir():
        existing += sorted(images.glob("*.rgb.png"))[:3]
    if existing:
        raise PoseOutputExists(
            f"output='{output}' already holds a pose dataset ("
            + ", ".join(str(p.relative_to(output)) for p in existing)
            + "); nothing was written. Choose another output=DIR, or overwrite=true to "
            "replace it."
        )


def run_images(
    estimator: PoseEstimator,
    media: Media,
    output: Path,
    cfg: DictConfig,
    progress: Progress,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Estimate every image and write the dataset; returns ``poses.csv``'s table and counts."""
    backend = estimator.name
    writer = CocoPoseWriter(
        output, backend, min_conf=cfg.min_conf, no_person=cfg.no_person,
        description=f"poses of {cfg.input} estimated by sports_rec.pose ({backend})",
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    counts = {"overlays_written": 0, "overlays_kept": 0}
    task = progress.add_task("images", total=len(media.images))
    for path in media.images:
        progress.update(task, description=f"images: {_short(path)}")
        category = image_category(path, media.base, cfg.get("category"))
        try:
            rgb = np.asarray(load_image(path, mode="RGB"))
            people = estimator.estimate(rgb)
        except (ImageDecodeError, ValueError) as error:
            rows.append(pose_table_row(str(path), category=category, error=_reason(error)))
            progress.advance(task)
            continue
        image_id = writer.add(rgb, people, category, source=str(path))
        rows.append(
            pose_table_row(str(path), people, image_id, (rgb.shape[1], rgb.shape[0]), category)
        )
        if cfg.overlay:
            target = overlay_path(output, path, media.base, ".jpg")
            if target.exists() and not cfg.overwrite:
                counts["overlays_kept"] += 1
            else:
                drawn = draw_people(rgb, people, cfg.min_conf, boxes=True)
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(target) as staging:
                    Image.fromarray(drawn).save(staging, format="JPEG", quality=90)
                counts["overlays_written"] += 1
        progress.advance(task)
    writer.close()
    table = pd.DataFrame(rows, columns=pose_table_columns())
    decoded = table["error"] == ""
    counts.update(
        total=len(table),
        with_person=int((decoded & (table["persons"] > 0)).sum()),
        without_person=int((decoded & (table["persons"] == 0)).sum()),
        errors=int((~decoded).sum()),
        persons=int(table["persons"].sum()),
        annotations=len(writer.annotations),
    )
    return table, counts


# ---------------------------------------------------------------- videos


def _frames(path: Path, backend: str) -> Iterator[np.ndarray]:
    for chunk in iter_frames(path, chunk=FRAME_CHUNK, backend=backend):
        yield from chunk


def run_video(
    estimator: PoseEstimator,
    video: Path,
    output: Path,
    cfg: DictConfig,
    layout: ExerciseVideoLayout,
    base: Path,
    progress: Progress,
) -> dict[str, Any]:
    """Pose CSV, masks (and overlay) of one video; its ``videos.csv`` row, never raising
    for a video that cannot be decoded (the row holds the error)."""
    started = time.perf_counter()
    subject = subject_of(video, layout)
    row = _video_row(video, subject)
    csv_path = layout.pose_path(output, subject)
    want_masks = bool(cfg.masks) and bool(getattr(estimator, "segmentation", False))
    write_csv = bool(cfg.overwrite) or not csv_path.exists()
    writer: VideoPoseWriter | None = None
    try:
        info = probe_video(video, backend=cfg.video_backend)
        if not write_csv and not cfg.overlay:
            absent = missing_masks(output, subject, info.num_frames, layout) if want_masks else 0
            if not absent:  # nothing to add: not even decoded
                kept = info.num_frames if want_masks else 0
                row.update(pose_csv=f"kept {csv_path}", masks_kept=kept, note=COMPLETE)
                row["seconds"] = round(time.perf_counter() - started, 3)
                return row
        writer = VideoPoseWriter(
            output, subject, layout, write_csv=write_csv, write_masks=want_masks,
            overwrite=bool(cfg.overwrite),
        )  # fmt: skip
        target = overlay_path(output, video, base, ".mp4") if cfg.overlay else None
        if target is not None and target.exists() and not cfg.overwrite:
            row["overlay"] = f"kept {target}"
            target = None
        _estimate_video(estimator, video, writer, target, info.fps, info.num_frames, cfg, progress)
        if target is not None:
            row["overlay"] = str(target)
    except (VideoDecodeError, ValueError) as error:
        row["error"] = _reason(error) if isinstance(error, VideoDecodeError) else str(error)
    if writer is not None:  # what was written, also up to a decoding error
        row.update(
            frames=writer.frames,
            frames_with_person=writer.frames_with_person,
            persons=writer.persons,
            pose_csv=str(csv_path) if writer.writes_csv else f"kept {csv_path}",
            masks_written=writer.masks_written,
            masks_kept=writer.masks_kept,
        )
        if row["error"] and writer.writes_csv:
            row["pose_csv"] = "not written (error)"
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row


def _video_row(video: Path, subject: str) -> dict[str, Any]:
    """A ``videos.csv`` row with nothing done yet."""
    row: dict[str, Any] = dict.fromkeys(VIDEO_COLUMNS, "")
    counts = ("frames", "frames_with_person", "persons", "masks_written", "masks_kept")
    row.update(dict.fromkeys(counts, 0), path=str(video), subject=subject, seconds=0.0)
    return row


def duplicate_row(video: Path, subject: str, first: Path) -> dict[str, Any]:
    row = _video_row(video, subject)
    row["error"] = f"subject {subject!r} is also {first}: rename one (skipped)"
    return row


def _estimate_video(
    estimator: PoseEstimator,
    video: Path,
    writer: VideoPoseWriter,
    overlay_target: Path | None,
    fps: float,
    num_frames: int,
    cfg: DictConfig,
    progress: Progress,
) -> None:
    """Stream the frames through the estimator's video mode into ``writer`` (and the
    overlay); the pose CSV is kept only when every frame was read."""
    task = progress.add_task(f"video {_short(video)}", total=num_frames)
    complete = False
    try:
        frames, to_estimate = itertools.tee(_frames(video, cfg.video_backend))
        results = estimator.estimate_frames(to_estimate)
        with contextlib.ExitStack() as stack:
            overlay = (
                stack.enter_context(VideoWriter(overlay_target, fps))
                if overlay_target is not None
                else None
            )
            for index, (frame, people) in enumerate(zip(frames, results, strict=True)):
                writer.add(index, people, frame.shape[0], frame.shape[1])
                if overlay is not None:
                    overlay.write(draw_people(frame, people, cfg.min_conf))
                progress.advance(task)
        complete = True
    finally:
        writer.close(complete)
        progress.remove_task(task)


# ---------------------------------------------------------------- the command


def count_videos(rows: list[dict[str, Any]]) -> dict[str, int]:
    ok = [r for r in rows if not r["error"]]
    return {
        "total": len(rows),
        "frames": sum(r["frames"] for r in rows),
        "frames_with_person": sum(r["frames_with_person"] for r in rows),
        "frames_without_person": sum(r["frames"] - r["frames_with_person"] for r in ok),
        "persons": sum(r["persons"] for r in rows),
        "masks_written": sum(r["masks_written"] for r in rows),
        "errors": len(rows) - len(ok),
        "skipped": sum(r["note"] == COMPLETE for r in rows),
    }
