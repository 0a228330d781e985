"""``data.dataset.cache=auto|true|false``: the decoded-image store the start-up check writes.

The store gives exactly what decoding gives, never serves an edited file's old pixels, is
built once when two processes want it at once, declines a too-small disk budget with one
warning, rebuilds (never trusts) a damaged store, and ``auto`` builds it for large photos
but not for tiny images. Files are small generated JPEGs and PNGs; decoding caps are small.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import sports_rec.data.io.image_store as image_store
from sports_rec.data.contract import check_files
from sports_rec.data.datasets import ImageDataset
from sports_rec.data.io.image_io import DATASET_SLACK, load_image
from sports_rec.data.io.image_store import INDEX, open_store, prepare_store
from sports_rec.data.transforms import image_transforms
from sports_rec.errors import ConfigError

CAP = 48


def photo(path: Path, size: tuple[int, int] = (160, 120), seed: int = 0, **save) -> Path:
    """A smooth, photo-like image (cheap to encode and decode) of ``size`` (w, h)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8))
    small.resize(size, Image.Resampling.BILINEAR).save(path, **save)
    return path


def photos(folder: Path, count: int, size: tuple[int, int] = (160, 120)) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    return [str(photo(folder / f"{i:02d}.jpg", size, seed=i)) for i in range(count)]


def decoded(path: str | Path, mode: str = "RGB", cap: int = CAP) -> np.ndarray:
    """What the dataset decodes without the store."""
    return np.asarray(load_image(path, mode=mode, max_side=cap, slack=DATASET_SLACK))


def all_decoded(images: list, paths: list[str], mode: str = "RGB", cap: int = CAP) -> bool:
    """Whether ``images`` are what decoding ``paths`` gives."""
    pairs = zip(images, paths, strict=True)
    return all(np.array_equal(np.asarray(i), decoded(path, mode, cap)) for i, path in pairs)


def stored(paths: list[str], cache: Path, mode: str = "RGB", cap: int = CAP) -> list:
    reader = open_store(paths, mode, cap, cache)
    assert reader is not None
    return [reader.image(i) for i in range(len(paths))]


def data_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/data-*.bin"))


def edit(path: Path, seed: int) -> None:
    """Rewrite ``path`` with other pixels and a later mtime (a coarse clock cannot hide it)."""
    before = path.stat().st_mtime_ns
    photo(path, Image.open(path).size, seed=seed)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def no_decoding(*args, **kwargs):
    raise AssertionError("decoded although the store holds it")


def test_stored_pixels_equal_a_direct_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RGB and grayscale, odd sizes, JPEG draft reduction, PNG with alpha and palette,
    CMYK: the store returns what load_image returns; a second start decodes nothing."""
    folder = tmp_path / "images"
    folder.mkdir()
    files = [
        photo(folder / "odd.jpg", (333, 517)),
        photo(folder / "reduced.jpg", (1201, 901), seed=1),  # draft 1/8, then resized
        photo(folder / "tiny.png", (7, 3), seed=2),
        photo(folder / "wide.png", (301, 41), seed=3),
    ]
    Image.open(files[3]).convert("RGBA").save(folder / "alpha.png")
    Image.open(files[3]).convert("P").save(folder / "palette.png")
    Image.open(files[0]).convert("CMYK").save(folder / "cmyk.jpg")
    paths = sorted(str(p) for p in folder.iterdir())
    cache = tmp_path / "cache"
    for mode in ("RGB", "L"):
        assert prepare_store(paths, mode, CAP, "true", cache) == {}
        for path, image in zip(paths, stored(paths, cache, mode), strict=True):
            assert image.mode == mode and np.array_equal(np.asarray(image), decoded(path, mode))
    assert len(data_files(cache)) == 2  # one store per colour mode
    monkeypatch.setattr(image_store, "load_image", no_decoding)
    assert prepare_store(paths, "RGB", CAP, "auto", cache) == {}  # verified, not decoded
    assert len(stored(paths, cache)) == len(paths)


def test_the_dataset_gives_the_same_tensors_with_and_without_the_store(tmp_path: Path) -> None:
    paths = photos(tmp_path / "images", 3, (400, 300))
    frame = pd.DataFrame({"path": paths, "label": [0, 1, 0]})
    cache = str(tmp_path / "cache")
    options = {"image_size": 32, "cache": True, "cache_dir": cache}
    assert ImageDataset.check_files(frame) == {}  # no options (predict): no store
    assert not data_files(Path(cache))
    # as the DataModule runs it: the dataset node's options reach the check
    assert check_files(functools.partial(ImageDataset, **options), frame) == {}
    transform = image_transforms(train=False, size=32)
    plain = ImageDataset(frame, transform, image_size=32)
    cached = ImageDataset(frame, transform, **options)
    assert cached.store is not None and cached.store.stored == 3
    for i in range(3):
        assert torch.equal(plain[i]["image"], cached[i]["image"])
    with pytest.raises(ConfigError, match=r"cache=true needs data\.dataset\.cache_dir"):
        ImageDataset(frame, transform, cache=True)
    with pytest.raises(ConfigError, match=r"cache=true needs data\.dataset\.cache_dir"):
        ImageDataset.check_files(frame, cache=True)
    with pytest.raises(ConfigError, match="auto, true or false"):
        ImageDataset.check_files(frame, cache="sometimes", cache_dir=cache)


def test_a_store_survives_pickling_and_forked_workers(tmp_path: Path) -> None:
    paths = photos(tmp_path / "images", 4)
    prepare_store(paths, "RGB", CAP, "true", tmp_path / "cache")
    reader = open_store(paths, "RGB", CAP, tmp_path / "cache")
    assert np.array_equal(np.asarray(reader.image(0)), decoded(paths[0]))  # maps the file
    copy = pickle.loads(pickle.dumps(reader))  # a spawned worker: no open map travels
    assert copy._map is None and np.array_equal(np.asarray(copy.image(3)), decoded(paths[3]))
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:  # a forked DataLoader worker opens its own map
        pixels = pool.apply(_read_all, (reader,))
    assert all_decoded(pixels, paths)


def _read_all(reader) -> list[np.ndarray]:
    assert reader._pid != os.getpid()
    return [np.asarray(reader.image(i)) for i in range(len(reader.abspaths))]


def test_an_edited_file_is_decoded_not_served_stale_and_the_store_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = photos(tmp_path / "images", 4)
    cache = tmp_path / "cache"
    frame = pd.DataFrame({"path": paths, "label": 0})
    prepare_store(paths, "RGB", CAP, "true", cache)
    dataset = ImageDataset(frame, image_size=CAP // 2, cache=True, cache_dir=str(cache))
    first = data_files(cache)
    edit(Path(paths[1]), seed=99)
    assert dataset.store.image(1) is None  # changed since: the dataset decodes it
    assert np.array_equal(np.asarray(dataset[1]["image"]), decoded(paths[1]))
    calls = []
    original = image_store.load_image
    monkeypatch.setattr(
        image_store, "load_image", lambda path, **kw: calls.append(path) or original(path, **kw)
    )
    prepare_store(paths, "RGB", CAP, "auto", cache)  # the next start rebuilds it
    assert calls == [os.path.abspath(paths[1])]  # the others are copied, not decoded
    assert data_files(cache) != first and len(data_files(cache)) == 1
    assert all_decoded(stored(paths, cache), paths)


def _build_in_a_process(paths: list[str], cache: str, barrier, results) -> None:
    barrier.wait()
    failures = prepare_store(paths, "RGB", CAP, "true", cache)
    reader = open_store(paths, "RGB", CAP, cache)
    pixels = [np.asarray(reader.image(i)) for i in range(len(paths))]
    results.put((failures, reader.data_path.name, [p.tobytes() for p in pixels]))


def test_two_processes_building_the_same_store_at_once_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = photos(tmp_path / "images", 12, (640, 480))
    cache = str(tmp_path / "cache")
    context = multiprocessing.get_context("fork")
    barrier, results, writes = context.Barrier(2), context.Queue(), context.Value("i", 0)
    write = image_store._Preparation._write

    def counted(self, *args):
        with writes.get_lock():
            writes.value += 1
        return write(self, *args)

    monkeypatch.setattr(image_store._Preparation, "_write", counted)  # in both children
    workers = [
        context.Process(target=_build_in_a_process, args=(paths, cache, barrier, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    (failures_a, data_a, pixels_a), (failures_b, data_b, pixels_b) = outcomes
    assert writes.value == 1  # one writer; the other waited and read its store
    assert failures_a == failures_b == {} and data_a == data_b
    assert pixels_a == pixels_b == [decoded(p).tobytes() for p in paths]
    assert [p.name for p in data_files(Path(cache))] == [data_a]
    assert not list(Path(cache).glob("*/.data*"))  # no staging file left


def test_a_too_small_disk_budget_decodes_directly_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = photos(tmp_path / "images", 6, (900, 600))
    (tmp_path / "images" / "bad.jpg").write_bytes(b"not a JPEG")
    paths.append(str(tmp_path / "images" / "bad.jpg"))
    cache = tmp_path / "cache"
    frame = pd.DataFrame({"path": paths, "label": 0})
    options = {"image_size": CAP // 2, "cache": "auto", "cache_dir": str(cache)}
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        failures = ImageDataset.check_files(frame, **options, cache_max_gb=1e-6)
        dataset = ImageDataset(frame.iloc[:6], **options)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "over budget" in warnings[0].getMessage()
    assert list(failures) == [paths[-1]]  # the check still checks
    assert dataset.store is None and not data_files(cache)
    assert np.array_equal(np.asarray(dataset[0]["image"]), decoded(paths[0]))
    # true ignores cache_max_gb but never takes more than its share of the free disk
    caplog.clear()
    monkeypatch.setattr(image_store, "DISK_FRACTION", 1e-15)
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        prepare_store(paths, "RGB", CAP, "true", cache, max_gb=1e-6)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert not data_files(cache)


def test_a_store_outgrowing_its_estimate_stops_writing_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample only estimates: the budget is enforced while writing."""
    paths = photos(tmp_path / "images", 5, (240, 180))
    paths[0] = str(photo(tmp_path / "images" / "00.png", (8, 8)))  # the one sampled
    monkeypatch.setattr(image_store, "SAMPLE_SIZE", 1)
    budget = (20e3, "a 20 kB budget")  # the sample (192 bytes) says 1 kB; the others are 32 kB
    monkeypatch.setattr(image_store._Preparation, "_budget", lambda self: budget)
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        failures = prepare_store(paths, "RGB", CAP, "true", tmp_path / "cache")
    assert failures == {} and open_store(paths, "RGB", CAP, tmp_path / "cache") is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "outgrew its budget" in caplog.records[0].getMessage()
    assert not list((tmp_path / "cache").glob("*/*.bin"))  # nothing half-written left


def test_a_full_disk_while_writing_decodes_directly_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins
    import errno
    import io

    class Full(io.BytesIO):
        def write(self, data) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_disk(path, mode="r", *args, **kwargs):
        return Full() if mode == "wb" else builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(image_store, "open", full_disk, raising=False)
    paths = photos(tmp_path / "images", 3)
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        assert prepare_store(paths, "RGB", CAP, "true", tmp_path / "cache") == {}
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "writing it failed (No space left on device)" in caplog.text
    assert open_store(paths, "RGB", CAP, tmp_path / "cache") is None
    assert not list((tmp_path / "cache").glob("*/*.bin")) and not data_files(tmp_path / "cache")


def corrupt_truncated(folder: Path) -> None:
    data = next(folder.glob("data-*.bin"))
    data.write_bytes(data.read_bytes()[:-100])


def corrupt_index_body(folder: Path) -> None:
    index = folder / INDEX
    text = index.read_bytes()
    index.write_bytes(text[:-20] + bytes([text[-20] ^ 0x20]) + text[-19:])


def corrupt_index_header(folder: Path) -> None:
    (folder / INDEX).write_bytes(b"{garbage\n[]")


@pytest.mark.parametrize(
    "corrupt",
    [corrupt_truncated, corrupt_index_body, corrupt_index_header],
    ids=lambda f: f.__name__,
)
def test_a_damaged_store_is_rebuilt_not_trusted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, corrupt
) -> None:
    paths = photos(tmp_path / "images", 3)
    cache = tmp_path / "cache"
    prepare_store(paths, "RGB", CAP, "true", cache)
    folder = data_files(cache)[0].parent
    corrupt(folder)
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        prepare_store(paths, "RGB", CAP, "auto", cache)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "not trusting the previous store" in caplog.text
    assert len(data_files(cache)) == 1
    assert all_decoded(stored(paths, cache), paths)


def test_a_store_from_another_pillow_is_rebuilt_in_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = photos(tmp_path / "images", 2)
    cache = tmp_path / "cache"
    monkeypatch.setattr(image_store, "_decoder", lambda: "load_image slack=2, Pillow 1.0")
    prepare_store(paths, "RGB", CAP, "true", cache)
    monkeypatch.undo()
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        prepare_store(paths, "RGB", CAP, "auto", cache)
    assert [r.levelno for r in caplog.records] == [logging.INFO]  # outdated, not damaged
    assert "rebuilt in full: it was written with decoder 'load_image slack=2, Pillow 1.0'" in (
        caplog.text
    )
    assert all_decoded(stored(paths, cache), paths) and len(data_files(cache)) == 1


def test_a_damaged_entry_is_decoded_and_its_store_rebuilt_at_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = photos(tmp_path / "images", 3)
    cache = tmp_path / "cache"
    frame = pd.DataFrame({"path": paths, "label": 0})
    prepare_store(paths, "RGB", CAP, "true", cache)
    dataset = ImageDataset(frame, image_size=CAP // 2, cache=True, cache_dir=str(cache))
    data = data_files(cache)[0]
    flipped = bytearray(data.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF  # same size: only the entry's checksum can tell
    data.write_bytes(bytes(flipped))
    with caplog.at_level(logging.WARNING):
        images = [np.asarray(dataset[i]["image"]) for i in range(3)]
    assert all_decoded(images, paths)
    assert dataset.store.broken and caplog.text.count("is damaged") == 1
    assert not (data.parent / INDEX).exists()  # so the next start rebuilds it
    prepare_store(paths, "RGB", CAP, "auto", cache)
    assert data_files(cache) != [data]


def test_auto_builds_a_store_for_large_photos_not_for_tiny_images(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    large = photos(tmp_path / "large", 4, (1600, 1200))
    (tmp_path / "tiny").mkdir()
    tiny = [str(photo(tmp_path / "tiny" / f"{i}.png", (24, 24), seed=i)) for i in range(6)]
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        prepare_store(large, "RGB", CAP, "auto", cache)
        prepare_store(tiny, "RGB", CAP, "auto", cache)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("image store: on - sources median 1,200 px vs cap 48 px")
    assert lines[1].startswith("image store: off - it would not pay (sources median 24 px")
    assert open_store(large, "RGB", CAP, cache) is not None
    assert open_store(tiny, "RGB", CAP, cache) is None and len(data_files(cache)) == 1


def test_false_writes_nothing_and_an_unchecked_run_decodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = photos(tmp_path / "images", 2, (900, 600))
    cache = tmp_path / "cache"
    frame = pd.DataFrame({"path": paths, "label": 0})
    assert prepare_store(paths, "RGB", CAP, False, cache) == {} and not cache.exists()
    prepare_store(paths, "RGB", CAP, "true", cache)
    checked = ImageDataset(frame, image_size=CAP // 2, cache="auto", cache_dir=str(cache))
    assert checked.store is not None  # this process's check verified the store
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        for _ in range(2):
            dataset = ImageDataset(
                frame, image_size=CAP // 2, cache="auto", cache_dir=str(cache), checked=False
            )
    assert dataset.store is None and caplog.text.count("data.check_images=false") == 1


def test_an_unwritable_cache_folder_warns_once_and_decodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    paths = photos(tmp_path / "images", 2, (900, 600))
    with caplog.at_level(logging.INFO, logger="sports_rec"):
        assert prepare_store(paths, "RGB", CAP, "true", blocked / "images") == {}
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "cannot use" in caplog.text
    assert open_store(paths, "RGB", CAP, blocked / "images") is None


def test_a_check_that_takes_no_options_still_runs() -> None:
    """Dataset classes written before check_files got the node's options keep working."""

    class Old:
        @classmethod
        def check_files(cls, frame):
            return {"x": "old"}

        labels, __len__, __getitem__ = [], None, None

    class Named(Old):
        @classmethod
        def check_files(cls, frame, width=0):
            return {"x": str(width)}

    frame = pd.DataFrame({"path": ["x"]})
    assert check_files(functools.partial(Old, width=3, other=1), frame) == {"x": "old"}
    assert check_files(functools.partial(Named, width=3, other=1), frame) == {"x": "3"}


def test_the_datamodule_check_builds_the_store_its_datasets_read_once(make_cfg, tmp_path) -> None:
    """The real config and DataModule: data.check_images's pass writes the store with the
    dataset node's options; every split reads it; a second start finds it current."""
    from sports_rec.builders import build_datamodule

    cache = tmp_path / "image_cache"
    overrides = ("data.dataset.cache=true", f"data.dataset.cache_dir={cache}")
    datamodule = build_datamodule(make_cfg(*overrides).data, None)
    datamodule.setup()
    (first,) = data_files(cache)
    built = first.stat().st_mtime_ns
    for dataset in datamodule.datasets.values():
        assert dataset.store is not None and dataset.store.stored == len(dataset)
        cap = dataset.max_side
        assert all_decoded([dataset[i]["image"] for i in range(2)], dataset.paths[:2], "RGB", cap)
    again = build_datamodule(make_cfg(*overrides, run="again").data, None)
    again.setup()
    assert again.datasets["train"].store.stored == len(again.datasets["train"])
    assert data_files(cache) == [first] and first.stat().st_mtime_ns == built  # reused


def test_auto_is_the_image_default_and_the_issue_names_point_to_the_dataset_node() -> None:
    from omegaconf import OmegaConf

    from sports_rec import CONF_DIR
    from sports_rec.utils.config_moves import moved_key_message

    node = OmegaConf.load(Path(CONF_DIR) / "base" / "data_image.yaml").dataset
    assert node.cache == "auto" and node.cache_max_gb == image_store.DEFAULT_MAX_GB
    assert "data.dataset.cache_max_gb=5" in moved_key_message(["data.cache_max_gb=5"])
    assert "data.dataset.cache=auto" in moved_key_message(["data.cache=auto"])
