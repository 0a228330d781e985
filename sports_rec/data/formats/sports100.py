"""Reader for Kaggle's "100 Sports Image Classification" (gpiosenka).

Source of truth: **the folders**. Every image found under ``train|valid|test/<class>/`` is
used, its label and split taken from where it lies; nothing on disk is dropped. The CSV
(when present) fixes the published class vocabulary and ids, and is cross-checked: files it
lists that are missing, files on disk it does not list, and rows whose label disagrees with
the folder are counted and reported, never fatal. Both CSV versions are read:

* newest: ``sports.csv`` with header ``class id,filepaths,labels,data set``;
* older:  ``sports.csv`` with ``filepaths,labels,data set`` plus ``class_dict.csv``
  (``class_index,class,height,width,scale by``).

Anything else at the root (the stray ``EfficientNetB0-...h5`` model file) is ignored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sports_rec.data.index import (
    DatasetLayoutError,
    IndexTable,
    class_folders,
    report_empty_classes,
    require_dir,
    scan_split_folders,
)
from sports_rec.errors import ConfigError

EXPECTED_LAYOUT = """\
  <root>/sports.csv                      (optional; 'class id,filepaths,labels,data set')
  <root>/train/<class name>/001.jpg ...
  <root>/valid/<class name>/1.jpg ...    (optional; carved from train when absent)
  <root>/test/<class name>/1.jpg ..."""

# The 100 published class names, in class-id order (misspellings kept as published).
CLASS_NAMES: list[str] = [
    "air hockey", "ampute football", "archery", "arm wrestling", "axe throwing", "balance beam",
    "barell racing", "baseball", "basketball", "baton twirling", "bike polo", "billiards",
    "bmx", "bobsled", "bowling", "boxing", "bull riding", "bungee jumping", "canoe slamon",
    "cheerleading", "chuckwagon racing", "cricket", "croquet", "curling", "disc golf",
    "fencing", "field hockey", "figure skating men", "figure skating pairs",
    "figure skating women", "fly fishing", "football", "formula 1 racing", "frisbee", "gaga",
    "giant slalom", "golf", "hammer throw", "hang gliding", "harness racing", "high jump",
    "hockey", "horse jumping", "horse racing", "horseshoe pitching", "hurdles",
    "hydroplane racing", "ice climbing", "ice yachting", "jai alai", "javelin", "jousting",
    "judo", "lacrosse", "log rolling", "luge", "motorcycle racing", "mushing", "nascar racing",
    "olympic wrestling", "parallel bar", "pole climbing", "pole dancing", "pole vault", "polo",
    "pommel horse", "rings", "rock climbing", "roller derby", "rollerblade racing", "rowing",
    "rugby", "sailboat racing", "shot put", "shuffleboard", "sidecar racing", "ski jumping",
    "sky surfing", "skydiving", "snow boarding", "snowmobile racing", "speed skating",
    "steer wrestling", "sumo wrestling", "surfing", "swimming", "table tennis", "tennis",
    "track bicycle", "trapeze", "tug of war", "ultimate", "uneven bars", "volleyball",
    "water cycling", "water polo", "weightlifting", "wheelchair basketball",
    "wheelchair racing", "wingsuit flying",
]  # fmt: skip

_SPLIT_ALIASES = {
    "train": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "test": "test",
}


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    for col in frame.columns:
        if pd.api.types.is_string_dtype(frame[col]):  # object (pandas 2) or str (pandas 3)
            frame[col] = frame[col].astype(str).str.strip()
    return frame


def read_sports_csv(root: Path) -> tuple[pd.DataFrame, list[str]] | None:
    """Parse ``sports.csv`` (either version); returns (rows, class names by id) or None.

    Rows have columns ``relpath``, ``label_name``, ``split`` (None for an unknown ``data set``
    value) and ``split_name`` (the value as written).
    """
    csv_path = root / "sports.csv"
    if not csv_path.is_file():
        return None
    table = _normalise_columns(pd.read_csv(csv_path, dtype=str, keep_default_na=False))
    needed = {"filepaths", "labels", "data set"}
    if not needed <= set(table.columns):
        raise DatasetLayoutError(
            f"{csv_path}: expected columns 'class id,filepaths,labels,data set' (newest) or "
            f"'filepaths,labels,data set' (older), found {list(table.columns)}.\n"
            "Fix or delete the CSV (data.reader.source=folders reads the folders alone)."
        )
    rows = pd.DataFrame(
        {
            "relpath": table["filepaths"].str.replace("\\", "/", regex=False),
            "label_name": table["labels"],
            "split": table["data set"].str.lower().map(_SPLIT_ALIASES),
            "split_name": table["data set"],
        }
    )
    if "class id" in table.columns:
        ids = table.assign(cid=pd.to_numeric(table["class id"], errors="coerce"))
        ids = ids.dropna(subset=["cid"])
        # Majority label per id: one row whose label disagrees must not reorder the classes.
        majority = ids.groupby("cid")["labels"].agg(lambda s: s.value_counts().index[0])
        names = [str(n) for n in majority.sort_index().drop_duplicates()]
    else:
        names = _read_class_dict(root) or sorted(rows["label_name"].unique())
    return rows, names


def _read_class_dict(root: Path) -> list[str] | None:
    path = root / "class_dict.csv"
    if not path.is_file():
        return None
    table = _normalise_columns(pd.read_csv(path, dtype=str, keep_default_na=False))
    if not {"class_index", "class"} <= set(table.columns):
        raise DatasetLayoutError(
            f"{path}: expected columns 'class_index,class,...', found {list(table.columns)}"
        )
    table = table.assign(idx=pd.to_numeric(table["class_index"], errors="coerce")).dropna()
    return [str(n) for n in table.sort_values("idx")["class"]]


def _examples(items: list[str], k: int = 3) -> str:
    return ", ".join(repr(i) for i in items[:k])


def read_sports100(root: str | Path, source: str = "auto") -> IndexTable:
    """Index the sports100 layout at ``root``.

    Args:
        root: dataset folder (the one holding ``train/``).
        source: ``auto`` (use the CSV when present), ``csv`` (require it) or ``folders``
            (ignore any CSV; classes are the sorted train folder names).
    """
    root = require_dir(Path(root).expanduser(), "sports100 root", EXPECTED_LAYOUT, "sports100")
    train_dir = require_dir(root / "train", "sports100 train folder", EXPECTED_LAYOUT, "sports100")
    if source not in {"auto", "csv", "folders"}:
        raise ConfigError(f"data.reader.source must be auto, csv or folders, got {source!r}")

    parsed = None if source == "folders" else read_sports_csv(root)
    if source == "csv" and parsed is None:
        raise DatasetLayoutError(
            f"{root / 'sports.csv'} not found but data.reader.source=csv.\n"
            "Use data.reader.source=auto or data.reader.source=folders to read the folders alone."
        )
    notes: list[str] = []
    folder_classes = [p.name for p in class_folders(train_dir)]
    if parsed is None:
        class_names = folder_classes
    else:
        _, csv_classes = parsed
        extra = sorted(set(folder_classes) - set(csv_classes))
        class_names = csv_classes
        if extra:
            class_names = sorted(set(csv_classes) | set(extra))
            notes.append(
                f"{root}: {len(extra)} train folder(s) not in sports.csv were added as "
                f"classes (ids re-sorted): {_examples(extra)}"
            )
    if not class_names:
        raise DatasetLayoutError(f"{train_dir}: no class folders found.\n{EXPECTED_LAYOUT}")

    frame, scan_notes = scan_split_folders(root, class_names, EXPECTED_LAYOUT)
    notes.extend(scan_notes)

    if parsed is not None:
        notes.extend(_cross_check(root, frame, parsed[0]))
    notes.extend(
        report_empty_classes(frame[frame["split"] == "train"], class_names, str(train_dir))
    )
    return IndexTable(frame=frame, class_names=list(class_names), root=str(root), notes=notes)


def _cross_check(root: Path, frame: pd.DataFrame, csv_rows: pd.DataFrame) -> list[str]:
    """Compare CSV rows with the files on disk; return notes on every disagreement."""
    on_disk = {Path(p).relative_to(root).as_posix(): p for p in frame["path"]}
    listed = dict(zip(csv_rows["relpath"], csv_rows["label_name"], strict=True))
    missing = sorted(set(listed) - set(on_disk))
    unlisted = sorted(set(on_disk) - set(listed))
    relabelled = sorted(
        rel for rel, name in listed.items() if rel in on_disk and rel.split("/")[1:2] != [name]
    )
    unknown_split = csv_rows[csv_rows["split"].isna()]
    duplicated = csv_rows[csv_rows["relpath"].duplicated(keep="first")]
    notes = []
    if len(unknown_split):
        names = sorted(set(unknown_split["split_name"]))
        notes.append(
            f"{root / 'sports.csv'}: {len(unknown_split)} row(s) with an unknown 'data set' "
            f"value {_examples(names)} (known: train, valid, test); the folders decide the split"
        )
    if len(duplicated):
        notes.append(
            f"{root / 'sports.csv'}: {len(duplicated)} duplicated row(s) (same file listed "
            f"again; each file is used once), e.g. {_examples(list(duplicated['relpath']))}"
        )
    if missing:
        notes.append(
            f"{root / 'sports.csv'}: {len(missing)} listed file(s) missing on disk (skipped), "
            f"e.g. {_examples(missing)}"
        )
    if unlisted:
        notes.append(
            f"{root / 'sports.csv'}: {len(unlisted)} file(s) on disk not listed (kept, "
            f"labelled by folder), e.g. {_examples(unlisted)}"
        )
    if relabelled:
        notes.append(
            f"{root / 'sports.csv'}: {len(relabelled)} row(s) whose label disagrees with their "
            f"folder (folder wins), e.g. {_examples(relabelled)}"
        )
    return notes
