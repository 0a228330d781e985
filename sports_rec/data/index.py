"""The index table: the one hand-off between dataset-specific readers and everything else.

A format reader (``sports_rec.data.formats.*``) turns an on-disk layout into an
:class:`IndexTable`: one row per sample with at least

* ``path``  - absolute path of the sample file (str),
* ``label`` - integer class id, an index into ``class_names``,
* ``split`` - ``"train"``, ``"valid"``, ``"test"`` or ``None`` when the layout has no split,

plus optional modality or grouping columns (``group`` for a video id, ``keypoints``,
``subject``, ``start_frame`` ...). Splitting, balancing, datasets and the datamodule only
ever see this table, so supporting a new dataset means writing one reader.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sports_rec.errors import SportsRecError
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

SPLITS: tuple[str, ...] = ("train", "valid", "test")
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "label", "split")
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
)
#: Suffixes taken as videos where a command is given media (predict, pose).
VIDEO_SUFFIXES: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
)
#: Characters that make an ``input=`` a glob pattern.
GLOB_CHARS: frozenset[str] = frozenset("*?[")


def visible_files(folder: Path) -> list[Path]:
    """Files anywhere below ``folder`` (hidden files and folders skipped), sorted."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def input_files(path: Path) -> list[Path] | None:
    """The files an ``input=`` names when it is a folder (searched recursively) or a glob
    pattern (the folders it matches searched the same way), sorted; None when it is
    neither (a missing path). Shared by ``predict`` and ``pose``."""
    if path.is_dir():
        return visible_files(path)
    if not GLOB_CHARS & set(str(path)):
        return None
    found: set[Path] = set()
    for match in glob.glob(str(path), recursive=True):
        candidate = Path(match)
        found.update(visible_files(candidate) if candidate.is_dir() else [candidate])
    return sorted(p for p in found if p.is_file())


class DatasetLayoutError(SportsRecError, ValueError):
    """The data on disk does not have the layout a reader expects.

    The message always names the offending path and says what was expected, so the user
    can fix the folder (or generate a synthetic stand-in) without reading code.
    """


@dataclass
class IndexTable:
    """Samples of one dataset plus its ordered class vocabulary.

    ``notes`` collects human-readable findings of the reader (mismatch counts, skipped
    files) so the datamodule can print them and save them beside the run. ``skipped`` maps
    the files a reader left out to the reason (listed in ``skipped_files.csv``); ``unit``
    names what a row is (``image``, ``video`` ...), for messages and reports.
    """

    frame: pd.DataFrame
    class_names: list[str]
    root: str = ""
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unit: str = "sample"

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.frame.columns]
        if missing:
            raise ValueError(f"index table lacks columns {missing}")
        self.frame = self.frame.reset_index(drop=True)
        self.frame["label"] = self.frame["label"].astype(int)
        if len(self.frame) and (
            self.frame["label"].min() < 0 or self.frame["label"].max() >= len(self.class_names)
        ):
            raise ValueError("labels must index into class_names")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split].reset_index(drop=True)

    def has_split(self, split: str) -> bool:
        return bool((self.frame["split"] == split).any())

    def class_counts(self, split: str | None = "train") -> list[int]:
        """Samples per class (in class-id order) in ``split`` (or all rows for None)."""
        rows = self.frame if split is None else self.subset(split)
        counts = rows["label"].value_counts()
        return [int(counts.get(i, 0)) for i in range(self.num_classes)]

    def summary(self) -> str:
        parts = [f"{len(self.frame)} {self.unit}s, {self.num_classes} classes"]
        for split in SPLITS:
            n = int((self.frame["split"] == split).sum())
            if n:
                parts.append(f"{split}={n}")
        unsplit = int(self.frame["split"].isna().sum())
        if unsplit:
            parts.append(f"unsplit={unsplit}")
        return ", ".join(parts)


def require_dir(path: Path, what: str, expected_layout: str, layout: str = "<format>") -> Path:
    """Return ``path`` if it is a directory, else raise a layout error explaining the fix.

    ``layout`` names the synthetic generator format that writes a stand-in.
    """
    if not path.is_dir():
        raise DatasetLayoutError(
            f"{what} not found: '{path}' is not a directory.\n"
            f"Expected layout:\n{expected_layout}\n"
            "Point data.root at the dataset folder, or generate a synthetic stand-in with\n"
            f"  python -m sports_rec.data.synthetic {layout} --out <dir>"
        )
    return path


def is_image_file(path: Path) -> bool:
    """A visible file with an image extension (what every reader and ``predict`` index)."""
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted; hidden files and non-images skipped)."""
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def class_folders(folder: Path) -> list[Path]:
    """Sub-directories of ``folder`` that are class folders (hidden ones skipped), sorted."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_class_folders(
    split_dir: Path, class_names: Sequence[str], split: str | None
) -> tuple[list[dict], list[str]]:
    """Rows for every image in ``split_dir/<class>/``; returns (rows, notes).

    Classes named in ``class_names`` but absent on disk are reported (not fatal); folders
    that are not in ``class_names`` are reported and skipped.
    """
    label_of = {name: i for i, name in enumerate(class_names)}
    rows: list[dict] = []
    notes: list[str] = []
    present = {p.name: p for p in class_folders(split_dir)}
    unknown = sorted(set(present) - set(label_of))
    if unknown:
        notes.append(
            f"{split_dir}: {len(unknown)} folder(s) not in the class list were skipped: "
            + ", ".join(repr(u) for u in unknown[:5])
        )
    for name in class_names:
        folder = present.get(name)
        if folder is None:
            continue
        for image in list_images(folder):
            rows.append({"path": str(image), "label": label_of[name], "split": split})
    return rows, notes


def report_empty_classes(frame: pd.DataFrame, class_names: Sequence[str], where: str) -> list[str]:
    """Notes for classes without any sample in ``frame``."""
    present = set(frame["label"].unique()) if len(frame) else set()
    empty = [name for i, name in enumerate(class_names) if i not in present]
    if not empty:
        return []
    return [f"{where}: {len(empty)} class(es) have no images: " + ", ".join(map(repr, empty[:5]))]


def scan_split_folders(
    root: Path,
    class_names: Sequence[str],
    expected_layout: str,
    expected_splits: Sequence[str] = ("valid", "test"),
) -> tuple[pd.DataFrame, list[str]]:
    """Index every image under ``root/{train,valid,test}/<class>/``; returns (frame, notes).

    Absent ``expected_splits`` folders and folders outside ``class_names`` are noted, not
    fatal; no image at all is a layout error.
    """
    rows: list[dict] = []
    notes: list[str] = []
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            if split in expected_splits:
                notes.append(f"{root}: no '{split}/' folder")
            continue
        split_rows, split_notes = scan_class_folders(split_dir, class_names, split)
        rows.extend(split_rows)
        notes.extend(split_notes)
    frame = pd.DataFrame(rows, columns=["path", "label", "split"])
    if frame.empty:
        raise DatasetLayoutError(f"{root}: no images found.\nExpected layout:\n{expected_layout}")
    return frame, notes
