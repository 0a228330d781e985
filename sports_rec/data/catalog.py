"""The datasets sports_rec knows, in one list.

Each entry names its data config (``data=<name>``), its synthetic stand-in (the writer of
the same layout in :mod:`sports_rec.data.synthetic`, ``data=<synthetic config>``), the
reader its config uses, what its root holds, and where to get it: the Kaggle dataset
``python -m sports_rec.download`` fetches, or how its authors publish it. ``download``,
the study tables and the synthetic generator read it; a test checks that the data
configs and the synthetic writers agree with it, so a dataset is added here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import get_method

from sports_rec.errors import ConfigError


@dataclass(frozen=True)
class KaggleSource:
    """Where a dataset lives on Kaggle; ``split_folders`` layouts have their root where
    ``train/`` is, the others have their class folders directly under the root."""

    slug: str
    split_folders: bool

    @property
    def url(self) -> str:
        return f"https://www.kaggle.com/datasets/{self.slug}"


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset (see the module docstring)."""

    name: str  # data=<name>, and the synthetic writer's layout
    study: str  # the seed study that uses it
    reader: str  # the reader the data config names (reader._target_)
    synthetic_config: str  # data=<synthetic_config>: the generated stand-in
    expected: str  # what its root holds, for messages
    kaggle: KaggleSource | None = None  # fetched by python -m sports_rec.download
    source: str = ""  # how to get it otherwise

    def read(self, root: str | Path, **options: Any) -> Any:
        """Index ``root`` with this dataset's reader (an ``IndexTable``)."""
        reader: Callable[..., Any] = get_method(self.reader)
        return reader(root, **options)

    @property
    def how_to_get(self) -> str:
        if self.kaggle is not None:
            return (
                f"python -m sports_rec.download {self.name} --out DIR (from {self.kaggle.url}; "
                "it prints the data.root to pass)"
            )
        return self.source


DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in (
        DatasetEntry(
            "sports100",
            "000",
            "sports_rec.data.formats.sports100.read_sports100",
            "synthetic",
            "a folder holding train/<class>/ (and valid/, test/, sports.csv)",
            KaggleSource("gpiosenka/sports-classification", split_folders=True),
        ),
        DatasetEntry(
            "sports_balls",
            "001",
            "sports_rec.data.formats.sports_balls.read_sports_balls",
            "synthetic_balls",
            "a folder holding train/<class>/ and test/<class>/",
            KaggleSource(
                "samuelcortinhas/sports-balls-multiclass-image-classification",
                split_folders=True,
            ),
        ),
        DatasetEntry(
            "workout",
            "002",
            "sports_rec.data.formats.workout.read_workout",
            "synthetic_workout",
            "a folder holding the class folders of images (e.g. plank/, squat/), no train/",
            KaggleSource("hasyimabdillah/workoutexercises-images", split_folders=False),
        ),
        DatasetEntry(
            "infiniteform",
            "003",
            "sports_rec.data.formats.infiniteform.read_infiniteform",
            "synthetic_infiniteform",
            "a folder holding the InfiniteForm COCO JSON and the {image_id}.rgb.png images",
            source=(
                "InfiniteForm is published by its authors (Weitz et al. 2021, arXiv "
                "2110.01330) as six archives: extract them into one folder (the COCO JSON and "
                "the {image_id}.rgb.png images, any sub-folders)"
            ),
        ),
        DatasetEntry(
            "exercise_video",
            "004",
            "sports_rec.data.formats.exercise_video.read_exercise_video",
            "synthetic_exercise_video",
            "dataset/anon/<subject>.mp4, label/<subject>.csv and split.csv (DATASETS.md)",
            source=(
                "the study does not name its source; lay the videos out as DATASETS.md "
                "(exercise_video) describes: dataset/anon/<subject>.mp4, label/<subject>.csv, "
                "split.csv, optional dataset/mask/ and dataset/skeleton/yolo_pose_csv/"
            ),
        ),
    )
}


def dataset_entry(name: str) -> DatasetEntry:
    """The entry called ``name``; an unknown name lists the known ones."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; one of {sorted(DATASETS)}")
    return DATASETS[name]
