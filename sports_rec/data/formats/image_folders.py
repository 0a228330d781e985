"""Reader for the plain ``<root>/<split>/<class>/*.jpg`` layout (e.g. Kaggle sports balls).

Classes are the sorted folder names of the first split found; any split folder may be absent
except ``train``. Missing ``valid`` is normal (the datamodule carves one from train).
"""

from __future__ import annotations

from pathlib import Path

from sports_rec.data.index import (
    DatasetLayoutError,
    IndexTable,
    class_folders,
    report_empty_classes,
    require_dir,
    scan_split_folders,
)

EXPECTED_LAYOUT = """\
  <root>/train/<class>/*.jpg
  <root>/valid/<class>/*.jpg   (optional; carved from train when absent)
  <root>/test/<class>/*.jpg"""


def read_split_folders(
    root: str | Path, expected_classes: list[str] | None = None, name: str = "dataset"
) -> IndexTable:
    """Index ``root/{train,valid,test}/<class>/`` images.

    Args:
        root: dataset folder.
        expected_classes: when given, the exact class list the layout must have; a
            missing or extra folder is reported so a wrong ``data.root`` is caught early.
        name: dataset name used in messages.
    """
    root = require_dir(Path(root).expanduser(), f"{name} root", EXPECTED_LAYOUT, name)
    train_dir = require_dir(root / "train", f"{name} train folder", EXPECTED_LAYOUT, name)
    class_names = [p.name for p in class_folders(train_dir)]
    if not class_names:
        raise DatasetLayoutError(f"{train_dir}: no class folders found.\n{EXPECTED_LAYOUT}")
    notes: list[str] = []
    if expected_classes is not None and sorted(expected_classes) != class_names:
        missing = sorted(set(expected_classes) - set(class_names))
        extra = sorted(set(class_names) - set(expected_classes))
        notes.append(
            f"{train_dir}: class folders differ from the published {len(expected_classes)} "
            f"(missing {missing[:5]}, extra {extra[:5]})"
        )
    # A missing valid/ is normal here (the datamodule carves one); a missing test/ is not.
    frame, scan_notes = scan_split_folders(root, class_names, EXPECTED_LAYOUT, ("test",))
    notes.extend(scan_notes)
    notes.extend(
        report_empty_classes(frame[frame["split"] == "train"], class_names, str(train_dir))
    )
    return IndexTable(frame=frame, class_names=class_names, root=str(root), notes=notes)
