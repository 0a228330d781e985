"""Synthetic exercise videos in the real ``exercise_video`` layout (study 004).

Each subject is one video of a stick figure doing a sequence of exercises, separated by
idle (background, label -1) stretches. Every class is a distinct **periodic** motion: a
different set of limbs moves (curls, raises, jumping jacks, squats, marching ...), in phase
or in anti-phase, at a speed drawn per segment (periods of 10-22 frames, so one 16-frame
clip covers most of a repetition). A single frame does not always give the class away
(a curl at the bottom of its cycle looks like standing), the motion does: this is data for
a 3D CNN.

What mirrors the real set (``../shared/DATASETS.md``):

* ``dataset/anon/<subject>.mp4`` (30 fps, portrait ``size`` high, ~3/4 as wide),
  ``dataset/mask/<subject>/<frame:06d>.png`` (the figure's silhouette, 0/255),
  ``dataset/skeleton/yolo_pose_csv/<subject>.csv`` (the figure's 17 COCO joints in pixels;
  ~10 % of joints with low confidence, ~3 % of frames without a row, as a detector misses),
  ``label/<subject>.csv`` (``frame_number, column1, column2``; every other file has a header
  row, and one file numbers frames from 1), ``split.csv`` (``subject,split``).
* Class 1 dominates (``dominant_factor`` times the frames of every other class) and class 0
  is absent unless ``class0_present`` (the study reports results for classes 1-16 only).

Sizes: ``per_class`` training frames and ``eval_per_class`` test frames per class (at least
one 24-frame segment per class and split), spread over ``train_subjects`` and
``test_subjects`` videos. Everything is drawn from ``numpy.random.default_rng([seed, ...])``:
the same seed writes the same labels, poses and masks.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from sports_rec.data.formats.exercise_video_layout import COCO_JOINTS
from sports_rec.data.keypoints import BODY_BONES

FPS = 30.0
MIN_SEGMENT = 24
BACKGROUND = -1
# decord 0.6 mis-decodes H.264 frames of these widths (4-channel frames; get_batch fails).
DECORD_BAD_WIDTHS = frozenset({8, 12, 16, 24, 48, 72})


@dataclass(frozen=True)
class Pose:
    """Joint angles (radians) of the stick figure; 0 means limbs hanging straight down.

    Arm/leg angles open outward from the body; elbow/knee angles add to the limb's angle
    (elbow: the forearm keeps rotating outward; knee: the shin folds back inward).
    """

    arm_l: float = 0.15
    arm_r: float = 0.15
    elbow_l: float = 0.0
    elbow_r: float = 0.0
    leg_l: float = 0.08
    leg_r: float = 0.08
    knee_l: float = 0.0
    knee_r: float = 0.0
    lean: float = 0.0
    drop: float = 0.0


# Each class: phase (radians) -> pose. q rises 0 -> 1 -> 0 over a period; p is its
# anti-phase twin.
def _q(phase: float) -> float:
    return (1.0 - math.cos(phase)) / 2.0


def _p(phase: float) -> float:
    return (1.0 + math.cos(phase)) / 2.0


MOTIONS: tuple[Callable[[float], Pose], ...] = (
    # 0 jumping jack: arms and legs open together
    lambda f: Pose(arm_l=0.15 + 2.4 * _q(f), arm_r=0.15 + 2.4 * _q(f),
                   leg_l=0.08 + 0.35 * _q(f), leg_r=0.08 + 0.35 * _q(f)),
    # 1 squat: body drops, knees bend, arms rise forward
    lambda f: Pose(drop=0.2 * _q(f), leg_l=0.08 + 0.5 * _q(f), leg_r=0.08 + 0.5 * _q(f),
                   knee_l=1.0 * _q(f), knee_r=1.0 * _q(f),
                   arm_l=0.15 + 1.2 * _q(f), arm_r=0.15 + 1.2 * _q(f)),
    # 2 left curl
    lambda f: Pose(elbow_l=2.2 * _q(f)),
    # 3 right curl
    lambda f: Pose(elbow_r=2.2 * _q(f)),
    # 4 both curls together
    lambda f: Pose(elbow_l=2.2 * _q(f), elbow_r=2.2 * _q(f)),
    # 5 alternating curls
    lambda f: Pose(elbow_l=2.2 * _q(f), elbow_r=2.2 * _p(f)),
    # 6 lateral raise
    lambda f: Pose(arm_l=0.15 + 1.4 * _q(f), arm_r=0.15 + 1.4 * _q(f)),
    # 7 shoulder press: upper arms from horizontal to overhead, forearms straighten
    lambda f: Pose(arm_l=1.6 + 1.2 * _q(f), arm_r=1.6 + 1.2 * _q(f),
                   elbow_l=1.54 * _p(f), elbow_r=1.54 * _p(f)),
    # 8 side bend
    lambda f: Pose(lean=0.45 * math.sin(f)),
    # 9 left leg raise
    lambda f: Pose(leg_l=0.08 + 0.9 * _q(f)),
    # 10 right leg raise
    lambda f: Pose(leg_r=0.08 + 0.9 * _q(f)),
    # 11 marching: alternating knee raises
    lambda f: Pose(leg_l=0.08 + 0.7 * _q(f), knee_l=1.2 * _q(f),
                   leg_r=0.08 + 0.7 * _p(f), knee_r=1.2 * _p(f)),
    # 12 arm circles
    lambda f: Pose(arm_l=f % (2 * math.pi), arm_r=f % (2 * math.pi)),
    # 13 lunge on the left leg
    lambda f: Pose(drop=0.15 * _q(f), leg_l=0.08 + 0.6 * _q(f), knee_l=1.2 * _q(f),
                   leg_r=0.08 + 0.2 * _q(f)),
    # 14 alternating punches: arms horizontal, forearms fold and extend in turn
    lambda f: Pose(arm_l=1.57, arm_r=1.57, elbow_l=1.5 * _q(f), elbow_r=1.5 * _p(f)),
    # 15 jumping on the spot
    lambda f: Pose(drop=-0.15 * _q(f), arm_l=0.15 + 0.3 * _q(f), arm_r=0.15 + 0.3 * _q(f)),
    # 16 windmill: one arm up while the other goes down
    lambda f: Pose(arm_l=0.15 + 2.4 * _q(f), arm_r=0.15 + 2.4 * _p(f)),
)  # fmt: skip


def idle_pose(t: int, rng_values: np.ndarray) -> Pose:
    """Background: standing, slowly swaying and shifting the arms (not periodic at 16 frames)."""
    a, b, c = rng_values
    return Pose(lean=0.06 * math.sin(t / 40 + a), arm_l=0.15 + 0.15 * math.sin(t / 30 + b),
                arm_r=0.15 + 0.15 * math.sin(t / 35 + c))  # fmt: skip


def joints_of(pose: Pose) -> np.ndarray:
    """The 17 COCO joints ``[17, 2]`` in figure units (hips at the origin, y down, 1 = height).

    The person faces the camera, so their left side is on the image's right (+x).
    """
    neck = np.array([0.0, -0.45])
    rotation = np.array(
        [[math.cos(pose.lean), -math.sin(pose.lean)], [math.sin(pose.lean), math.cos(pose.lean)]]
    )

    def upper(point: np.ndarray) -> np.ndarray:  # upper body leans about the hips
        return rotation @ point

    def limb(start: np.ndarray, side: float, angle: float, length: float) -> np.ndarray:
        return start + length * np.array([side * math.sin(angle), math.cos(angle)])

    head = upper(np.array([0.0, -0.58]))
    joints = np.zeros((17, 2))
    joints[0] = head + upper(np.array([0.0, 0.02]))
    joints[1], joints[2] = head + upper([0.03, -0.02]), head + upper([-0.03, -0.02])
    joints[3], joints[4] = head + upper([0.07, 0.0]), head + upper([-0.07, 0.0])
    for side, shoulder_i, elbow_i, wrist_i, arm, elbow in (
        (1.0, 5, 7, 9, pose.arm_l, pose.elbow_l),
        (-1.0, 6, 8, 10, pose.arm_r, pose.elbow_r),
    ):
        shoulder = upper(neck + np.array([side * 0.12, 0.0]))
        joints[shoulder_i] = shoulder
        joints[elbow_i] = limb(shoulder, side, arm - pose.lean * side, 0.2)
        joints[wrist_i] = limb(joints[elbow_i], side, arm + elbow - pose.lean * side, 0.18)
    for side, hip_i, knee_i, ankle_i, leg, knee in (
        (1.0, 11, 13, 15, pose.leg_l, pose.knee_l),
        (-1.0, 12, 14, 16, pose.leg_r, pose.knee_r),
    ):
        hip = np.array([side * 0.08, 0.0])
        joints[hip_i] = hip
        joints[knee_i] = limb(hip, side, leg, 0.25)
        joints[ankle_i] = limb(joints[knee_i], side, leg - knee, 0.25)
    joints[:, 1] += pose.drop
    return joints


def draw_figure(
    points: np.ndarray, height: int, width: int, line: int
) -> tuple[Image.Image, np.ndarray]:
    """The figure's silhouette as an ``L`` mask (0/255) at pixel ``points`` ``[17, 2]``."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for a, b in BODY_BONES:
        draw.line([tuple(points[a]), tuple(points[b])], fill=255, width=line)
    neck = (points[5] + points[6]) / 2
    head = points[0]
    draw.line([tuple(neck), tuple(head)], fill=255, width=line)
    radius = max(2.0, 0.09 * height * 0.7)
    draw.ellipse([head[0] - radius, head[1] - radius, head[0] + radius, head[1] + radius], fill=255)
    return mask, np.asarray(mask) > 0


@dataclass(frozen=True)
class Segment:
    label: int
    length: int


def _segments(
    classes: list[int], frames_of: Callable[[int], int], rng: np.random.Generator
) -> list[Segment]:
    """Each class's frames cut into segments of ~36 frames (at least ``MIN_SEGMENT``)."""
    segments = []
    for label in classes:
        total = max(frames_of(label), MIN_SEGMENT)
        count = max(1, round(total / 36))
        sizes = np.full(count, total // count)
        sizes[: total % count] += 1
        segments.extend(Segment(label, int(max(size, MIN_SEGMENT))) for size in sizes)
    return [segments[i] for i in rng.permutation(len(segments))]


def _deal(segments: list[Segment], subjects: int) -> list[list[Segment]]:
    """Segments dealt to the subject with the fewest frames so far (videos of similar length)."""
    videos: list[list[Segment]] = [[] for _ in range(subjects)]
    totals = np.zeros(subjects, dtype=int)
    for segment in segments:
        k = int(np.argmin(totals))
        videos[k].append(segment)
        totals[k] += segment.length
    return videos


def _timeline(
    segments: list[Segment], rng: np.random.Generator
) -> tuple[np.ndarray, list[Callable[[int], Pose]]]:
    """Frame labels and one pose function per frame: idle between (and around) exercises."""
    labels: list[int] = []
    poses: list[Callable[[int], Pose]] = []
    idle = rng.uniform(0, 2 * math.pi, 3)
    for segment in [*segments, None]:
        gap = int(rng.integers(8, 21))
        labels.extend([BACKGROUND] * gap)
        poses.extend(lambda t: idle_pose(t, idle) for _ in range(gap))
        if segment is None:
            break
        period = float(rng.uniform(10, 22))
        offset = float(rng.uniform(0, 2 * math.pi))
        motion = MOTIONS[segment.label]
        start = len(labels)
        labels.extend([segment.label] * segment.length)
        poses.extend(
            (lambda t, s=start, m=motion, w=period, o=offset: m(2 * math.pi * (t - s) / w + o))
            for _ in range(segment.length)
        )
    return np.asarray(labels, dtype=np.int64), poses


def frame_width(size: int) -> int:
    """Portrait width for a ``size``-pixel-high frame: 3/4 of it, even, off decord's bad widths."""
    width = 2 * round(size * 0.375)
    return width + 2 if width in DECORD_BAD_WIDTHS else width


def _render_subject(
    out: Path, subject: str, segments: list[Segment], size: int, rng: np.random.Generator,
    header: bool, label_base: int,
) -> None:  # fmt: skip
    height, width = size, frame_width(size)
    labels, poses = _timeline(segments, rng)
    # Per subject: where the figure stands, how tall it is, its colour, the background.
    scale = size * float(rng.uniform(0.62, 0.72))
    centre_x = width * float(rng.uniform(0.42, 0.58))
    hips_y = size * 0.5 + scale * float(rng.uniform(-0.02, 0.04))
    colour = rng.integers(150, 256, 3)
    top, bottom = rng.integers(0, 110, 3), rng.integers(0, 110, 3)
    ys = np.linspace(0.0, 1.0, height)[:, None, None]
    background = top[None, None] * (1 - ys) + bottom[None, None] * ys
    line = max(2, round(size / 24))
    mask_dir = out / "dataset" / "mask" / subject
    mask_dir.mkdir(parents=True, exist_ok=True)
    frames = np.empty((len(labels), height, width, 3), np.uint8)
    keypoints = np.zeros((len(labels), 17, 3))
    for t, pose_at in enumerate(poses):
        drift = np.array([math.sin(t / 50.0), 0.0]) * 0.02 * scale
        points = joints_of(pose_at(t)) * scale + np.array([centre_x, hips_y]) + drift
        mask_image, silhouette = draw_figure(points, height, width, line)
        mask_image.save(mask_dir / f"{t:06d}.png")
        noise = rng.normal(0, 6, (height, width, 3))
        frame = np.where(silhouette[..., None], colour[None, None], background) + noise
        frames[t] = np.clip(frame, 0, 255).astype(np.uint8)
        keypoints[t, :, :2] = points + 0.5  # PIL pixel centres are integers; ours are +0.5
        keypoints[t, :, 2] = rng.uniform(0.75, 1.0, 17)
    low = rng.random((len(labels), 17)) < 0.1
    keypoints[low, 2] = rng.uniform(0.05, 0.45, int(low.sum()))
    # Imported here: video_io loads torch (~4 s), which the synthetic CLI's other formats skip.
    from sports_rec.data.io.video_io import write_video

    write_video(out / "dataset" / "anon" / f"{subject}.mp4", frames, FPS)

    detected = np.flatnonzero(rng.random(len(labels)) >= 0.03)
    pose_columns = {"frame": detected}
    for j, joint in enumerate(COCO_JOINTS):
        for c, coord in enumerate(("x", "y", "conf")):
            pose_columns[f"{joint}_{coord}"] = np.round(keypoints[detected, j, c], 2)
    pose_path = out / "dataset" / "skeleton" / "yolo_pose_csv" / f"{subject}.csv"
    pose_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(pose_columns).to_csv(pose_path, index=False)

    # column1's meaning in the real data is unknown; here it numbers the exercise segments.
    segment_number = np.cumsum(np.r_[0, np.diff(labels) != 0])
    label_path = out / "label" / f"{subject}.csv"
    label_path.parent.mkdir(parents=True, exist_ok=True)
    with label_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(["frame_number", "column1", "column2"])
        writer.writerows(
            (t + label_base, int(segment_number[t]), int(labels[t])) for t in range(len(labels))
        )


def write_exercise_video(
    out: Path,
    classes: int,
    per_class: int,
    eval_per_class: int,
    size: int,
    seed: int,
    train_subjects: int = 4,
    test_subjects: int = 2,
    dominant_factor: int = 4,
    class0_present: bool = False,
) -> None:
    """Write the layout; ``classes`` is the size of the class-id space (at most 17)."""
    if not 2 <= classes <= len(MOTIONS):
        raise ValueError(f"classes must be between 2 and {len(MOTIONS)}, got {classes}")
    present = [c for c in range(classes) if c != 0 or class0_present]
    if len(present) < 2:
        raise ValueError("need at least two present classes (use classes >= 3 without class 0)")
    out = Path(out)
    rows = []
    subject_number = 0
    for split_id, (split, subjects, per) in enumerate(
        (("train", train_subjects, per_class), ("test", test_subjects, eval_per_class))
    ):
        rng = np.random.default_rng([seed, split_id])
        segments = _segments(present, lambda c, n=per: n * (dominant_factor if c == 1 else 1), rng)
        for k, video in enumerate(_deal(segments, subjects)):
            subject_number += 1
            subject = f"subject{subject_number:02d}"
            _render_subject(
                out, subject, video, size, np.random.default_rng([seed, split_id, k]),
                header=subject_number % 2 == 1, label_base=1 if subject_number == 2 else 0,
            )  # fmt: skip
            rows.append((subject, split))
    with (out / "split.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject", "split"])
        writer.writerows(rows)
