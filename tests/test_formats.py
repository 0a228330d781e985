"""Format readers on synthetic layouts (with the real oddities) and on the real samples."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hydra.utils import instantiate
from PIL import Image

from sports_rec.data.formats.sports100 import CLASS_NAMES as SPORTS100_CLASSES
from sports_rec.data.formats.sports100 import read_sports100
from sports_rec.data.formats.sports_balls import CLASS_NAMES as BALL_CLASSES
from sports_rec.data.formats.sports_balls import read_sports_balls
from sports_rec.data.formats.workout import CLASS_NAMES as WORKOUT_CLASSES
from sports_rec.data.formats.workout import read_workout, video_group
from sports_rec.data.index import DatasetLayoutError, IndexTable
from sports_rec.data.io.image_io import load_image
from sports_rec.data.synthetic import SyntheticSpec, generate
from tests.conftest import shared_sample

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def synth(
    fmt: str, out: Path, classes: int = 4, per_class: int = 5, eval_per_class: int = 2
) -> Path:
    """A tiny synthetic dataset (32 px) in ``fmt``'s real layout."""
    return generate(SyntheticSpec(fmt, classes, per_class, eval_per_class, size=32, seed=0), out)


def images_on_disk(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


def rel_index(index: IndexTable) -> pd.DataFrame:
    """The index with root-relative posix paths, sorted: comparable across copies."""
    root = Path(index.root)
    frame = index.frame[["path", "label", "split"]].copy()
    frame["path"] = [Path(p).relative_to(root).as_posix() for p in frame["path"]]
    return frame.sort_values("path").reset_index(drop=True)


def note_count(notes: list[str], phrase: str) -> int:
    """The number written in front of ``phrase`` in the reader's notes (0 if absent)."""
    for note in notes:
        match = re.search(rf"(\d+) {re.escape(phrase)}", note)
        if match:
            return int(match.group(1))
    return 0


def row_of(index: IndexTable, rel: str) -> pd.Series:
    rows = index.frame[index.frame["path"] == str(Path(index.root) / rel)]
    assert len(rows) == 1, f"{rel} indexed {len(rows)} times"
    return rows.iloc[0]


# --------------------------------------------------------------------------- sports100
def test_sports100_synthetic_layout(tmp_path: Path) -> None:
    root = synth("sports100", tmp_path / "s100", classes=4, per_class=5, eval_per_class=2)
    index = read_sports100(root)

    assert index.class_names == SPORTS100_CLASSES[:4]
    assert any(" " in name for name in index.class_names)
    assert index.class_counts("train") == [5, 5, 5, 5]
    assert index.class_counts("valid") == [2, 2, 2, 2]
    assert index.class_counts("test") == [2, 2, 2, 2]
    assert set(index.frame["path"]) == images_on_disk(root)
    assert not any(p.endswith(".h5") for p in index.frame["path"])
    assert (root / "EfficientNetB0-100-(224 X 224)- 98.40.h5").is_file()
    assert index.notes == []
    # The generator writes single-channel JPEGs for class 1: they are indexed and load as RGB.
    for rel in ("train/ampute football/002.jpg", "test/ampute football/2.jpg"):
        with Image.open(root / rel) as raw:
            assert raw.mode == "L"
        assert row_of(index, rel)["label"] == 1
        assert load_image(root / rel).mode == "RGB"


def test_sports100_older_csv_version_gives_same_index(tmp_path: Path) -> None:
    """Old Kaggle version: ``filepaths,labels,data set`` plus ``class_dict.csv``."""
    root = synth("sports100", tmp_path / "s100")
    newest = rel_index(read_sports100(root))
    table = pd.read_csv(root / "sports.csv")
    table.drop(columns=["class id"]).to_csv(root / "sports.csv", index=False)
    # Reverse the class_dict rows on disk: the reader must order by class_index.
    names = SPORTS100_CLASSES[:4]
    class_dict = pd.DataFrame(
        {"class_index": range(4), "class": names, "height": 224, "width": 224, "scale by": 1}
    ).iloc[::-1]
    class_dict.to_csv(root / "class_dict.csv", index=False)

    older = read_sports100(root)

    assert older.class_names == names
    pd.testing.assert_frame_equal(rel_index(older), newest)
    assert older.notes == []


def test_sports100_csv_cells_are_stripped(tmp_path: Path) -> None:
    """Spaces around CSV cells (``0, train/x/001.jpg, x, train``) do not break matching."""
    root = synth("sports100", tmp_path / "s100")
    expected = rel_index(read_sports100(root))
    lines = (root / "sports.csv").read_text().splitlines()
    (root / "sports.csv").write_text("\n".join(line.replace(",", " , ") for line in lines) + "\n")

    index = read_sports100(root)

    assert index.notes == []
    assert index.class_names == SPORTS100_CLASSES[:4]
    pd.testing.assert_frame_equal(rel_index(index), expected)


@pytest.mark.parametrize("how", ["source=folders", "csv deleted"])
def test_sports100_without_csv(tmp_path: Path, how: str) -> None:
    root = synth("sports100", tmp_path / "s100")
    expected = rel_index(read_sports100(root))
    if how == "csv deleted":
        (root / "sports.csv").unlink()
        index = read_sports100(root)
    else:
        index = read_sports100(root, source="folders")
    assert index.class_names == SPORTS100_CLASSES[:4]
    pd.testing.assert_frame_equal(rel_index(index), expected)


@pytest.mark.parametrize("relabel_class_id", [True, False], ids=["id+label", "label-only"])
def test_sports100_csv_folder_mismatches_are_counted(
    tmp_path: Path, relabel_class_id: bool
) -> None:
    """Folders are the truth: mismatches are noted, never fatal, and never change class ids.

    ``label-only`` edits the ``labels`` cell but not ``class id``: one inconsistent row must
    not reorder the published class vocabulary.
    """
    root = synth("sports100", tmp_path / "s100")
    (root / "train/archery/003.jpg").unlink()  # listed, missing on disk
    shutil.copy(root / "train/archery/001.jpg", root / "train/archery/extra.jpg")  # unlisted
    table = pd.read_csv(root / "sports.csv")
    row = table["filepaths"] == "train/air hockey/001.jpg"
    table.loc[row, "labels"] = "archery"  # label disagrees with its folder
    if relabel_class_id:
        table.loc[row, "class id"] = 2
    table.to_csv(root / "sports.csv", index=False)

    index = read_sports100(root)

    assert note_count(index.notes, "listed file(s) missing on disk") == 1
    assert note_count(index.notes, "file(s) on disk not listed") == 1
    assert note_count(index.notes, "row(s) whose label disagrees") == 1
    assert index.class_names == SPORTS100_CLASSES[:4]
    assert set(index.frame["path"]) == images_on_disk(root)
    assert row_of(index, "train/air hockey/001.jpg")["label"] == 0  # folder wins
    assert row_of(index, "train/archery/extra.jpg")["label"] == 2
    assert index.class_counts("train") == [5, 5, 5, 5]


@pytest.mark.parametrize(
    "reader", [read_sports100, read_sports_balls, read_workout], ids=lambda r: r.__name__
)
def test_missing_root_names_path_and_generator(
    tmp_path: Path, reader: Callable[[Path], IndexTable]
) -> None:
    missing = tmp_path / "no such dataset"
    with pytest.raises(DatasetLayoutError) as error:
        reader(missing)
    message = str(error.value)
    assert str(missing) in message
    assert "python -m sports_rec.data.synthetic" in message


def test_sports100_source_csv_without_csv_is_a_clear_error(tmp_path: Path) -> None:
    root = synth("sports100", tmp_path / "s100")
    (root / "sports.csv").unlink()
    with pytest.raises(
        DatasetLayoutError, match=r"sports\.csv not found but data\.reader\.source=csv"
    ):
        read_sports100(root, source="csv")


def test_sports100_bad_csv_header_is_a_clear_error_and_its_hint_works(
    tmp_path: Path, make_cfg
) -> None:
    root = synth("sports100", tmp_path / "s100")
    (root / "sports.csv").write_text("path,label,split\ntrain/archery/001.jpg,archery,train\n")
    with pytest.raises(DatasetLayoutError) as error:
        read_sports100(root)
    message = str(error.value)
    assert str(root / "sports.csv") in message
    assert "class id,filepaths,labels,data set" in message
    hint = re.search(r"(data\.\S+=folders)", message).group(1)
    # The override the message suggests reads the dataset through the real config.
    cfg = make_cfg("data=sports100", f"data.root={root}", hint, tiny=False)
    index = instantiate(cfg.data.reader)(cfg.data.root)
    assert index.num_classes == 4 and set(index.frame["path"]) == images_on_disk(root)


def test_sports100_real_sample() -> None:
    root = shared_sample("sports100_sample")
    csv = pd.read_csv(root / "sports.csv")
    index = read_sports100(root)

    assert index.num_classes == 100
    assert index.class_names == SPORTS100_CLASSES
    assert len(index.frame) == 701
    assert index.notes == []
    relpaths = [Path(p).relative_to(root).as_posix() for p in index.frame["path"]]
    csv_id = dict(zip(csv["filepaths"], csv["class id"], strict=True))
    assert [csv_id[r] for r in relpaths] == index.frame["label"].tolist()
    csv_names = csv.drop_duplicates("class id").sort_values("class id")["labels"].tolist()
    assert index.class_names == csv_names
    expected_splits = csv["data set"].value_counts().to_dict()
    assert index.frame["split"].value_counts().to_dict() == expected_splits


@pytest.mark.parametrize("rel", ["test/ski jumping/2.jpg", "train/rowing/049.jpg"])
def test_sports100_real_grayscale_files_load_as_rgb(rel: str) -> None:
    path = shared_sample("sports100_sample") / rel
    with Image.open(path) as raw:
        assert raw.mode == "L"
    image = load_image(path)
    assert image.mode == "RGB"
    assert image.size == (224, 224)


# --------------------------------------------------------------------------- sports balls
def test_sports_balls_synthetic_layout(tmp_path: Path) -> None:
    root = synth("sports_balls", tmp_path / "balls", classes=15, per_class=4, eval_per_class=1)
    index = read_sports_balls(root)

    assert index.class_names == BALL_CLASSES
    assert index.notes == []
    assert set(index.frame["split"]) == {"train", "test"}
    assert index.class_counts("train") == [4] * 15
    assert index.class_counts("test") == [1] * 15
    assert set(index.frame["path"]) == images_on_disk(root)
    for rel in ("train/baseball/baseball_2.jpg", "train/volleyball/volleyball_2.jpg"):
        with Image.open(root / rel) as raw:
            assert raw.mode == "CMYK"
        row_of(index, rel)
        assert load_image(root / rel).mode == "RGB"
    spaced = "train/baseball/baseball_4 copy.jpg"
    assert row_of(index, spaced)["label"] == BALL_CLASSES.index("baseball")
    assert load_image(root / spaced).mode == "RGB"
    huge = root / "train/american_football/american_football_1.jpg"
    with Image.open(huge) as raw:
        assert min(raw.size) > 64
    assert min(load_image(huge, max_side=64).size) == 64


def test_sports_balls_reports_unpublished_class_list(tmp_path: Path) -> None:
    root = synth("sports_balls", tmp_path / "balls", classes=3, per_class=2, eval_per_class=1)
    checked = read_sports_balls(root)
    assert any("differ from the published 15" in note for note in checked.notes)
    assert read_sports_balls(root, check_classes=False).notes == []
    assert checked.num_classes == 3


def test_sports_balls_real_sample() -> None:
    root = shared_sample("sports_balls_sample")
    index = read_sports_balls(root)

    assert index.class_names == BALL_CLASSES
    assert index.notes == []
    assert set(index.frame["split"]) == {"train", "test"}
    assert len(index.frame) == 138
    assert set(index.frame["path"]) == images_on_disk(root)
    for rel in (
        "train/billiard_ball/billiard_ball_1257.jpg",
        "train/table_tennis_ball/table_tennis_ball_55.jpg",
        "train/billiard_ball/billiard_ball_1320 copy.jpg",
    ):
        assert row_of(index, rel)["split"] == "train"
        image = load_image(root / rel)
        assert image.mode == "RGB"
        with Image.open(root / rel) as raw:
            assert image.size == raw.size  # decoded whole, not a thumbnail


@pytest.mark.parametrize(
    "rel",
    [
        "train/billiard_ball/billiard_ball_1257.jpg",
        "train/table_tennis_ball/table_tennis_ball_55.jpg",
    ],
)
def test_sports_balls_real_cmyk_files(rel: str) -> None:
    path = shared_sample("sports_balls_sample") / rel
    with Image.open(path) as raw:
        assert raw.mode == "CMYK"
        size = raw.size
    image = load_image(path)
    assert (image.mode, image.size) == ("RGB", size)
    # Decoding matches Pillow's reference CMYK conversion (no inversion, no colour drift).
    with Image.open(path) as raw:
        reference = raw.convert("RGB")
    assert image.tobytes() == reference.tobytes()


def test_sports_balls_real_huge_images_stay_small() -> None:
    root = shared_sample("sports_balls_sample")
    huge = []
    for path in sorted(root.rglob("*.jpg")):
        with Image.open(path) as raw:
            if min(raw.size) >= 1000:
                huge.append((path, raw.size))
    assert len(huge) >= 3, "the sample should hold 2000-2560 px images"
    for path, (width, height) in huge:
        image = load_image(path, max_side=96)
        assert min(image.size) == 96
        assert image.width / image.height == pytest.approx(width / height, rel=0.05)


# --------------------------------------------------------------------------- workout
def test_workout_synthetic_layout(tmp_path: Path) -> None:
    root = synth("workout", tmp_path / "workout", classes=22, per_class=6)
    index = read_workout(root)

    assert index.class_names == WORKOUT_CLASSES
    assert index.frame["split"].isna().all()
    assert set(index.frame["path"]) == images_on_disk(root)
    # The generator writes 2 videos of 6 frames per class at this size.
    assert index.frame.groupby("label")["group"].nunique().tolist() == [2] * 22
    assert (index.frame.groupby("group").size() == 6).all()
    cfm = row_of(index, "chest fly machine/cfm_200003.jpg")
    assert cfm["group"] == "chest fly machine/cfm#2"
    raise_ = row_of(index, "lateral raises/lateral raise_100006.jpg")
    assert raise_["group"] == "lateral raises/lateral raise#1"
    assert any("44 videos" in note for note in index.notes)


@pytest.mark.parametrize(
    ("class_name", "stem", "group"),
    [
        ("plank", "plank_100001", "plank/plank#1"),
        ("plank", "plank_100017", "plank/plank#1"),
        ("plank", "plank_200001", "plank/plank#2"),
        ("plank", "plank_1200003", "plank/plank#12"),
        ("chest fly machine", "cfm_100001", "chest fly machine/cfm#1"),
        ("lateral raises", "lateral raise_300002", "lateral raises/lateral raise#3"),
        ("push up", "push up_100001", "push up/push up#1"),
        ("plank", "plank_00042", "plank/plank#0"),
        ("plank", "IMG", "plank/IMG"),
        ("plank", "plank (copy)", "plank/plank (copy)"),
    ],
)
def test_video_group(class_name: str, stem: str, group: str) -> None:
    assert video_group(class_name, stem) == group


def test_video_group_frame_digits() -> None:
    assert video_group("squat", "squat_1234", frame_digits=2) == "squat/squat#12"
    assert video_group("squat", "squat_1234", frame_digits=3) == "squat/squat#1"


def test_workout_frame_digits_changes_groups(tmp_path: Path) -> None:
    root = synth("workout", tmp_path / "workout", classes=2, per_class=6)
    default = read_workout(root)
    coarse = read_workout(root, frame_digits=6)  # every frame is "video 0"
    assert default.frame["group"].nunique() == 4
    assert coarse.frame["group"].nunique() == 2


def test_workout_refuses_split_folders(tmp_path: Path) -> None:
    root = synth("workout", tmp_path / "workout", classes=2, per_class=6)
    (root / "train").mkdir()
    shutil.move(str(root / "bench press"), str(root / "train" / "bench press"))
    with pytest.raises(DatasetLayoutError) as error:
        read_workout(root)
    message = str(error.value)
    assert str(root) in message
    assert "split folder" in message and "'train'" in message
    assert "directly under the root" in message
