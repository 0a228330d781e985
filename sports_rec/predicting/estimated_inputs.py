"""Person masks and poses for a raw video, estimated for a clip checkpoint that needs them.

Study 004's reported model (``c3d_all``) multiplies frames by person masks and by skeleton
attention from per-frame poses; a phone video has neither. With ``masks=auto`` /
``poses=auto`` (the default when the checkpoint needs them and none are given) ``predict``
streams the video once through the pose backend and writes what the exercise-video layout
holds, in the layout's own names (:class:`~sports_rec.pose_estimation.writers.
VideoPoseWriter`), into ``<output>/estimated/``::

    dataset/skeleton/yolo_pose_csv/<video stem>.csv
    dataset/mask/<video stem>/<frame:06d>.png

The timeline then reads them exactly as it reads files a user gives, so the same model sees
the same kind of input, and the files stay beside the predictions as the record of what was
estimated (``timeline.json`` names the backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress

from sports_rec.data.formats.exercise_video_layout import ExerciseVideoLayout
from sports_rec.data.io.video_io import VideoInfo, iter_frames
from sports_rec.pose_estimation.registry import DEFAULT_BACKEND, create_estimator
from sports_rec.pose_estimation.writers import VideoPoseWriter

ESTIMATED_DIR = "estimated"


@dataclass(frozen=True)
class EstimatedInputs:
    """Where the estimated files are (None: not estimated) and by which backend."""

    masks: str | None
    poses: str | None
    backend: str
    frames_with_person: int
    frames: int


def estimate_video_inputs(
    video: Path,
    info: VideoInfo,
    out_dir: Path,
    layout: ExerciseVideoLayout,
    *,
    masks: bool,
    poses: bool,
    video_backend: str = "decord",
    backend: str = DEFAULT_BACKEND,
    chunk: int = 64,
) -> EstimatedInputs:
    """Estimate the masks and/or poses of every frame of ``video`` (see the module doc)."""
    root = out_dir / ESTIMATED_DIR
    writer = VideoPoseWriter(
        root, video.stem, layout, write_csv=poses, write_masks=masks, overwrite=True
    )
    complete = False
    try:
        with create_estimator(backend) as estimator, Progress(transient=True) as progress:
            task = progress.add_task(f"Poses and masks ({backend})", total=info.num_frames)

            def frames():
                for block in iter_frames(video, chunk, video_backend):
                    yield from block

            for index, people in enumerate(estimator.estimate_frames(frames())):
                writer.add(index, people, info.height, info.width)
                progress.advance(task)
        complete = True
    finally:
        writer.close(complete=complete)
    return EstimatedInputs(
        masks=str(writer.mask_dir) if masks else None,
        poses=str(writer.csv_path) if poses else None,
        backend=backend,
        frames_with_person=writer.frames_with_person,
        frames=writer.frames,
    )
