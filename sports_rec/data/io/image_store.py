"""Decode once, by default where it pays: every image of a dataset, decoded as the dataset
decodes it, in one memory-mapped store per dataset and cap.

**What.** ``data.dataset.cache`` (``auto``, the default for image datasets; ``true``;
``false``) keeps, for every image of a dataset, exactly what :func:`~sports_rec.data.io.
image_io.load_image` returns for the run's colour mode and decoding cap (``max_side``, by
default twice the training size): the pixels the transforms receive. They are raw
``uint8`` pixels, concatenated in one data file, with an index beside it (FFCV's layout,
without its own decoder: a read is a ``stat``, a slice of a memory map and a copy). The
start-up check (``data.check_images``), which decodes every image anyway, writes the store,
so epoch 1 already reads from it; a run with the store sees the same pixels as one without.

**Where.** ``<cache_dir>/<root name>-<mode>-<cap>-<hash of root>/``, holding
``index.json``, ``data-<id>.bin`` and ``lock``. The root is the deepest folder holding every
file of the dataset, so there is one store per dataset root, colour mode and cap (a run at
another size gets its own), and runs, sweeps and DDP ranks share it.

**Keys.** Each entry records its file's absolute path, size and modification time (ns),
like the frame cache. Every read stats the file and decodes it directly when either
changed, so an edited image is never served stale pixels; the next start-up check sees the
change and rebuilds the store: current entries are copied from the old data file, changed
and new files decoded. The index header also records the format, mode, cap, decoding slack
and the Pillow version: a store decoded otherwise is rebuilt in full. Files that failed to
decode are recorded too (with their reason), so a re-run's check neither decodes them nor
rebuilds for them.

**Trust.** The index's first line holds the SHA-256 of the rest; the data file must have
exactly the size the index states and the entries must tile it; each entry's CRC-32 is
checked the first time a process reads it (0.3 ms for a 448 x 600 RGB image, once). A store
that fails at start-up is rebuilt, never read, with one warning. A damaged entry met during
training is decoded instead, the store is dropped for the rest of that process and its
index removed, so the next start rebuilds it.

**Concurrency.** Readers take no lock: a data file, once named in an index, is never
modified. A (re)build writes a new data file under a staging name, renames it, and then
atomically replaces ``index.json``; the builder then deletes data files no index names. A
process that still maps an old one keeps reading it (an unlinked file lives until its last
map closes); one that opens the store later re-reads the index. One writer at a time: the
builder holds an exclusive ``flock`` on ``lock``; another process (a DDP rank, a concurrent
run) that finds files missing waits for it and then re-reads the index, building only what
is still missing. Locks die with their process, so a killed builder blocks nobody; its
staging file is removed by the next builder. (``flock`` is per host: nodes sharing a store
over a network file system may build it twice; the renames still keep every read whole.)

**Auto.** With no usable store yet, ``auto`` decodes a sample of the files (the first
entries of the store, so nothing is wasted) and builds one when it pays: reading must save
at least :data:`MIN_SAVING_MS` per image and be :data:`MIN_SPEEDUP` times faster than
decoding, or the sources must be much larger than the cap (short side >= 2 x cap: the
decode includes a reduction the store skips). The read time is measured on the sample
(page-cache speed) plus, for a store larger than half the available memory, the transfer
from disk at :data:`DISK_BYTES_PER_S`. ``auto`` also stays within ``data.dataset.
cache_max_gb`` and, like ``true``, within :data:`DISK_FRACTION` of the free disk under
``cache_dir`` (estimated from the sample, enforced while writing): over it, the run
decodes directly with one warning. ``true`` skips the pays rule and ``cache_max_gb``. One
log line says what was chosen and why.

**Why one store, not one ``.npy`` per image** (the earlier ``data.dataset.cache=true``):
one open map per process instead of a file open per read and an inode per image, written
during the start-up decode instead of during epoch 1, and checked as a whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import PIL
from PIL import Image

from sports_rec.data.io.image_io import (
    DATASET_SLACK,
    ImageDecodeError,
    find_unreadable,
    load_image,
    source_size,
)
from sports_rec.errors import ConfigError
from sports_rec.utils.atomic import staging_file, write_text_atomic
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

#: Bump when the layout or the decoding changes: older stores are then rebuilt.
FORMAT_VERSION = 1
INDEX = "index.json"
LOCK = "lock"
#: ``data.dataset.cache`` values (``true``/``false`` arrive from YAML as booleans).
SETTINGS = ("auto", "true", "false")
#: ``data.dataset.cache_max_gb``: the most disk ``auto`` gives one store.
DEFAULT_MAX_GB = 20.0
#: No store takes more than this share of the free disk under ``cache_dir``.
DISK_FRACTION = 0.5
#: Images decoded (timed) for the decision; they become the store's first entries.
SAMPLE_SIZE = 24
#: ``auto`` builds a store when reading saves at least this much per image ...
MIN_SAVING_MS = 1.0
#: ... and is at least this many times faster than decoding.
MIN_SPEEDUP = 3.0
#: Read speed assumed for a store too large for the page cache (a modest SSD).
DISK_BYTES_PER_S = 500e6
#: How long a process waits for another building the same store before decoding directly.
LOCK_WAIT_S = 2 * 3600.0
#: Decoding threads of the build (PIL releases the GIL), as :func:`find_unreadable`.
WORKERS = 4
#: Columns of the index table.
SIZE, MTIME, OFFSET, HEIGHT, WIDTH, CHANNELS, CRC = range(7)

# What each start-up check decided in this process, for the datasets built after it:
# {(cache_dir, mode, cap): {root: index or None (decode directly)}}.
_DECIDED: dict[tuple[str, str, int], dict[str, StoreIndex | None]] = {}
_NOTED: set[tuple[str, str, int]] = set()


class StoreDamaged(Exception):
    """An index or data file that must not be trusted (the message says why)."""


class StoreOutdated(StoreDamaged):
    """A sound store written for other decoding (an older format, another Pillow)."""


def cache_setting(value: Any) -> str:
    """``data.dataset.cache`` as ``"auto"``, ``"true"`` or ``"false"``."""
    if value is None or value is False:
        return "false"
    if value is True:
        return "true"
    text = str(value).strip().lower()
    if text in SETTINGS:
        return text
    raise ConfigError(f"data.dataset.cache must be auto, true or false, got {value!r}")


def store_folder(cache_dir: str | Path, root: str, mode: str, cap: int) -> Path:
    """Where the store of the files under ``root`` decoded in ``mode`` at ``cap`` lives."""
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in Path(root).name)[:40]
    digest = hashlib.sha256(root.encode()).hexdigest()[:12]
    return Path(cache_dir).expanduser().absolute() / f"{name or 'root'}-{mode}-{cap}-{digest}"


def _root(paths: list[str]) -> str:
    """The deepest folder holding every one of ``paths`` (absolute)."""
    return os.path.commonpath([os.path.dirname(p) for p in paths])


def _decoder() -> str:
    return f"load_image slack={DATASET_SLACK:g}, Pillow {PIL.__version__}"


def _gb(size: float) -> str:
    """``size`` bytes for a log line (MB below a gigabyte)."""
    if size < 1e9:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.1f} GB" if size < 100e9 else f"{size / 1e9:,.0f} GB"


# ------------------------------------------------------------------------------- the index
@dataclass
class StoreIndex:
    """A store's index as read (and verified) or written.

    ``table`` has one row per stored image: file size, mtime (ns), offset in the data file,
    height, width, channels and the CRC-32 of its pixels; ``unreadable`` maps files that
    failed to decode to ``[size, mtime_ns, reason]``.
    """

    folder: Path
    header: dict[str, Any]
    paths: list[str]
    table: np.ndarray
    unreadable: dict[str, list[Any]]
    rows: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = {path: row for row, path in enumerate(self.paths)}

    @property
    def data_path(self) -> Path:
        return self.folder / self.header["data"]

    @property
    def data_bytes(self) -> int:
        return int(self.header["data_bytes"])

    def current(self, path: str, stat: os.stat_result) -> bool:
        """Whether ``path`` (as ``stat`` finds it now) has an entry or a failure record."""
        row = self.rows.get(path)
        if row is not None:
            size, mtime = self.table[row, SIZE], self.table[row, MTIME]
        elif path in self.unreadable:
            size, mtime = self.unreadable[path][:2]
        else:
            return False
        return (int(size), int(mtime)) == (stat.st_size, stat.st_mtime_ns)

    def write(self) -> None:
        """Write ``index.json`` atomically: a header line (with the SHA-256 of the body),
        then the body."""
        body = json.dumps(
            {"paths": self.paths, "table": self.table.tolist(), "unreadable": self.unreadable},
            separators=(",", ":"),
        )
        header = {
            **self.header,
            "count": len(self.paths),
            "body_sha256": hashlib.sha256(body.encode()).hexdigest(),
        }
        write_text_atomic(self.folder / INDEX, json.dumps(header) + "\n" + body)

    @classmethod
    def read(cls, folder: Path, expected: dict[str, Any]) -> StoreIndex | None:
        """The verified index in ``folder``, None if there is none; :class:`StoreDamaged`
        when it must not be trusted (garbled, truncated, a data file of the wrong size) or
        was written for other decoding (``expected``: format, mode, cap, decoder)."""
        try:
            text = (folder / INDEX).read_bytes()
        except FileNotFoundError:
            return None
        first, _, body = text.partition(b"\n")
        try:
            header = json.loads(first)
            if not isinstance(header, dict):
                raise ValueError("the header is not an object")
        except ValueError as error:
            raise StoreDamaged(f"its index header is unreadable ({error})") from None
        for key, value in expected.items():
            if header.get(key) != value:
                raise StoreOutdated(f"it was written with {key} {header.get(key)!r}, not {value!r}")
        if hashlib.sha256(body).hexdigest() != header.get("body_sha256"):
            raise StoreDamaged("its index does not match its checksum")
        try:
            content = json.loads(body)
            paths = list(content["paths"])
            table = np.asarray(content["table"], dtype=np.int64).reshape(-1, 7)
            unreadable = dict(content["unreadable"])
            data = folder / str(header["data"])
            data_bytes = int(header["data_bytes"])
        except (ValueError, KeyError, TypeError) as error:
            raise StoreDamaged(f"its index is malformed ({error})") from None
        if len(paths) != len(table) or header.get("count") != len(paths):
            raise StoreDamaged("its index lists fewer rows than it counts")
        lengths = table[:, HEIGHT] * table[:, WIDTH] * table[:, CHANNELS]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(table) else lengths
        if not np.array_equal(table[:, OFFSET], starts) or int(lengths.sum()) != data_bytes:
            raise StoreDamaged("its entries do not tile its data file")
        try:
            on_disk = data.stat().st_size
        except OSError:
            raise StoreDamaged(f"its data file {data.name} is missing") from None
        if on_disk != data_bytes:
            raise StoreDamaged(f"its data file holds {on_disk:,} bytes, not {data_bytes:,}")
        return cls(folder, header, paths, table, unreadable)


def _expected(mode: str, cap: int) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "mode": mode, "cap": int(cap), "decoder": _decoder()}


# ------------------------------------------------------------------------------ the reader
class StoreReader:
    """One dataset's view of a store: ``image(i)`` is the stored image of its ``i``-th path,
    or None when it must be decoded (not stored, changed since, or the store is damaged).

    Holds its rows as one numpy table (no per-image Python objects, so forked DataLoader
    workers share it without copying) and maps the data file lazily in each process.
    """

    def __init__(self, index: StoreIndex, paths: list[str]) -> None:
        self.folder = index.folder
        self.expected = {k: index.header[k] for k in ("format", "mode", "cap", "decoder")}
        self.abspaths = [os.path.abspath(p) for p in paths]
        self._adopt(index)

    def _adopt(self, index: StoreIndex) -> None:
        self.data_path = index.data_path
        rows = np.array([index.rows.get(p, -1) for p in self.abspaths], dtype=np.int64)
        self.table = np.full((len(rows), 7), -1, dtype=np.int64)
        found = rows >= 0
        self.table[found] = index.table[rows[found]]
        self.broken = False
        self._map: np.memmap | None = None
        self._pid = -1
        self._verified = np.zeros(len(rows), dtype=bool)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_map"], state["_pid"] = None, -1  # each process opens its own map
        return state

    @property
    def stored(self) -> int:
        """How many of this dataset's images the store holds."""
        return int((self.table[:, OFFSET] >= 0).sum())

    def _data(self) -> np.memmap | None:
        if self._pid != os.getpid():  # a forked DataLoader worker: its own map
            self._map, self._pid = None, os.getpid()
            self._verified[:] = False
        if self._map is None:
            try:
                self._map = np.memmap(self.data_path, dtype=np.uint8, mode="r")
            except (OSError, ValueError):
                # Replaced by another run's rebuild since this index was read: re-read it.
                try:
                    index = StoreIndex.read(self.folder, self.expected)
                    if index is None:
                        raise StoreDamaged("its index is gone")
                    self._adopt(index)
                    self._pid = os.getpid()
                    self._map = np.memmap(self.data_path, dtype=np.uint8, mode="r")
                except (StoreDamaged, OSError, ValueError) as error:
                    self._give_up(f"it was replaced and cannot be reopened ({error})")
                    return None
        return self._map

    def image(self, i: int) -> Image.Image | None:
        if self.broken:
            return None
        size, mtime, offset, height, width, channels, crc = (int(v) for v in self.table[i])
        if offset < 0:
            return None
        try:
            stat = os.stat(self.abspaths[i])
        except OSError:
            return None  # decoding says what is wrong
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime):
            return None  # edited since the store was built: decode it (rebuilt next start)
        data = self._data()
        if data is None:
            return None
        view = data[offset : offset + height * width * channels]
        if not self._verified[i]:
            if zlib.crc32(view) != crc:
                self._give_up(f"the entry of {self.abspaths[i]} fails its checksum", remove=True)
                return None
            self._verified[i] = True
        if channels == 1:  # PIL would map an L image onto the store's pages: copy it out
            return Image.fromarray(np.array(view.reshape(height, width)))
        return Image.fromarray(view.reshape(height, width, channels))  # PIL copies RGB

    def _give_up(self, why: str, remove: bool = False) -> None:
        """Stop reading the store in this process; with ``remove``, drop its index (if it
        still names this data file) so the next start-up check rebuilds it."""
        self.broken = True
        if remove:
            index = self.folder / INDEX
            try:
                if json.loads(index.read_bytes().partition(b"\n")[0]).get("data") == (
                    self.data_path.name
                ):
                    index.unlink()
            except (OSError, ValueError):
                pass  # the index is already gone or unreadable: the next check rebuilds it
        logging.getLogger(__name__).warning(  # every rank: each gave up on its own
            "image store %s is damaged: %s. Decoding directly for the rest of this process; "
            "the next start-up check rebuilds it.",
            self.folder,
            why,
        )


def open_store(paths: list[str], mode: str, cap: int, cache_dir: str | Path) -> StoreReader | None:
    """The store this process's start-up check chose for ``paths`` (a split of the dataset
    it checked), or None: decode directly."""
    key = (str(Path(cache_dir).expanduser().absolute()), mode, int(cap))
    absolute = [os.path.abspath(p) for p in paths]
    for root, index in reversed(_DECIDED.get(key, {}).items()):
        if all(p.startswith(root.rstrip(os.sep) + os.sep) for p in absolute):
            return StoreReader(index, paths) if index is not None else None
    return None


def note_unchecked(cache_dir: str | Path, mode: str, cap: int) -> None:
    """Say once per process why a run without the start-up check decodes directly."""
    key = (str(Path(cache_dir).expanduser().absolute()), mode, int(cap))
    if key not in _NOTED:
        _NOTED.add(key)
        log.info(
            "image store: off - data.check_images=false skips the start-up pass that builds "
            "and verifies it; decoding directly"
        )


# ------------------------------------------------------------------------ the start-up check
@contextmanager
def _exclusive(lock_path: Path, timeout: float) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``lock_path``; yields False after ``timeout`` s."""
    with open(lock_path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        said = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                if not said:
                    log.info("image store: another process writes %s; waiting", lock_path.parent)
                    said = True
                time.sleep(0.1)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


Decoded = tuple[np.ndarray, int, int] | str  # (pixels, size, mtime_ns) or why not


@dataclass
class _Outcome:
    """What a start-up check found and chose."""

    failures: dict[str, str]  # {absolute path: reason}
    index: StoreIndex | None  # the store to read, or None: decode directly
    level: int  # of the one log line
    line: str


@dataclass
class _Sample:
    """What the decision learned from decoding a sample of the files."""

    decoded: dict[str, Decoded]
    decode_ms: float = 0.0
    read_ms: float = 0.0
    source_side: int = 0
    mean_bytes: float = 0.0


class _Preparation:
    """The start-up check of one dataset with the store on (see the module docstring)."""

    def __init__(
        self,
        originals: list[str],
        mode: str,
        cap: int,
        setting: str,
        cache_dir: str | Path,
        max_gb: float,
        workers: int,
    ) -> None:
        self.originals = originals
        self.paths = [os.path.abspath(p) for p in originals]
        self.mode, self.cap, self.setting = mode, int(cap), setting
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.max_gb = float(max_gb)
        self.workers = workers
        self.root = _root(self.paths)
        self.folder = store_folder(self.cache_dir, self.root, mode, self.cap)
        self.stats: dict[str, os.stat_result] = {}
        for path in self.paths:
            with suppress(OSError):  # if not, decoding says why (missing, no access ...)
                self.stats[path] = os.stat(path)

    # -------------------------------------------------------------- decoding
    def _decode(self, path: str) -> Decoded:
        try:
            stat = os.stat(path)
            image = load_image(path, mode=self.mode, max_side=self.cap, slack=DATASET_SLACK)
        except ImageDecodeError as error:
            return error.reason
        except OSError as error:
            return str(ImageDecodeError(path, f"{type(error).__name__}: {error}").reason)
        return np.ascontiguousarray(np.asarray(image)), stat.st_size, stat.st_mtime_ns

    def _decode_all(self, paths: list[str], known: dict[str, Decoded]) -> Iterator[Decoded]:
        """Each path's outcome, in order: from ``known`` or decoded in threads (a bounded
        window ahead of the writer)."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            window: deque[Future | Decoded] = deque()
            for path in paths:
                window.append(known[path] if path in known else pool.submit(self._decode, path))
                if len(window) >= 4 * self.workers:
                    item = window.popleft()
                    yield item.result() if isinstance(item, Future) else item
            while window:
                item = window.popleft()
                yield item.result() if isinstance(item, Future) else item

    def _sample(self, todo: list[str]) -> _Sample:
        """Decode (timed) up to :data:`SAMPLE_SIZE` files spread over ``todo``."""
        count = min(SAMPLE_SIZE, len(todo))
        picks = [todo[round(i * (len(todo) - 1) / max(1, count - 1))] for i in range(count)]
        sample = _Sample({})
        decode_ms, read_ms, sides, sizes = [], [], [], []
        for path in dict.fromkeys(picks):
            started = time.perf_counter()
            outcome = self._decode(path)
            decode_ms.append(1e3 * (time.perf_counter() - started))
            sample.decoded[path] = outcome
            if isinstance(outcome, str):
                continue
            pixels = outcome[0]
            started = time.perf_counter()
            Image.fromarray(np.array(pixels))  # what a read does after the slice
            read_ms.append(1e3 * (time.perf_counter() - started))
            sizes.append(pixels.nbytes)
            with suppress(ImageDecodeError):
                sides.append(min(source_size(path)))
        if sizes:
            sample.decode_ms, sample.read_ms = median(decode_ms), median(read_ms)
            sample.source_side = int(median(sides)) if sides else 0
            sample.mean_bytes = float(np.mean(sizes))
        return sample

    # -------------------------------------------------------------- the store
    def _load(self) -> tuple[StoreIndex | None, StoreDamaged | None]:
        """The store's index, or None and why it is not used (None: there is none)."""
        try:
            return StoreIndex.read(self.folder, _expected(self.mode, self.cap)), None
        except StoreDamaged as error:
            return None, error

    def _todo(self, index: StoreIndex | None) -> list[str]:
        """Files (that exist) the store lacks or holds for an older version."""
        return [
            path
            for path in dict.fromkeys(self.paths)
            if path in self.stats and (index is None or not index.current(path, self.stats[path]))
        ]

    def _retained(self, index: StoreIndex | None, todo: list[str]) -> list[int]:
        """Rows of ``index`` still current (files of other runs' lists included)."""
        if index is None:
            return []
        skip = set(todo)
        rows = []
        for row, path in enumerate(index.paths):
            if path in skip:
                continue
            stat = self.stats.get(path)
            if stat is None:  # a file of another run's list
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
            if (stat.st_size, stat.st_mtime_ns) == tuple(index.table[row, [SIZE, MTIME]]):
                rows.append(row)
        return rows

    def _write(
        self, old: StoreIndex | None, todo: list[str], sample: _Sample, allowed: float
    ) -> tuple[StoreIndex | None, dict[str, str], str | None]:
        """Build the new store: ``old``'s current entries copied, ``todo`` decoded. Returns
        the index (None if the budget or the disk ran out: then why) and the failures."""
        failures: dict[str, str] = {}
        paths: list[str] = []
        rows: list[list[int]] = []
        unreadable: dict[str, list[Any]] = {}
        if old is not None:
            redo = set(todo)
            unreadable = {
                p: record
                for p, record in old.unreadable.items()
                if p not in redo and p in self.stats and old.current(p, self.stats[p])
            }
        for pattern in (".data.*", ".index.*"):  # staging files of killed builders
            for stale in self.folder.glob(pattern):
                stale.unlink(missing_ok=True)
        staging = staging_file(self.folder / "data.bin")
        offset = 0
        stopped: str | None = None
        try:
            with open(staging, "wb") as out:

                def put(path: str, pixels: np.ndarray, size: int, mtime: int) -> None:
                    nonlocal offset, stopped
                    if stopped is not None:
                        return
                    if offset + pixels.nbytes > allowed:
                        stopped = f"it outgrew its budget of {_gb(allowed)}"
                        return
                    out.write(pixels.data)
                    height, width = pixels.shape[:2]
                    channels = pixels.shape[2] if pixels.ndim == 3 else 1
                    paths.append(path)
                    rows.append([size, mtime, offset, height, width, channels, zlib.crc32(pixels)])
                    offset += pixels.nbytes

                damaged = []
                if old is not None and old.data_bytes:
                    source = np.memmap(old.data_path, dtype=np.uint8, mode="r")
                    for row in self._retained(old, todo):
                        size, mtime, start, height, width, channels, crc = old.table[row]
                        pixels = np.array(source[start : start + height * width * channels])
                        if zlib.crc32(pixels) != crc:
                            damaged.append(old.paths[row])
                            continue
                        shape = (height, width) if channels == 1 else (height, width, channels)
                        put(old.paths[row], pixels.reshape(shape), int(size), int(mtime))
                    del source
                again = [p for p in damaged if p in self.stats]
                for path, outcome in zip(
                    todo + again, self._decode_all(todo + again, sample.decoded), strict=True
                ):
                    if isinstance(outcome, str):
                        failures[path] = outcome
                        stat = self.stats[path]
                        unreadable[path] = [stat.st_size, stat.st_mtime_ns, outcome]
                        continue
                    pixels, size, mtime = outcome
                    after = os.stat(path)
                    if (after.st_size, after.st_mtime_ns) == (size, mtime):  # not mid-edit
                        put(path, pixels, size, mtime)
        except OSError as error:  # a full disk, a quota
            stopped = f"writing it failed ({error.strerror or error})"
        if stopped is not None:
            staging.unlink(missing_ok=True)
            return None, failures, stopped
        data = self.folder / f"data-{uuid.uuid4().hex[:12]}.bin"
        os.replace(staging, data)
        header = {
            **_expected(self.mode, self.cap),
            "slack": DATASET_SLACK,
            "root": self.root,
            "data": data.name,
            "data_bytes": offset,
            "built": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 7)
        index = StoreIndex(self.folder, header, paths, table, unreadable)
        index.write()
        for other in self.folder.glob("data-*.bin"):
            if other != data:
                other.unlink(missing_ok=True)
        return index, failures, None

    # -------------------------------------------------------------- the check
    def _budget(self) -> tuple[float, str]:
        """The most bytes the store may take, and the words for it."""
        existing = next(p for p in (self.folder, *self.folder.parents) if p.exists())
        free = shutil.disk_usage(existing).free
        disk = DISK_FRACTION * free
        if self.setting == "true" or self.max_gb * 1e9 >= disk:
            return disk, f"{DISK_FRACTION:.0%} of the {_gb(free)} free"
        return self.max_gb * 1e9, f"data.dataset.cache_max_gb={self.max_gb:g}, {_gb(free)} free"

    def _pays(self, sample: _Sample, estimate: float) -> tuple[bool, str]:
        read_ms = sample.read_ms
        if estimate > 0.5 * _available_memory():  # mostly read from disk, not the page cache
            read_ms += 1e3 * sample.mean_bytes / DISK_BYTES_PER_S
        large = sample.source_side >= 2 * self.cap
        pays = (large and sample.decode_ms > read_ms) or (
            sample.decode_ms - read_ms >= MIN_SAVING_MS
            and sample.decode_ms >= MIN_SPEEDUP * read_ms
        )
        why = (
            f"sources median {sample.source_side:,} px vs cap {self.cap} px, "
            f"decode {sample.decode_ms:.2f} ms vs read {read_ms:.2f} ms an image"
        )
        return pays, why

    def run(self) -> _Outcome:
        """Verify, build or decline the store; what the check found and the one line."""
        old, problem = self._load()
        todo = self._todo(old)
        images = len(dict.fromkeys(self.paths))
        if old is not None and not todo:
            line = f"on - {images:,} images, {_gb(old.data_bytes)}, every file current"
            return _Outcome(self._failures(old, {}), old, logging.INFO, line)
        sample = self._sample(todo)
        kept = self._retained(old, todo)
        if old is not None:
            kept_bytes = int(np.prod(old.table[kept][:, [HEIGHT, WIDTH, CHANNELS]], axis=1).sum())
        else:
            kept_bytes = 0
        estimate = kept_bytes + sample.mean_bytes * len(todo)
        allowed, limit = self._budget()
        if old is not None:
            why = "added the new and changed files"
        elif self.setting == "true":
            why = "data.dataset.cache=true"
        else:
            pays, why = self._pays(sample, estimate)
            if not sample.mean_bytes:
                pays, why = False, "no readable image in the sample"
            if not pays:
                line = f"off - it would not pay ({why}; data.dataset.cache=true forces it)"
                return self._declined(sample, logging.INFO, f"{line}; decoding directly")
        over = "; decoding directly. Raise data.dataset.cache_max_gb, free disk space under "
        over += "data.dataset.cache_dir, or set data.dataset.cache=false"
        if estimate > allowed:
            line = f"off - over budget: ~{_gb(estimate)} for {images:,} images ({limit}){over}"
            return self._declined(sample, logging.WARNING, line)
        self.folder.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.folder / LOCK, LOCK_WAIT_S) as locked:
            if not locked:
                line = f"off - another process held {self.folder / LOCK} for {LOCK_WAIT_S:.0f} s"
                return self._declined(sample, logging.WARNING, f"{line}; decoding directly")
            old, problem_now = self._load()  # another process may have built it meanwhile
            todo = self._todo(old)
            if old is not None and not todo:
                line = f"on - {images:,} images, {_gb(old.data_bytes)}, built by another process"
                return _Outcome(self._failures(old, {}), old, logging.INFO, line)
            index, failures, stopped = self._write(old, todo, sample, allowed)
        if index is None:
            line = f"off - {stopped}{over}"
            return _Outcome(self._failures(old, failures), None, logging.WARNING, line)
        problem = problem_now or problem
        line = f"on - {why}; {_gb(index.data_bytes)} for {len(index.paths):,} images ({limit})"
        level = logging.INFO
        if isinstance(problem, StoreOutdated):
            line += f"; rebuilt in full: {problem}"
        elif problem is not None:
            line += f"; rebuilt, not trusting the previous store: {problem}"
            level = logging.WARNING
        return _Outcome(self._failures(index, failures), index, level, line)

    def _failures(self, index: StoreIndex | None, found: dict[str, str]) -> dict[str, str]:
        """``{absolute path: reason}`` of the unusable files among this check's."""
        failures = dict(found)
        for path in self.paths:
            if path not in self.stats:
                failures.setdefault(path, self._reason(path))
            elif (
                index is not None
                and path in index.unreadable
                and path not in failures
                and index.current(path, self.stats[path])
            ):
                failures[path] = index.unreadable[path][2]
        return failures

    def _reason(self, path: str) -> str:
        outcome = self._decode(path)
        return outcome if isinstance(outcome, str) else "it changed during the check"

    def _declined(self, sample: _Sample, level: int, line: str) -> _Outcome:
        """No store: the plain check (the sample's failures, the rest checked cheaply)."""
        failures = {p: o for p, o in sample.decoded.items() if isinstance(o, str)}
        rest = [p for p in dict.fromkeys(self.paths) if p not in sample.decoded]
        failures.update(find_unreadable(rest, workers=self.workers))
        return _Outcome(failures, None, level, line)


def _available_memory() -> float:
    """Bytes of memory available for the page cache (``MemAvailable``), or infinity."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass  # no /proc/meminfo (not Linux): no memory term in the read estimate
    return float("inf")


def prepare_store(
    paths: Iterable[str],
    mode: str,
    cap: int,
    setting: Any,
    cache_dir: str | Path | None,
    max_gb: float = DEFAULT_MAX_GB,
    workers: int = WORKERS,
) -> dict[str, str]:
    """The start-up check of an image dataset: ``{path: reason}`` of the files that cannot
    be decoded. With the store on (``setting``: ``data.dataset.cache``) it decodes at the
    run's ``mode`` and ``cap``, writes (or verifies) the store, and leaves the choice for
    :func:`open_store`; logs one line saying what was chosen and why."""
    originals = list(dict.fromkeys(str(p) for p in paths))
    setting = cache_setting(setting)
    if setting == "false" or not originals:
        return find_unreadable(originals, workers=workers)
    if not cache_dir:
        if setting == "true":
            raise ConfigError(
                "data.dataset.cache=true needs data.dataset.cache_dir (a folder for the store)"
            )
        log.info("image store: off - data.dataset.cache_dir is null; decoding directly")
        return find_unreadable(originals, workers=workers)
    key = (str(Path(cache_dir).expanduser().absolute()), mode, int(cap))
    preparation = _Preparation(originals, mode, cap, setting, cache_dir, max_gb, workers)
    try:
        outcome = preparation.run()
    except OSError as error:  # cache_dir unusable: read-only, not a folder ...
        _DECIDED.setdefault(key, {}).pop(preparation.root, None)
        _DECIDED[key][preparation.root] = None
        log.warning(
            "image store: off - cannot use %s (%s); decoding directly. Set "
            "data.dataset.cache_dir to a writable folder, or data.dataset.cache=false.",
            preparation.folder,
            error.strerror or error,
        )
        return find_unreadable(originals, workers=workers)
    decided = _DECIDED.setdefault(key, {})
    decided.pop(preparation.root, None)  # the latest decision comes first in open_store
    decided[preparation.root] = outcome.index
    where = f" -> {preparation.folder}" if outcome.index is not None else ""
    log.log(outcome.level, "image store: %s%s", outcome.line, where)
    failures = outcome.failures
    return {p: failures[a] for p in originals if (a := os.path.abspath(p)) in failures}
