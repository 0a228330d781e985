"""InfiniteForm data: COCO-17 keypoint utilities, the reader on the synthetic stand-in (units,
largest-avatar rule, crops, scattered folders, decoys), every malformed-input case (each built
by breaking one record in a copy of the JSON) and the synthetic set's keypoint class signal.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sports_rec.data.formats.infiniteform import crop_box, read_infiniteform
from sports_rec.data.index import DatasetLayoutError, IndexTable
from sports_rec.data.keypoints import (
    COCO_FLIP_INDEX,
    COCO_KEYPOINTS,
    COCO_SKELETON,
    crop_keypoints,
    encode_keypoints,
    flip_keypoints,
    keypoint_vector_size,
    keypoints_from_flat,
    stack_keypoints,
    zero_slots,
)
from sports_rec.data.synthetic.infiniteform import (
    ANNOTATION_FILE,
    CLASS_NAMES,
    FOLDERS,
    write_infiniteform,
)
from sports_rec.errors import ConfigError

CLASSES, PER_CLASS, EVAL_PER_CLASS, SIZE = 6, 16, 8, 64
IMAGES_PER_CLASS = PER_CLASS + EVAL_PER_CLASS


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic set for the module: 6 classes x 24 images, 64 px high."""
    out = tmp_path_factory.mktemp("infiniteform")
    write_infiniteform(out, CLASSES, PER_CLASS, EVAL_PER_CLASS, SIZE, seed=0)
    return out


@pytest.fixture(scope="module")
def coco(synthetic: Path) -> dict:
    return json.loads((synthetic / ANNOTATION_FILE).read_text())


@pytest.fixture(scope="module")
def table(synthetic: Path) -> IndexTable:
    return read_infiniteform(synthetic)


@pytest.fixture(scope="module")
def avatars(synthetic: Path) -> IndexTable:
    return read_infiniteform(synthetic, unit="avatar")


def broken(coco: dict, tmp_path: Path, edit) -> Path:
    """A copy of the annotation JSON with ``edit(copy)`` applied; returns its path."""
    data = json.loads(json.dumps(coco))
    edit(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


def by_image(coco: dict) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    for record in coco["annotations"]:
        found.setdefault(record["image_id"], []).append(record)
    return found


def multi_avatar_image(coco: dict) -> list[dict]:
    """The annotations of the first scene with several avatars."""
    return next(records for records in by_image(coco).values() if len(records) > 1)


def note_with(table: IndexTable, text: str) -> str:
    matches = [note for note in table.notes if text in note]
    assert matches, f"no note contains {text!r}: {table.notes}"
    return matches[0]


# ---------------------------------------------------------------- keypoints


def keypoint_set() -> np.ndarray:
    """InfiniteForm-like: nose and ears zero, left wrist visible, right knee outside."""
    keypoints = np.zeros((17, 3), np.float32)
    for j in range(17):
        if j not in (0, 3, 4):
            keypoints[j] = (10.0 + j, 20.0 + 2 * j, 2.0)
    keypoints[9] = (64.0, 24.0, 2.0)  # left wrist
    keypoints[14] = (-8.0, 48.0, 0.0)  # right knee, outside the frame
    keypoints[13] = (30.0, 12.0, 1.0)  # left knee, occluded
    return keypoints


def test_coco_names_and_flip_index() -> None:
    assert len(COCO_KEYPOINTS) == 17
    assert COCO_KEYPOINTS[0] == "nose" and COCO_KEYPOINTS[16] == "right_ankle"
    assert COCO_FLIP_INDEX == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    for i, j in enumerate(COCO_FLIP_INDEX):
        assert COCO_FLIP_INDEX[j] == i  # an involution
        name, twin = COCO_KEYPOINTS[i], COCO_KEYPOINTS[j]
        if name.startswith("left_"):
            assert twin == "right_" + name[5:]
        elif name.startswith("right_"):
            assert twin == "left_" + name[6:]
        else:
            assert twin == name


def test_skeleton_is_left_right_symmetric() -> None:
    limbs = {frozenset(pair) for pair in COCO_SKELETON}
    assert len(limbs) == 19
    mirrored = {frozenset(COCO_FLIP_INDEX[j] for j in pair) for pair in limbs}
    assert mirrored == limbs
    assert frozenset((5, 7)) in limbs  # left shoulder - left elbow


def test_encode_raw_with_and_without_visibility() -> None:
    keypoints = keypoint_set()
    full = encode_keypoints(keypoints, 128, 96)
    assert full.dtype == np.float32 and full.shape == (keypoint_vector_size(True),) == (51,)
    np.testing.assert_array_equal(full, keypoints.reshape(-1))
    short = encode_keypoints(keypoints, 128, 96, visibility=False)
    assert short.shape == (keypoint_vector_size(False),) == (34,)
    assert list(short[18:20]) == [64.0, 24.0]  # left wrist x, y; no v between joints


def test_encode_normalised_divides_x_by_width_and_y_by_height() -> None:
    vector = encode_keypoints(keypoint_set(), 128, 96, normalise=True)
    assert list(vector[27:30]) == [0.5, 0.25, 2.0]  # left wrist: 64/128, 24/96, v kept
    assert list(vector[42:45]) == [-0.0625, 0.5, 0.0]  # outside joint keeps its position
    short = encode_keypoints(keypoint_set(), 128, 96, normalise=True, visibility=False)
    assert list(short[18:20]) == [0.5, 0.25]


@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("visibility", [False, True])
def test_zero_slots_stay_zero(normalise: bool, visibility: bool) -> None:
    keypoints = keypoint_set()
    assert list(np.flatnonzero(zero_slots(keypoints))) == [0, 3, 4]
    per_joint = encode_keypoints(keypoints, 128, 96, normalise, visibility).reshape(17, -1)
    assert not per_joint[[0, 3, 4]].any()
    assert per_joint[[1, 2, 5]].all(axis=1).all()


def test_flip_and_crop_move_points_and_keep_zero_slots() -> None:
    keypoints = keypoint_set()
    flipped = flip_keypoints(keypoints, 100)
    assert list(flipped[10]) == [36.0, 24.0, 2.0]  # left wrist became the right wrist
    assert list(flipped[13]) == [108.0, 48.0, 0.0]  # right knee became the left knee
    assert not flipped[[0, 3, 4]].any()
    np.testing.assert_array_equal(flip_keypoints(flipped, 100), keypoints)
    cropped = crop_keypoints(keypoints, (4, 8, 90, 70))
    assert list(cropped[9]) == [60.0, 16.0, 2.0]
    assert not cropped[[0, 3, 4]].any()
    assert stack_keypoints([keypoints, cropped]).shape == (2, 17, 3)


def test_keypoint_input_errors() -> None:
    with pytest.raises(ValueError, match="has 50 numbers, expected 51"):
        keypoints_from_flat([0.0] * 50)
    with pytest.raises(ValueError, match="not a number"):
        keypoints_from_flat([0.0] * 50 + ["x"])
    with pytest.raises(ValueError, match="NaN"):
        keypoints_from_flat([0.0] * 50 + [math.nan])
    with pytest.raises(ValueError, match=r"must be \[17, 3\]"):
        encode_keypoints(np.zeros((17, 2)), 10, 10)
    with pytest.raises(ValueError, match="width and height must be > 0"):
        encode_keypoints(keypoint_set(), 0, 96, normalise=True)


# ---------------------------------------------------------------- reader on the synthetic set


def test_one_row_per_image_with_sorted_classes(table: IndexTable, coco: dict) -> None:
    frame = table.frame
    assert len(frame) == len(coco["images"]) == CLASSES * IMAGES_PER_CLASS
    assert table.class_names == sorted(CLASS_NAMES[:CLASSES]) == CLASS_NAMES[:CLASSES]
    assert table.class_counts(None) == [IMAGES_PER_CLASS] * CLASSES
    assert frame["split"].isna().all()
    assert frame["image_id"].is_unique
    # Image ids are written class by class, so each row's label is the class it was drawn for.
    assert (frame["label"] == frame["image_id"] // IMAGES_PER_CLASS).all()
    row = frame.iloc[0]
    assert row["keypoints"].dtype == np.float32 and row["keypoints"].shape == (17, 3)
    assert (row["width"], row["height"]) == (86, SIZE)
    assert set(frame["exercise_category"]) <= {"HIIT", "Yoga"}
    base_class = frame["pose_variation"].str.rsplit("_", n=1).str[0]
    assert (base_class == frame["label"].map(dict(enumerate(table.class_names)))).all()


def test_images_in_several_folders_and_decoys_ignored(table: IndexTable, synthetic: Path) -> None:
    folders = {Path(p).parent.relative_to(synthetic).as_posix() for p in table.frame["path"]}
    assert folders == set(FOLDERS)
    assert all(p.endswith(".rgb.png") for p in table.frame["path"])
    decoys = [
        p for ext in ("cseg.png", "iseg.png", "depth.exr") for p in synthetic.rglob(f"*.{ext}")
    ]
    assert len(decoys) >= 3 * (CLASSES * IMAGES_PER_CLASS // 5)


def test_largest_avatar_labels_a_multi_avatar_scene(table: IndexTable, coco: dict) -> None:
    records = multi_avatar_image(coco)
    largest = max(records, key=lambda r: r["area"])
    assert records[0] is not largest  # the synthetic set lists the main figure last
    row = table.frame.set_index("image_id").loc[largest["image_id"]]
    assert row["annotation_id"] == largest["id"]
    assert table.class_names[row["label"]] == largest["pose_category"]
    assert row["num_avatars"] == len(records)
    assert row["area"] == largest["area"]
    np.testing.assert_allclose(row["keypoints"].reshape(-1), largest["keypoints"], atol=1e-4)


def test_avatar_unit_rows_and_crops(avatars: IndexTable, coco: dict) -> None:
    frame = avatars.frame
    assert len(frame) == len(coco["annotations"])
    assert avatars.class_names == CLASS_NAMES[:CLASSES]
    assert (frame["group"] == frame["image_id"].astype(str)).all()
    counts = frame.groupby("image_id").size()
    assert (frame["num_avatars"] == frame["image_id"].map(counts)).all()
    for row in frame.itertuples():
        x, y, w, h = row.bbox
        assert row.crop == crop_box(row.bbox, row.width, row.height, 0.1)
        x0, y0, x1, y1 = row.crop
        assert 0 <= x0 <= x and 0 <= y0 <= y and x + w <= x1 <= row.width
        assert y + h <= y1 <= row.height


def test_crop_box_grows_rounds_outward_and_clips() -> None:
    assert crop_box((10, 20, 30, 40), 100, 50, 0.1) == (7, 16, 43, 50)
    assert crop_box((0.5, 0.5, 10, 10), 100, 100, 0.0) == (0, 0, 11, 11)
    assert crop_box((-5, 2, 20, 4), 100, 100, 0.25) == (0, 1, 20, 7)


def test_crop_margin_is_configurable(synthetic: Path, avatars: IndexTable) -> None:
    tight = read_infiniteform(synthetic, unit="avatar", crop_margin=0.0)
    row = tight.frame.iloc[0]
    x, y, w, h = row["bbox"]
    assert row["crop"] == (math.floor(x), math.floor(y), math.ceil(x + w), math.ceil(y + h))


# ---------------------------------------------------------------- the synthetic writer


def rle_decode(segmentation: dict) -> np.ndarray:
    height, width = segmentation["size"]
    flat = np.zeros(height * width, bool)
    position = 0
    for i, run in enumerate(segmentation["counts"]):
        flat[position : position + run] = i % 2 == 1
        position += run
    assert position == height * width
    return flat.reshape(width, height).T


def test_synthetic_records_follow_infiniteform(coco: dict) -> None:
    image = coco["images"][0]
    assert {"id", "file_name", "width", "height", "hdri_name", "hdri_rotation_deg",
            "camera_rotation_deg"} <= set(image)  # fmt: skip
    assert coco["categories"][0]["keypoints"] == list(COCO_KEYPOINTS)
    keypoints = np.array([r["keypoints"] for r in coco["annotations"]]).reshape(-1, 17, 3)
    assert not keypoints[:, [0, 3, 4]].any()  # nose and ears are zero slots
    v = keypoints[:, :, 2]
    assert {0.0, 1.0, 2.0} <= set(np.unique(v[:, 5:]))
    outside = keypoints[:, 5:][v[:, 5:] == 0]
    width, height = image["width"], image["height"]
    assert ((outside[:, 0] < 0) | (outside[:, 0] >= width)
            | (outside[:, 1] < 0) | (outside[:, 1] >= height)).all()  # fmt: skip
    for record in coco["annotations"][:40]:
        assert record["num_keypoints"] == int((np.array(record["keypoints"][2::3]) > 0).sum())
        assert len(record["keypoints_3d"]) == 51 and len(record["betas"]) == 10
        mask = rle_decode(record["segmentation"])
        assert mask.sum() == record["area"]
        x, y, w, h = record["bbox"]
        rows, cols = np.nonzero(mask)
        assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (x, y, x + w, y + h)
    assert max(len(r) for r in by_image(coco).values()) >= 2


def test_synthetic_is_deterministic(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_infiniteform(tmp_path / name, classes=2, per_class=2, eval_per_class=1, size=32,
                           seed=seed)  # fmt: skip
    same = [(tmp_path / n / ANNOTATION_FILE).read_bytes() for n in "abc"]
    assert same[0] == same[1] != same[2]
    pixels = [np.asarray(Image.open(next((tmp_path / n).rglob("0.rgb.png")))) for n in "abc"]
    np.testing.assert_array_equal(pixels[0], pixels[1])
    assert pixels[0].shape == (32, 42, 3)
    with pytest.raises(ValueError, match="classes must be between 2 and 15"):
        write_infiniteform(tmp_path / "d", classes=16, per_class=1, eval_per_class=1, size=32,
                           seed=0)  # fmt: skip


def nearest_centroid_accuracy(features: np.ndarray, keys: np.ndarray, labels: np.ndarray,
                              train: np.ndarray) -> float:  # fmt: skip
    """Held-out accuracy of class labels predicted by the nearest per-``keys`` centroid."""
    names = sorted(set(keys[train]))
    centroids = np.stack([features[train & (keys == k)].mean(axis=0) for k in names])
    label_of = np.array([labels[keys == k][0] for k in names])
    test = features[~train]
    distances = ((test[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    return float((label_of[distances.argmin(axis=1)] == labels[~train]).mean())


def test_keypoints_carry_the_class_signal_pixels_barely(table: IndexTable) -> None:
    """Nearest centroid per pose variation on encoded keypoints (shifted to and scaled by
    their own extent, which InfiniteForm keeps even past the image edge): high held-out
    accuracy; the same classifier on downsampled pixels stays near chance (1/6)."""
    frame = table.frame.sort_values("image_id").reset_index(drop=True)
    train = (frame.groupby("label").cumcount() < PER_CLASS).to_numpy()
    features = []
    for keypoints in frame["keypoints"]:
        provided = keypoints[~zero_slots(keypoints)]
        low, high = provided[:, :2].min(axis=0), provided[:, :2].max(axis=0)
        side = float(max(high - low))
        shifted = crop_keypoints(keypoints, (low[0], low[1], high[0], high[1]))
        features.append(encode_keypoints(shifted, side, side, normalise=True, visibility=False))
    labels = frame["label"].to_numpy()
    keypoint_acc = nearest_centroid_accuracy(
        np.stack(features), frame["pose_variation"].to_numpy(), labels, train
    )
    pixels = np.stack(
        [np.asarray(Image.open(p).convert("L").resize((16, 12))).reshape(-1) / 255.0
         for p in frame["path"]]
    )  # fmt: skip
    pixel_acc = nearest_centroid_accuracy(pixels, labels, labels, train)
    assert keypoint_acc >= 0.9  # measured 1.0 (seed 0); chance 1/6
    assert pixel_acc <= 0.4  # measured 0.15


# ---------------------------------------------------------------- malformed input


def test_missing_root_names_the_generator(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError) as error:
        read_infiniteform(tmp_path / "absent")
    assert "python -m sports_rec.data.synthetic infiniteform --out <dir>" in str(error.value)
    assert "{image_id}.rgb.png" in str(error.value)


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="unit must be one of"):
        read_infiniteform(".", unit="person")
    with pytest.raises(ConfigError, match="crop_margin must be a number >= 0"):
        read_infiniteform(".", crop_margin=-0.1)


def test_no_json_several_jsons_and_a_missing_annotation_path(
    synthetic: Path, tmp_path: Path
) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"no annotation \.json found"):
        read_infiniteform(tmp_path)
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "images" / "b.json").write_text("{}")
    with pytest.raises(DatasetLayoutError, match=r"2 \.json files found") as error:
        read_infiniteform(tmp_path)
    assert str(tmp_path / "images" / "b.json") in str(error.value)
    assert "data.reader.annotations=PATH" in str(error.value)
    with pytest.raises(DatasetLayoutError, match="annotation file not found"):
        read_infiniteform(synthetic, annotations="elsewhere.json")


def test_invalid_json_names_file_and_position(synthetic: Path, coco: dict, tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"images": [{"id": 1,\n  "width": }]}')
    with pytest.raises(DatasetLayoutError) as error:
        read_infiniteform(synthetic, annotations=path)
    message = str(error.value)
    assert str(path) in message and "not valid JSON" in message and "line 2, column 12" in message
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetLayoutError, match="'images' and 'annotations' lists"):
        read_infiniteform(synthetic, annotations=path)


def test_missing_key_names_the_record(synthetic: Path, coco: dict, tmp_path: Path) -> None:
    def drop_category(data: dict) -> None:
        del data["annotations"][3]["pose_category"]

    path = broken(coco, tmp_path, drop_category)
    record = coco["annotations"][3]
    with pytest.raises(DatasetLayoutError) as error:
        read_infiniteform(synthetic, annotations=path)
    message = str(error.value)
    assert str(path) in message
    assert f"annotations[3] (id {record['id']}, image_id {record['image_id']})" in message
    assert "lacks the key(s) 'pose_category'" in message

    def drop_width(data: dict) -> None:
        del data["images"][2]["width"]

    with pytest.raises(
        DatasetLayoutError, match=r"images\[2\] \(id 2\) lacks the key\(s\) 'width'"
    ):
        read_infiniteform(synthetic, annotations=broken(coco, tmp_path, drop_width))


def test_duplicate_image_id_is_an_error(synthetic: Path, coco: dict, tmp_path: Path) -> None:
    def duplicate(data: dict) -> None:
        data["images"][5]["id"] = data["images"][4]["id"]

    with pytest.raises(DatasetLayoutError, match=r"images\[5\] repeats the image id 4"):
        read_infiniteform(synthetic, annotations=broken(coco, tmp_path, duplicate))


def test_absent_image_files_are_skipped_and_counted(synthetic: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(synthetic, tmp_path / "data"))
    for image_id in (7, 11):
        next(root.rglob(f"{image_id}.rgb.png")).unlink()
    table = read_infiniteform(root)
    assert len(table.frame) == CLASSES * IMAGES_PER_CLASS - 2
    assert not table.frame["image_id"].isin([7, 11]).any()
    note = note_with(table, "file is absent")
    assert "2 image(s)" in note and "7.rgb.png, 11.rgb.png" in note


def test_wrong_keypoint_length_drops_the_avatar(
    synthetic: Path, coco: dict, tmp_path: Path
) -> None:
    records = multi_avatar_image(coco)
    largest = max(records, key=lambda r: r["area"])
    small = next(r for r in records if r is not largest)

    def truncate(ids: set[int]):
        def edit(data: dict) -> None:
            for record in data["annotations"]:
                if record["id"] in ids:
                    record["keypoints"] = record["keypoints"][:48]

        return edit

    # A damaged smaller avatar: the image keeps its label from the (intact) largest one.
    table = read_infiniteform(
        synthetic, annotations=broken(coco, tmp_path, truncate({small["id"]}))
    )
    row = table.frame.set_index("image_id").loc[largest["image_id"]]
    assert row["annotation_id"] == largest["id"]
    note = note_with(table, "damaged annotation(s)")
    assert f"id {small['id']} (keypoints has 48 numbers, expected 51" in note
    per_avatar = read_infiniteform(
        synthetic, annotations=broken(coco, tmp_path, truncate({small["id"]})), unit="avatar"
    )
    assert len(per_avatar.frame) == len(coco["annotations"]) - 1

    # A damaged largest avatar: the image is skipped, never relabelled by a smaller avatar.
    table = read_infiniteform(
        synthetic, annotations=broken(coco, tmp_path, truncate({largest["id"]}))
    )
    assert len(table.frame) == CLASSES * IMAGES_PER_CLASS - 1
    assert largest["image_id"] not in set(table.frame["image_id"])
    assert "1 image(s) whose largest avatar is damaged" in note_with(table, "largest avatar")


def test_annotation_of_an_unknown_image_is_skipped(
    synthetic: Path, coco: dict, tmp_path: Path
) -> None:
    records = multi_avatar_image(coco)
    small = min(records, key=lambda r: r["area"])

    def orphan(data: dict) -> None:
        next(r for r in data["annotations"] if r["id"] == small["id"])["image_id"] = 99999

    path = broken(coco, tmp_path, orphan)
    per_avatar = read_infiniteform(synthetic, annotations=path, unit="avatar")
    assert len(per_avatar.frame) == len(coco["annotations"]) - 1
    note = note_with(per_avatar, "image id not in 'images'")
    assert note.split(": ", 1)[1].startswith("1 annotation(s)") and str(small["id"]) in note
    assert len(read_infiniteform(synthetic, annotations=path).frame) == len(coco["images"])


def test_damaged_image_size_is_skipped(synthetic: Path, coco: dict, tmp_path: Path) -> None:
    def damage(data: dict) -> None:
        data["images"][0]["height"] = "tall"

    table = read_infiniteform(synthetic, annotations=broken(coco, tmp_path, damage))
    assert len(table.frame) == CLASSES * IMAGES_PER_CLASS - 1
    assert "1 image record(s) with a damaged width/height" in note_with(table, "width/height")


def test_nothing_usable_is_an_error(coco: dict, tmp_path: Path) -> None:
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    with pytest.raises(DatasetLayoutError, match="no usable InfiniteForm image") as error:
        read_infiniteform(tmp_path)
    assert f"{len(coco['images'])} image(s) whose .rgb.png file is absent" in str(error.value)


def test_a_missing_keypoints_key_is_skipped_like_a_wrong_length(
    synthetic: Path, coco: dict, tmp_path: Path
) -> None:
    """One policy for a damaged person: a record without 'keypoints' used to stop the whole
    run while one with 48 numbers was skipped; both are now skipped and counted. A file in
    which no annotation has keypoints is another kind of file, and is refused."""
    records = multi_avatar_image(coco)
    largest = max(records, key=lambda r: r["area"])
    small = next(r for r in records if r is not largest)

    def drop(ids: set[int] | None):
        def edit(data: dict) -> None:
            for record in data["annotations"]:
                if ids is None or record["id"] in ids:
                    del record["keypoints"]

        return edit

    per_avatar = read_infiniteform(
        synthetic, annotations=broken(coco, tmp_path, drop({small["id"]})), unit="avatar"
    )
    assert len(per_avatar.frame) == len(coco["annotations"]) - 1
    note = note_with(per_avatar, "damaged annotation(s)")
    assert f"id {small['id']} (no 'keypoints' key)" in note
    table = read_infiniteform(synthetic, annotations=broken(coco, tmp_path, drop({largest["id"]})))
    assert largest["image_id"] not in set(table.frame["image_id"])
    assert "1 image(s) whose largest avatar is damaged" in note_with(table, "largest avatar")
    with pytest.raises(DatasetLayoutError, match="no annotation has 'keypoints'"):
        read_infiniteform(synthetic, annotations=broken(coco, tmp_path, drop(None)))
