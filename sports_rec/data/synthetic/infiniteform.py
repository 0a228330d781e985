"""Synthetic InfiniteForm stand-in: stick figures in fitness poses, annotated like the real set.

What mirrors the real set (``../shared/DATASETS.md``, section infiniteform):

* one COCO-style JSON (``infiniteform_coco.json``) with the published field names: scene
  fields on ``images[]`` (``hdri_name``, ``hdri_rotation_deg``, ``camera_rotation_deg``), one
  ``annotations[]`` record per avatar (``bbox``, ``area``, an uncompressed-RLE
  ``segmentation``, 51 ``keypoints``, ``num_keypoints``, ``keypoints_3d``, ``pose_category``,
  ``pose_variation``, ``exercise_category``, ``color``, ``zaxis_rotation_deg``,
  ``cuboid_points`` and a few body fields), one ``person`` category;
* ``{image_id}.rgb.png`` files spread over three folders, as six extracted archives are, with
  ``.cseg.png``, ``.iseg.png`` and ``.depth.exr`` decoys beside some of them;
* keypoints: nose and ears are zero slots ``(0, 0, 0)``; ``v = 1`` for joints covered by a
  foreground box or another avatar, ``v = 0`` for joints outside the frame (some figures
  stand partly out of it), which keep their out-of-image ``x, y`` as the real set does;
* several avatars in some scenes; the largest (by visible ``area``) is drawn in front and
  carries the class the image is generated for, the others are smaller and of any class.

The class signal sits in the **pose**: each class is a template of limb angles (15 stand-in
``pose_category`` names; the real vocabulary is unpublished), varied by scale, position,
camera roll, a body turn, per-limb jitter and left/right mirroring (``pose_variation``
``<class>_left`` / ``<class>_right``). The image signal is deliberately weaker: 1-2 px limbs
in a random colour, figures at 40-75 % of the frame height, stick-like clutter lines and noise.
So keypoints alone classify well while pixels alone are hard, as in study 003 where adding the
keypoints lifted test accuracy from 32 % to 97 %.

Every image is drawn from ``numpy.random.default_rng([seed, class, index])``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sports_rec.data.keypoints import (
    BODY_BONES,
    COCO_FLIP_INDEX,
    COCO_KEYPOINTS,
    COCO_SKELETON,
    NUM_KEYPOINTS,
)

ANNOTATION_FILE = "infiniteform_coco.json"
FOLDERS: tuple[str, ...] = ("infiniteform_1", "infiniteform_2", "infiniteform_3/images")
ZERO_SLOTS: tuple[int, ...] = (0, 3, 4)  # nose, left_ear, right_ear: not in InfiniteForm
HDRIS = ("studio_small_03", "garden_01", "gym_entrance", "living_room", "rooftop_night")
EXR_MAGIC = b"\x76\x2f\x31\x01"

# Figure geometry in figure units (about 1 = standing height), hips' centre at the origin.
TORSO, UPPER_ARM, FOREARM, THIGH, SHIN = 0.45, 0.2, 0.18, 0.25, 0.25
SHOULDER_HALF, HIP_HALF, HEAD = 0.12, 0.08, 0.12


@dataclass(frozen=True)
class PoseTemplate:
    """Limb directions (degrees) of one pose class, as drawn in the image.

    0 points down, 90 to the image's right (+x), 180 up. Pairs are (left, right) limbs; a
    figure facing the camera has its left side on the image's right. ``width`` spreads the
    shoulders and hips across the torso: 1 facing the camera, small in profile.
    """

    exercise: str
    torso: float
    upper_arm: tuple[float, float]
    forearm: tuple[float, float]
    thigh: tuple[float, float]
    shin: tuple[float, float]
    width: float = 1.0


POSE_TEMPLATES: dict[str, PoseTemplate] = {
    "bicepcurl": PoseTemplate("HIIT", 180, (10, -10), (165, -165), (5, -5), (3, -3)),
    "birddog": PoseTemplate("Yoga", 92, (90, 0), (92, 0), (270, 0), (272, 270), 0.3),
    "bridge": PoseTemplate("Yoga", 70, (270, 270), (268, 272), (235, 235), (0, 5), 0.3),
    "deadlift": PoseTemplate("HIIT", 125, (5, 0), (0, -5), (5, 0), (-5, -8), 0.3),
    "downwarddog": PoseTemplate("Yoga", 45, (42, 38), (40, 36), (-35, -32), (-30, -28), 0.3),
    "jumpingjack": PoseTemplate("HIIT", 180, (140, -140), (155, -155), (25, -25), (22, -22)),
    "lunge": PoseTemplate("HIIT", 180, (8, 3), (5, 0), (90, -25), (0, -85), 0.35),
    "overheadpress": PoseTemplate("HIIT", 180, (165, -165), (178, -178), (8, -8), (5, -5)),
    "plank": PoseTemplate("HIIT", 100, (0, -3), (90, 88), (280, 281), (279, 280), 0.3),
    "pushup": PoseTemplate("HIIT", 112, (0, 4), (0, 3), (292, 292), (292, 292), 0.3),
    "sideplank": PoseTemplate("Yoga", 120, (180, 5), (180, 2), (300, 302), (300, 302), 0.7),
    "situp": PoseTemplate("HIIT", 200, (110, 115), (100, 105), (125, 122), (20, 22), 0.3),
    "squat": PoseTemplate("HIIT", 160, (90, 92), (90, 92), (90, 88), (0, 2), 0.3),
    "treepose": PoseTemplate("Yoga", 180, (160, -160), (200, -200), (65, -3), (-70, -3)),
    "warrior2": PoseTemplate("Yoga", 180, (90, -90), (90, -90), (80, -50), (0, -50)),
}
CLASS_NAMES: list[str] = sorted(POSE_TEMPLATES)


def _direction(degrees: float) -> np.ndarray:
    radians = math.radians(degrees)
    return np.array([math.sin(radians), math.cos(radians)])


def template_joints(
    template: PoseTemplate, rng: np.random.Generator, jitter: float = 7.0, turn: float = 0.0
) -> np.ndarray:
    """The 17 COCO joints ``[17, 2]`` of ``template`` in figure units (y down).

    Every limb direction gets Gaussian ``jitter`` degrees; ``turn`` (the avatar's rotation
    about its vertical axis) narrows the shoulders and hips by ``|cos(turn)|``. Zero slots are
    left at the origin (the caller writes them as ``(0, 0, 0)``).
    """

    def angle(value: float) -> float:
        return value + float(rng.normal(0.0, jitter))

    lean = angle(template.torso)
    torso, left = _direction(lean), _direction(lean - 90.0)  # left: across the torso
    width = max(0.15, template.width * abs(math.cos(math.radians(turn))))
    joints = np.zeros((NUM_KEYPOINTS, 2))
    neck = torso * TORSO
    head = neck + torso * HEAD
    joints[1] = head + torso * 0.02 + left * 0.035 * width
    joints[2] = head + torso * 0.02 - left * 0.035 * width
    for side, (shoulder, elbow, wrist, hip, knee, ankle) in enumerate(
        ((5, 7, 9, 11, 13, 15), (6, 8, 10, 12, 14, 16))
    ):
        sign = 1.0 if side == 0 else -1.0
        joints[shoulder] = neck + sign * left * SHOULDER_HALF * width
        joints[elbow] = joints[shoulder] + _direction(angle(template.upper_arm[side])) * UPPER_ARM
        joints[wrist] = joints[elbow] + _direction(angle(template.forearm[side])) * FOREARM
        joints[hip] = sign * left * HIP_HALF * width
        joints[knee] = joints[hip] + _direction(angle(template.thigh[side])) * THIGH
        joints[ankle] = joints[knee] + _direction(angle(template.shin[side])) * SHIN
    return joints


@dataclass
class Avatar:
    """One figure of a scene: its class, pixel joints and what the annotation records."""

    category: str
    variation: str
    points: np.ndarray  # [17, 2] pixels (continuous coordinates)
    head: np.ndarray  # [2] pixels: centre of the drawn head
    colour: tuple[int, int, int]
    turn: float
    depth: float
    scale: float
    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))


def _place(
    category: str, rng: np.random.Generator, scale: float, roll: float, centre: np.ndarray
) -> Avatar:
    """A figure of ``category`` whose bounding box is centred on ``centre`` (pixels)."""
    template = POSE_TEMPLATES[category]
    turn = float(rng.uniform(-35, 35)) if template.width >= 0.7 else float(rng.uniform(-15, 15))
    joints = template_joints(template, rng, turn=turn)
    mirrored = bool(rng.random() < 0.5)
    if mirrored:  # the mirror image of a person is a person with sides swapped
        joints = (joints * np.array([-1.0, 1.0]))[list(COCO_FLIP_INDEX)]
    c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    joints = joints @ np.array([[c, -s], [s, c]]).T * scale
    avatar = Avatar(
        category=category,
        variation=f"{category}_{'right' if mirrored else 'left'}",
        points=joints,
        head=joints[1:3].mean(axis=0),  # between the eyes
        colour=tuple(int(v) for v in rng.integers(60, 256, 3)),  # type: ignore[arg-type]
        turn=turn,
        depth=float(rng.uniform(2.5, 6.0)),
        scale=scale,
    )
    low, high = _bounds(avatar)
    _move(avatar, centre - (low + high) / 2)
    return avatar


def _bounds(avatar: Avatar) -> tuple[np.ndarray, np.ndarray]:
    """Min and max corner of the drawn body (joints without zero slots, head circle)."""
    body = np.delete(avatar.points, ZERO_SLOTS, axis=0)
    radius = HEAD * 0.45 * avatar.scale
    low = np.minimum(body.min(axis=0), avatar.head - radius)
    high = np.maximum(body.max(axis=0), avatar.head + radius)
    return low, high


def _move(avatar: Avatar, shift: np.ndarray) -> None:
    avatar.points = avatar.points + shift
    avatar.head = avatar.head + shift


def _scene_avatars(
    category: str, others: list[str], rng: np.random.Generator, height: int, width: int
) -> tuple[list[Avatar], float]:
    """The avatars of one scene, back to front (0-2 small extras, then the main figure),
    and the camera roll in degrees."""
    frame = np.array([width, height], float)
    roll = float(rng.normal(0.0, 5.0))
    centre = frame * (rng.uniform(0.38, 0.62), rng.uniform(0.42, 0.58))
    main = _place(category, rng, height * float(rng.uniform(0.4, 0.75)), roll, centre)
    low, high = _bounds(main)
    fit = float(min(1.0, *(0.92 * frame / np.maximum(high - low, 1e-6))))
    if fit < 1.0:  # a wide pose (lying down) must fit the frame before any deliberate cut
        _move(main, -centre)
        main.points, main.head, main.scale = main.points * fit, main.head * fit, main.scale * fit
        _move(main, centre)
    low, high = _bounds(main)  # inside the frame, unless cut on purpose below
    _move(main, np.maximum(0.0, -low) - np.maximum(0.0, high - frame))
    if rng.random() < 0.15:  # partly out of frame: 25-35 % of the body past one edge
        low, high = _bounds(main)
        axis = int(rng.integers(0, 2))
        past = (high - low)[axis] * float(rng.uniform(0.25, 0.35))
        shift = np.zeros(2)
        if rng.random() < 0.5:
            shift[axis] = frame[axis] + past - high[axis]
        else:
            shift[axis] = -past - low[axis]
        _move(main, shift)
    extras = []
    for _ in range(int(rng.choice([0, 0, 0, 1, 1, 2]))):
        small = main.scale * float(rng.uniform(0.35, 0.55))
        spot = frame * (rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.8))
        extras.append(_place(str(rng.choice(others)), rng, small, roll, spot))
    return [*extras, main], roll


def _draw_figure(avatar: Avatar, height: int, width: int, line: int) -> np.ndarray:
    """The figure's silhouette (bool ``[H, W]``): limbs, neck and head."""
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    p = avatar.points - 0.5  # continuous coordinates -> PIL's pixel-centre coordinates
    for a, b in BODY_BONES:
        draw.line([tuple(p[a]), tuple(p[b])], fill=255, width=line)
    neck = (p[5] + p[6]) / 2
    head = avatar.head - 0.5
    draw.line([tuple(neck), tuple(head)], fill=255, width=line)
    r = max(1.5, HEAD * 0.45 * avatar.scale)
    draw.ellipse([head[0] - r, head[1] - r, head[0] + r, head[1] + r], fill=255)
    return np.asarray(mask) > 0


def _background(rng: np.random.Generator, height: int, width: int, line: int) -> Image.Image:
    """Two-colour gradient, a floor band, stick-like clutter lines and blobs."""
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ys = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = top[None, None] * (1 - ys) + bottom[None, None] * ys
    floor = int(height * rng.uniform(0.6, 0.85))
    pixels = np.broadcast_to(pixels, (height, width, 3)).copy()
    pixels[floor:] *= rng.uniform(0.55, 0.9)
    canvas = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(4, 9))):  # limb-like distractors
        start = rng.uniform(0, 1, 2) * (width, height)
        end = start + rng.normal(0, 0.2, 2) * height
        colour = tuple(int(v) for v in rng.integers(40, 256, 3))
        draw.line([tuple(start), tuple(end)], fill=colour, width=line)
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.03, 0.08) * height
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return canvas


def _rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (column-major runs, starting with a run of zeros)."""
    flat = mask.T.reshape(-1).astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.r_[0, changes, flat.size]
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _visibility(points: np.ndarray, owner: np.ndarray, k: int) -> np.ndarray:
    """v per joint: 0 outside the frame, 1 covered (no own pixel within 1 px), 2 visible."""
    height, width = owner.shape
    v = np.zeros(len(points), np.int64)
    for j, (x, y) in enumerate(points):
        if not (0 <= x < width and 0 <= y < height):
            continue
        col, row = int(x), int(y)
        patch = owner[max(0, row - 1) : row + 2, max(0, col - 1) : col + 2]
        v[j] = 2 if (patch == k).any() else 1
    return v


def render_scene(
    category: str, others: list[str], rng: np.random.Generator, height: int, width: int
) -> tuple[Image.Image, list[Avatar], np.ndarray, float]:
    """Image, avatars (back to front), instance map (0 background, k+1 avatar k) and roll.

    The main figure must stay visible and the largest by visible area, so the image label
    follows the largest-avatar rule: an occluder hiding it all is left out, and extras that
    end up invisible or not smaller are dropped (the scene is drawn again without them).
    """
    line = max(1, round(height / 48))
    avatars, roll = _scene_avatars(category, others, rng, height, width)
    canvas = _background(rng, height, width, line)
    occluder = None
    if rng.random() < 0.35:  # a foreground object covering part of the scene
        w, h = rng.uniform(0.15, 0.35) * width, rng.uniform(0.15, 0.35) * height
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        occluder = ([x, y, x + w, y + h], tuple(int(v) for v in rng.integers(0, 256, 3)))
    noise = rng.normal(0, 7, (height, width, 3))
    while True:
        owner = np.zeros((height, width), np.int64)
        for k, avatar in enumerate(avatars):
            avatar.mask = _draw_figure(avatar, height, width, line)
            owner[avatar.mask] = k + 1
        if occluder is not None:
            box = Image.new("L", (width, height), 0)
            ImageDraw.Draw(box).rectangle(occluder[0], fill=255)
            owner[np.asarray(box) > 0] = 0
        areas = [int((owner == k + 1).sum()) for k in range(len(avatars))]
        if areas[-1] == 0:
            occluder = None
        elif any(not 0 < area < areas[-1] for area in areas[:-1]):
            avatars = avatars[-1:]
        else:
            break
    pixels = np.asarray(canvas).astype(np.float64)
    for k, avatar in enumerate(avatars):
        pixels[owner == k + 1] = avatar.colour
    image = Image.fromarray(pixels.astype(np.uint8))
    if occluder is not None:
        ImageDraw.Draw(image).rectangle(occluder[0], fill=occluder[1])
    noisy = np.clip(np.asarray(image).astype(np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(noisy), avatars, owner, roll


def _annotation(
    avatar: Avatar, k: int, owner: np.ndarray, ann_id: int, image_id: int, rng: np.random.Generator
) -> dict:
    visible = owner == k + 1
    rows, cols = np.nonzero(visible)
    x0, y0, x1, y1 = int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1
    v = _visibility(avatar.points, owner, k + 1)
    keypoints = np.column_stack([avatar.points, v]).astype(np.float64)
    depth = avatar.depth + rng.normal(0, 0.1, NUM_KEYPOINTS)
    keypoints_3d = np.column_stack([avatar.points, depth])
    keypoints[list(ZERO_SLOTS)] = 0.0
    keypoints_3d[list(ZERO_SLOTS)] = 0.0
    v[list(ZERO_SLOTS)] = 0
    back = np.array([x1 - x0, y1 - y0]) * 0.1
    corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    cuboid = [*corners, *([x + back[0], y - back[1]] for x, y in corners)]
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "area": int(visible.sum()),
        "segmentation": _rle(visible),
        "keypoints": [round(float(value), 2) for value in keypoints.reshape(-1)],
        "num_keypoints": int((v > 0).sum()),
        "keypoints_3d": [round(float(value), 3) for value in keypoints_3d.reshape(-1)],
        "cuboid_points": [[round(float(a), 2), round(float(b), 2)] for a, b in cuboid],
        "pose_category": avatar.category,
        "pose_variation": avatar.variation,
        "exercise_category": POSE_TEMPLATES[avatar.category].exercise,
        "color": [round(c / 255, 4) for c in avatar.colour],
        "zaxis_rotation_deg": round(avatar.turn, 2),
        "presenting_gender": str(rng.choice(["female", "male"])),
        "height": round(float(rng.uniform(1.5, 1.95)), 3),
        "betas": [round(float(b), 4) for b in rng.normal(0, 1, 10)],
    }


def _write_decoys(folder: Path, image_id: int, owner: np.ndarray) -> None:
    """Segmentation and depth files the reader must ignore."""
    Image.fromarray((owner > 0).astype(np.uint8) * 255).save(folder / f"{image_id}.cseg.png")
    Image.fromarray(np.minimum(owner * 40, 255).astype(np.uint8)).save(
        folder / f"{image_id}.iseg.png"
    )
    (folder / f"{image_id}.depth.exr").write_bytes(EXR_MAGIC + bytes(12))


def write_infiniteform(
    out: Path, classes: int, per_class: int, eval_per_class: int, size: int, seed: int
) -> None:
    """``per_class + eval_per_class`` images per class (no split on disk), ``size`` px high
    and 4/3 as wide; the first ``classes`` stand-in pose categories in sorted order."""
    if not 2 <= classes <= len(CLASS_NAMES):
        raise ValueError(f"classes must be between 2 and {len(CLASS_NAMES)}, got {classes}")
    out = Path(out)
    names = CLASS_NAMES[:classes]
    height, width = size, 2 * round(size * 2 / 3)
    folders = [out / name for name in FOLDERS]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    image_id = 0
    for label, name in enumerate(names):
        for i in range(per_class + eval_per_class):
            rng = np.random.default_rng([seed, label, i])
            image, avatars, owner, roll = render_scene(name, names, rng, height, width)
            folder = folders[image_id % len(folders)]
            image.save(folder / f"{image_id}.rgb.png")
            if image_id % 5 == 0:
                _write_decoys(folder, image_id, owner)
            images.append(
                {
                    "id": image_id,
                    "file_name": f"{image_id}.rgb.png",
                    "width": width,
                    "height": height,
                    "hdri_name": str(rng.choice(HDRIS)),
                    "hdri_rotation_deg": round(float(rng.uniform(0, 360)), 2),
                    "camera_rotation_deg": round(roll, 2),
                }
            )
            for k, avatar in enumerate(avatars):
                annotations.append(_annotation(avatar, k, owner, len(annotations), image_id, rng))
            image_id += 1
    coco = {
        "info": {"description": "sports_rec synthetic stand-in for InfiniteForm", "seed": seed},
        "images": images,
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": "person",
                "supercategory": "person",
                "keypoints": list(COCO_KEYPOINTS),
                "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
            }
        ],
    }
    (out / ANNOTATION_FILE).write_text(json.dumps(coco))
