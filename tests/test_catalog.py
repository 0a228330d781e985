"""One list of datasets (sports_rec/data/catalog.py): the data configs, the synthetic
writers, ``download`` and the study tables all agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sports_rec.data.catalog import DATASETS, dataset_entry
from sports_rec.data.synthetic.layouts import WRITERS
from sports_rec.download import DATASETS as DOWNLOADABLE
from sports_rec.errors import ConfigError
from sports_rec.tables import STUDIES
from tests.conftest import CONF_DIR, compose_config


def test_every_data_config_is_a_catalog_dataset_or_its_stand_in() -> None:
    named = {e.name for e in DATASETS.values()} | {e.synthetic_config for e in DATASETS.values()}
    assert {p.stem for p in (CONF_DIR / "data").glob("*.yaml")} == named


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_configs_read_what_the_catalog_says(name: str, tmp_path: Path) -> None:
    entry = DATASETS[name]
    real = compose_config("train", [f"data={entry.name}"], tmp_path, tmp_path).data
    stand_in = compose_config("train", [f"data={entry.synthetic_config}"], tmp_path, tmp_path).data
    assert real.reader._target_ == stand_in.reader._target_ == entry.reader
    assert stand_in.synthetic.format == entry.name and entry.name in WRITERS


def test_writers_download_and_tables_use_the_catalog() -> None:
    assert set(WRITERS) == set(DATASETS)
    assert set(DOWNLOADABLE) == {n for n, e in DATASETS.items() if e.kaggle is not None}
    assert {study.dataset for study in STUDIES.values()} == set(DATASETS)
    assert {study.seed for study in STUDIES.values()} == {e.study for e in DATASETS.values()}
    with pytest.raises(ConfigError, match="unknown dataset 'nope'; one of"):
        dataset_entry("nope")
