"""Reader for InfiniteForm (Weitz et al. 2021): one COCO-style JSON, images anywhere below.

Layout: one annotation JSON for the whole set and per scene ``{image_id}.rgb.png`` (beside
``.cseg.png``, ``.iseg.png`` and ``.depth.exr`` files, which are ignored). The images ship
in six archives, so after extraction they may sit in several folders: one recursive scan of
``root`` indexes every ``*.rgb.png`` by file name (hidden files and folders are skipped).

Labels: classes are the sorted set of ``pose_category`` over **all** annotations of the JSON
(so class ids do not shift when some archives are not extracted); ``pose_variation`` and
``exercise_category`` are kept as columns. ``split`` is ``None``: the study's 50,000 /
10,000 split is drawn by the datamodule.

Units (``unit``):

* ``"image"`` (default, the study's unit): one row per image, with the label, keypoints,
  ``bbox`` and ``area`` of its **largest avatar by ``area``** (ties: the one listed first).
  Study 003 used one label and one keypoint set per image without saying how multi-person
  scenes were resolved; the largest avatar is the subject a photo of the scene is about.
* ``"avatar"``: one row per avatar, plus ``crop = (x0, y0, x1, y1)``: the COCO bbox grown by
  ``crop_margin`` of its width/height on every side, rounded outward to whole pixels and
  clipped to the image; and ``group`` (the image id), so a grouped split keeps the avatars of
  one scene together. Keypoints stay in image coordinates (``keypoints.crop_keypoints``
  moves them into the crop).

Columns: ``path, label, split, image_id, annotation_id, keypoints, width, height, bbox, area,
pose_variation, exercise_category, num_avatars`` (+ ``crop, group`` for avatars).
``keypoints`` holds one float32 ``[17, 3]`` array ``(x, y, v)`` per row (an object column;
``keypoints.stack_keypoints`` turns it into ``[N, 17, 3]``); ``bbox`` is the COCO
``(x, y, w, h)`` tuple; ``num_avatars`` counts the image's annotations in the JSON.

Malformed input, decided per case so that a wrong *file* stops the run with a message while
an isolated damaged *record* costs one sample (every skip is counted in ``IndexTable.notes``
with the first few ids):

* not JSON, not an object with ``images`` and ``annotations`` lists, a record lacking a key
  the reader needs, or two images with one id: :class:`DatasetLayoutError` naming the JSON
  path and the record (``annotations[12] (id 40, image_id 7)``). A missing key means another
  kind of file (plain COCO has no ``pose_category``), not a damaged record.
* ``keypoints`` that are absent or not 51 finite numbers (a file where no annotation has
  them is refused as another kind of file), a ``bbox`` that is not 4 numbers or an
  ``area`` that is not a number: the avatar is skipped. With ``unit="image"`` an image whose
  largest avatar is damaged is skipped as a whole, never relabelled by a smaller avatar.
* an image record whose ``width``/``height`` is not a number; an annotation whose
  ``image_id`` is not in ``images``; an image without an annotation; an image whose
  ``.rgb.png`` is absent; an avatar whose crop is empty: skipped.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sports_rec.data.index import (
    DatasetLayoutError,
    IndexTable,
    report_empty_classes,
    require_dir,
)
from sports_rec.data.keypoints import keypoints_from_flat
from sports_rec.errors import ConfigError

EXPECTED_LAYOUT = """\
  <root>/<annotations>.json                 one COCO-style file for the whole set
  <root>/**/{image_id}.rgb.png              the images, in any sub-folders (six archives)
  (.cseg.png, .iseg.png and .depth.exr files beside them are ignored)"""

IMAGE_SUFFIX = ".rgb.png"
IMAGE_KEYS: tuple[str, ...] = ("id", "width", "height")
# ``keypoints`` is not among them: an annotation without it is a damaged person, skipped
# and counted like one with a wrong-length list (a file without any is refused).
ANNOTATION_KEYS: tuple[str, ...] = ("id", "image_id", "bbox", "area", "pose_category")
COLUMNS: tuple[str, ...] = (
    "path", "label", "split", "image_id", "annotation_id", "keypoints", "width", "height",
    "bbox", "area", "pose_variation", "exercise_category", "num_avatars",
)  # fmt: skip
UNITS = ("image", "avatar")
SHOW = 3  # ids listed per skip note


def _examples(items: Sequence[object]) -> str:
    shown = ", ".join(str(i) for i in items[:SHOW])
    return shown + (", ..." if len(items) > SHOW else "")


def scan_tree(root: Path) -> tuple[dict[str, Path], list[Path], list[str]]:
    """One walk of ``root``: ``{file name: path}`` of ``*.rgb.png``, the ``.json`` files, notes.

    A name found in several folders (an archive extracted twice) keeps its first path in
    sorted order and is reported.
    """
    images: dict[str, Path] = {}
    jsons: list[Path] = []
    duplicates: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            lower = name.lower()
            if lower.endswith(IMAGE_SUFFIX):
                if name in images:
                    duplicates.append(name)
                else:
                    images[name] = Path(folder) / name
            elif lower.endswith(".json"):
                jsons.append(Path(folder) / name)
    notes = []
    if duplicates:
        notes.append(
            f"{root}: {len(duplicates)} image file name(s) found in several folders; the "
            f"first (sorted) copy is used, e.g. {_examples(duplicates)}"
        )
    return images, sorted(jsons), notes


def find_annotations(root: Path, annotations: str | Path | None, jsons: list[Path]) -> Path:
    """The annotation JSON: ``annotations`` (relative to ``root``) or the single JSON below."""
    if annotations is not None:
        path = Path(annotations).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DatasetLayoutError(
                f"InfiniteForm annotation file not found: '{path}'.\n"
                "Set data.reader.annotations to the COCO-style JSON (absolute, or relative to "
                f"data.root), or leave it unset to use the single .json under {root}."
            )
        return path
    if len(jsons) == 1:
        return jsons[0]
    if not jsons:
        raise DatasetLayoutError(
            f"{root}: no annotation .json found under it.\nExpected layout:\n{EXPECTED_LAYOUT}\n"
            "Extract the annotation file into data.root or set data.reader.annotations=PATH."
        )
    listed = "\n".join(f"  {p}" for p in jsons)
    raise DatasetLayoutError(
        f"{root}: {len(jsons)} .json files found, cannot tell which holds the annotations:\n"
        f"{listed}\nChoose one with data.reader.annotations=PATH."
    )


def load_coco(path: Path) -> tuple[list[dict], list[dict]]:
    """``images`` and ``annotations`` of the JSON at ``path``, or a layout error saying why not."""
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetLayoutError(
            f"{path}: not valid JSON: {error.msg} at line {error.lineno}, column {error.colno} "
            f"(character {error.pos}). The file may be truncated: extract it again."
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetLayoutError(f"{path}: cannot read the annotation file ({error})") from error
    lists = isinstance(data, dict) and all(
        isinstance(data.get(key), list) for key in ("images", "annotations")
    )
    if not lists:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DatasetLayoutError(
            f"{path}: expected a COCO-style object with 'images' and 'annotations' lists, "
            f"found {found}. Is this the InfiniteForm annotation file? "
            "Choose it with data.reader.annotations=PATH."
        )
    return data["images"], data["annotations"]


def _require_keys(path: Path, record: Any, where: str, keys: Sequence[str]) -> None:
    if not isinstance(record, dict):
        raise DatasetLayoutError(
            f"{path}: {where} is a {type(record).__name__}, not an object. "
            "Is this the InfiniteForm annotation file?"
        )
    missing = [k for k in keys if k not in record]
    if missing:
        ids = ", ".join(f"{k} {record[k]!r}" for k in ("id", "image_id") if k in record)
        raise DatasetLayoutError(
            f"{path}: {where}{f' ({ids})' if ids else ''} lacks the key(s) "
            f"{', '.join(map(repr, missing))}; every InfiniteForm record has "
            f"{', '.join(keys)}. Is this the InfiniteForm annotation file? "
            "Choose it with data.reader.annotations=PATH."
        )


def _index_images(path: Path, images: list) -> dict[Any, dict]:
    by_id: dict[Any, dict] = {}
    for i, record in enumerate(images):
        _require_keys(path, record, f"images[{i}]", IMAGE_KEYS)
        if not isinstance(record["id"], (int, str)):
            raise DatasetLayoutError(
                f"{path}: images[{i}] has the id {record['id']!r}; image ids are numbers or "
                "strings. Is this the InfiniteForm annotation file?"
            )
        if record["id"] in by_id:
            raise DatasetLayoutError(
                f"{path}: images[{i}] repeats the image id {record['id']!r}; image ids must be "
                "unique. The file is damaged: extract it again."
            )
        by_id[record["id"]] = record
    return by_id


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _parse_avatar(record: dict) -> dict:
    """The reader's view of one annotation; ``ValueError`` says what is damaged."""
    bbox = record["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise ValueError(f"bbox {bbox!r} is not 4 numbers (x, y, w, h)")
    if "keypoints" not in record:
        raise ValueError("no 'keypoints' key")
    variation, exercise = record.get("pose_variation"), record.get("exercise_category")
    return {
        "annotation_id": record["id"],
        "image_id": record["image_id"],
        "keypoints": keypoints_from_flat(record["keypoints"]),
        "bbox": tuple(_number(v) for v in bbox),
        "area": _number(record["area"]),
        "category": str(record["pose_category"]),
        "pose_variation": None if variation is None else str(variation),
        "exercise_category": None if exercise is None else str(exercise),
    }


def crop_box(
    bbox: Sequence[float], width: int, height: int, margin: float
) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: ``bbox`` (COCO ``x, y, w, h``) grown by ``margin`` of its size on
    each side, rounded outward to whole pixels and clipped to the ``width x height`` image."""
    x, y, w, h = bbox
    x0 = max(0, math.floor(x - margin * w))
    y0 = max(0, math.floor(y - margin * h))
    x1 = min(int(width), math.ceil(x + w + margin * w))
    y1 = min(int(height), math.ceil(y + h + margin * h))
    return x0, y0, x1, y1


class _Skips:
    """Counts of skipped records per reason, with the first few ids of each."""

    def __init__(self) -> None:
        self.ids: dict[str, list[object]] = defaultdict(list)

    def add(self, reason: str, item: object) -> None:
        self.ids[reason].append(item)

    def notes(self, where: Path) -> list[str]:
        return [
            f"{where}: {len(items)} {reason}, e.g. {_examples(items)}"
            for reason, items in self.ids.items()
        ]


def read_infiniteform(
    root: str | Path,
    annotations: str | Path | None = None,
    unit: str = "image",
    crop_margin: float = 0.1,
) -> IndexTable:
    """Index InfiniteForm at ``root`` (see the module docstring for rows and skip rules).

    Args:
        root: folder holding the extracted archives (and usually the JSON).
        annotations: the annotation JSON, absolute or relative to ``root``; default: the one
            ``.json`` file found under ``root``.
        unit: ``"image"`` (one row per image: its largest avatar) or ``"avatar"``.
        crop_margin: avatar crops grow the bbox by this fraction of its width/height per side.
    """
    if unit not in UNITS:
        raise ConfigError(f"data.reader.unit must be one of {list(UNITS)}, got {unit!r}")
    if not (isinstance(crop_margin, (int, float)) and crop_margin >= 0):
        raise ConfigError(f"data.reader.crop_margin must be a number >= 0, got {crop_margin!r}")
    root = require_dir(
        Path(root).expanduser(), "InfiniteForm root", EXPECTED_LAYOUT, "infiniteform"
    )
    files, jsons, notes = scan_tree(root)
    json_path = find_annotations(root, annotations, jsons)
    image_records, annotation_records = load_coco(json_path)
    images = _index_images(json_path, image_records)

    skips = _Skips()
    avatars: dict[Any, list[dict]] = defaultdict(list)  # per image id, damaged ones marked
    categories: set[str] = set()
    for i, record in enumerate(annotation_records):
        _require_keys(json_path, record, f"annotations[{i}]", ANNOTATION_KEYS)
        categories.add(str(record["pose_category"]))
        image_id = record["image_id"]
        if not isinstance(image_id, (int, str)) or image_id not in images:
            skips.add(
                "annotation(s) pointing at an image id not in 'images' (skipped)", record["id"]
            )
            continue
        try:
            avatar = _parse_avatar(record)
        except ValueError as error:
            skips.add("damaged annotation(s) (avatar dropped)", f"id {record['id']} ({error})")
            avatar = {"area": record["area"], "damaged": True}
        avatars[image_id].append(avatar)

    if annotation_records and not any("keypoints" in r for r in annotation_records):
        raise DatasetLayoutError(
            f"{json_path}: no annotation has 'keypoints'; every InfiniteForm annotation has "
            "17 COCO keypoints. Is this the InfiniteForm annotation file? Choose it with "
            "data.reader.annotations=PATH."
        )
    class_names = sorted(categories)
    label_of = {name: i for i, name in enumerate(class_names)}
    rows: list[dict] = []
    for image_id, image in images.items():
        found = avatars.get(image_id)
        if not found:
            skips.add("image(s) without any annotation (skipped)", image_id)
            continue
        try:
            size = (int(_number(image["width"])), int(_number(image["height"])))
        except ValueError as error:
            skips.add(
                "image record(s) with a damaged width/height (skipped)", f"{image_id} ({error})"
            )
            continue
        name = f"{image_id}{IMAGE_SUFFIX}"
        file_name = Path(str(image.get("file_name", ""))).name
        path = files.get(name) or files.get(file_name)
        if path is None:
            skips.add(f"image(s) whose {IMAGE_SUFFIX} file is absent (skipped)", name)
            continue
        chosen = found
        if unit == "image":
            chosen = [_largest(found)]
            if chosen[0].get("damaged"):
                skips.add("image(s) whose largest avatar is damaged (skipped)", image_id)
                continue
        for avatar in chosen:
            if avatar.get("damaged"):
                continue
            row = _row(avatar, size, path, label_of, len(found))
            if unit == "avatar":
                box = crop_box(avatar["bbox"], row["width"], row["height"], crop_margin)
                if box[2] <= box[0] or box[3] <= box[1]:
                    skips.add(
                        "avatar(s) whose bbox lies outside the image (skipped)",
                        row["annotation_id"],
                    )
                    continue
                row["crop"], row["group"] = box, str(image_id)
            rows.append(row)

    columns = [*COLUMNS, *(("crop", "group") if unit == "avatar" else ())]
    frame = pd.DataFrame(rows, columns=columns)
    notes.extend(skips.notes(json_path))
    if frame.empty:
        raise DatasetLayoutError(
            f"{root}: no usable InfiniteForm image: {len(images)} image record(s) and "
            f"{len(annotation_records)} annotation(s) in {json_path}, "
            f"{len(files)} {IMAGE_SUFFIX} file(s) on disk.\n"
            + "".join(f"  {note}\n" for note in notes)
            + f"Expected layout:\n{EXPECTED_LAYOUT}"
        )
    notes.append(
        f"{json_path}: {len(images)} images, {len(annotation_records)} avatars; "
        f"{len(frame)} {unit} rows, {frame['image_id'].nunique()} images used"
    )
    notes.extend(report_empty_classes(frame, class_names, str(json_path)))
    return IndexTable(frame=frame, class_names=class_names, root=str(root), notes=notes)


def _largest(found: list[dict]) -> dict:
    """The avatar with the largest ``area`` (first listed on ties); damaged ones compete too,
    so a damaged largest avatar cannot silently hand the image to a smaller one."""
    best, best_area = found[0], -math.inf
    for avatar in found:
        try:
            area = _number(avatar["area"])
        except ValueError:
            area = math.inf  # an unreadable area: treat as the largest, i.e. skip the image
        if area > best_area:
            best, best_area = avatar, area
    return best


def _row(
    avatar: dict, size: tuple[int, int], path: Path, label_of: dict[str, int], count: int
) -> dict:
    return {
        "path": str(path),
        "label": label_of[avatar["category"]],
        "split": None,
        "image_id": avatar["image_id"],
        "annotation_id": avatar["annotation_id"],
        "keypoints": avatar["keypoints"],
        "width": size[0],
        "height": size[1],
        "bbox": avatar["bbox"],
        "area": avatar["area"],
        "pose_variation": avatar["pose_variation"],
        "exercise_category": avatar["exercise_category"],
        "num_avatars": count,
    }
