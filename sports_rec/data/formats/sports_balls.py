"""Reader for Kaggle's "Sports balls - multiclass image classification" (samuelcortinhas).

Layout ``<root>/train/<class>/*.jpg`` and ``<root>/test/<class>/*.jpg``, 15 classes, no CSV
and no validation split (the datamodule carves a stratified, seeded one from train and
records it). Image oddities (CMYK, grayscale, 4500 px, names with spaces) are handled by
``sports_rec.data.io.image_io`` when the images are decoded.
"""

from __future__ import annotations

from pathlib import Path

from sports_rec.data.formats.image_folders import read_split_folders
from sports_rec.data.index import IndexTable

CLASS_NAMES: list[str] = [
    "american_football", "baseball", "basketball", "billiard_ball", "bowling_ball",
    "cricket_ball", "football", "golf_ball", "hockey_ball", "hockey_puck", "rugby_ball",
    "shuttlecock", "table_tennis_ball", "tennis_ball", "volleyball",
]  # fmt: skip


def read_sports_balls(root: str | Path, check_classes: bool = True) -> IndexTable:
    """Index the sports-balls layout; ``check_classes`` reports folders that differ from the
    published 15 (synthetic stand-ins with fewer classes set it to False)."""
    return read_split_folders(
        root, expected_classes=CLASS_NAMES if check_classes else None, name="sports_balls"
    )
