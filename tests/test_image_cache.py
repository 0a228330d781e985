"""``data.dataset.cache=true``: decoded images come back identical from the cache, every file is
decoded once, an edited file gets a new entry, and an unusable cache folder only warns."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sports_rec.data.io.image_cache as image_cache
from sports_rec.data.datasets import ImageDataset
from sports_rec.data.io.image_cache import ImageCache
from sports_rec.data.io.image_io import DATASET_SLACK, load_image
from sports_rec.data.transforms import image_transforms
from sports_rec.errors import ConfigError


def photo(path: Path, size: tuple[int, int] = (640, 480), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_cached_pixels_equal_a_direct_decode_and_files_are_decoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = photo(tmp_path / "a.jpg")
    cache = ImageCache(tmp_path / "cache", "RGB", max_side=128)
    direct = load_image(source, "RGB", max_side=128, slack=DATASET_SLACK)  # as the dataset
    first = cache.load(source)
    assert np.array_equal(np.asarray(first), np.asarray(direct)) and first.size == direct.size
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(image_cache, "load_image", no_decoding)
    again = cache.load(source)
    assert np.array_equal(np.asarray(again), np.asarray(direct)) and again.mode == "RGB"
    gray = ImageCache(tmp_path / "cache", "L", max_side=128)
    monkeypatch.undo()
    assert gray.load(source).mode == "L"  # another mode: its own entry
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2


def test_an_edited_image_gets_a_new_entry(tmp_path: Path) -> None:
    source = photo(tmp_path / "a.png", seed=1)
    cache = ImageCache(tmp_path / "cache", "RGB")
    before = np.asarray(cache.load(source))
    photo(source, seed=2)
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    after = np.asarray(cache.load(source))
    assert not np.array_equal(before, after)
    assert np.array_equal(after, np.asarray(load_image(source, "RGB")))
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2


def test_a_damaged_entry_is_decoded_again(tmp_path: Path) -> None:
    source = photo(tmp_path / "a.png")
    cache = ImageCache(tmp_path / "cache", "RGB")
    cache.load(source)
    cache.entry(source).write_bytes(b"not an array")
    assert np.array_equal(np.asarray(cache.load(source)), np.asarray(load_image(source, "RGB")))


def test_an_unwritable_cache_warns_and_decodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    cache = ImageCache(blocked / "images", "RGB")
    source = photo(tmp_path / "a.png")
    with caplog.at_level(logging.WARNING):
        image = cache.load(source)
        cache.load(source)
    assert np.array_equal(np.asarray(image), np.asarray(load_image(source, "RGB")))
    assert caplog.text.count("Cannot write the image cache") == 1 and not cache.writable


def test_the_dataset_gives_the_same_tensors_with_and_without_the_cache(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {"path": [str(photo(tmp_path / f"{i}.jpg", seed=i)) for i in range(3)], "label": [0, 1, 0]}
    )
    transform = image_transforms(train=False, size=64)
    plain = ImageDataset(frame, transform, image_size=64)
    cached = ImageDataset(
        frame, transform, image_size=64, cache=True, cache_dir=str(tmp_path / "cache")
    )
    for i in range(3):
        for _ in range(2):  # a miss, then a hit
            assert torch.equal(plain[i]["image"], cached[i]["image"])
    with pytest.raises(
        ConfigError, match=r"data\.dataset\.cache=true needs data\.dataset\.cache_dir"
    ):
        ImageDataset(frame, transform, cache=True)


def test_a_training_run_fills_the_cache_once(make_cfg, tmp_path: Path) -> None:
    from sports_rec.train import train

    cache = tmp_path / "image_cache"
    cfg = make_cfg("data.dataset.cache=true", f"data.dataset.cache_dir={cache}", "debug=fdr")
    train(cfg)
    entries = {p.name: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert entries  # the images the run read
    train(
        make_cfg(
            "data.dataset.cache=true", f"data.dataset.cache_dir={cache}", "debug=fdr", run="again"
        )
    )
    assert {p.name: p.stat().st_mtime_ns for p in cache.rglob("*.npy")} == entries  # all hits
