"""Decode every video once, keep its frames as a memory-mapped array, read clips for free.

Decoding H.264 is the bottleneck of video training: on a 2-core machine decord delivers a
couple of dozen 16-frame clips per second, far fewer than a small 3D CNN consumes. The cache
decodes each video once, at the training resolution, into an uncompressed ``.npy`` file
(``numpy.lib.format.open_memmap``). A clip is then a slice of a memory map: no decoding, no
copy until the batch is collated, and the page cache shares the bytes between DataLoader
workers, runs and DDP ranks. (A ``.npy`` slice is a plain memcpy, the floor for any format;
chunked formats such as LitData add (de)serialisation on top, so they were not adopted.)

Entries are keyed by (absolute path, file size, mtime, resolution, resize mode): the file
name is ``<place>_<version>.npy`` where ``place`` hashes the path, resolution and resize mode
and ``version`` hashes the whole key, so a changed source gets a new entry, and the older
version is deleted once the new one exists. A JSON sidecar holds the key in readable form.

Concurrency: an entry is written to a temporary file in the cache folder and renamed into
place (``os.replace``), so nobody ever reads half an array. Builders take an exclusive
``fcntl`` lock per entry; a process that finds the entry locked first builds the others and
then waits for the lock, and finds the entry done. Several ranks or jobs calling
:func:`ensure_cached` at once therefore share the work and never decode a video twice.
Locks die with their process, so a killed builder never blocks the next one. (``flock`` is
per host: on a network file system shared by several nodes, nodes may decode the same video
twice, but the rename still keeps every read whole.)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from sports_rec.data.io.video_io import (
    RESIZE_MODES,
    VideoDecodeError,
    iter_frames,
    probe_video,
    resize_frames,
)
from sports_rec.errors import SportsRecError
from sports_rec.utils.atomic import staging_file, write_text_atomic
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

# Bump when the stored layout or the resize arithmetic changes: old entries then miss.
FORMAT_VERSION = 1
_OPEN_MAPS = 128


class FrameCacheError(SportsRecError):
    """The cache cannot be used as configured, or some videos could not be cached."""


@dataclass(frozen=True)
class CacheKey:
    """Everything that determines an entry's content."""

    path: str
    file_size: int
    mtime_ns: int
    height: int
    width: int
    resize: str
    format_version: int = FORMAT_VERSION

    def place(self) -> str:
        """Hash of what stays fixed while the source is edited: locates older versions."""
        fixed = f"{self.path}|{self.height}x{self.width}|{self.resize}|{self.format_version}"
        return hashlib.sha256(fixed.encode()).hexdigest()[:16]

    def version(self) -> str:
        full = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(full.encode()).hexdigest()[:16]

    def stem(self) -> str:
        return f"{self.place()}_{self.version()}"


def _entry_stem(path: Path) -> str:
    """Human-readable prefix (the video's name) so a cache folder can be browsed."""
    keep = "".join(c if c.isalnum() or c in "-." else "_" for c in path.stem)
    return keep[:40]


@contextmanager
def _locked(lock_path: Path, blocking: bool) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``lock_path``; yields False if non-blocking and busy."""
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class _Build:
    """One entry to build (picklable: sent to the pool's worker processes)."""

    source: str
    target: str
    key: CacheKey
    backend: str
    blocking: bool


def _build(task: _Build) -> str:
    """Build ``task``'s entry unless present; ``"built"``, ``"present"`` or ``"busy"``."""
    target = Path(task.target)
    lock = target.with_suffix(".lock")
    with _locked(lock, task.blocking) as acquired:
        if not acquired:
            return "busy"
        if target.is_file():
            lock.unlink(missing_ok=True)
            return "present"
        _decode_into(task, target)
    # Removing the lock lets a waiter lock a detached file while a newcomer locks a new one;
    # both then find the finished entry. (After a failed build two might decode at once:
    # wasted work, never a torn file, thanks to the rename.)
    lock.unlink(missing_ok=True)
    for stale in target.parent.glob(f"*{task.key.place()}_*.npy"):
        # Dot-names are other builders' staging files: theirs to rename or remove.
        if stale != target and not stale.name.startswith("."):
            stale.unlink(missing_ok=True)
            stale.with_suffix(".json").unlink(missing_ok=True)
    return "built"


def _decode_into(task: _Build, target: Path) -> None:
    """Decode the whole video into a temporary ``.npy`` and rename it to ``target``."""
    key = task.key
    info = probe_video(task.source, backend=task.backend)
    size = (key.height, key.width) if key.height else (info.height, info.width)
    started = time.perf_counter()
    staging = staging_file(target)
    try:
        array = open_memmap(staging, mode="w+", dtype=np.uint8, shape=(info.num_frames, *size, 3))
        done = 0
        for chunk in iter_frames(task.source, chunk=32, backend=task.backend):
            if done + len(chunk) > info.num_frames:
                raise VideoDecodeError(
                    task.source, f"decoded more frames than the {info.num_frames} it lists"
                )
            if key.height:
                chunk = resize_frames(chunk, size, key.resize)
            array[done : done + len(chunk)] = chunk
            done += len(chunk)
        if done != info.num_frames:
            raise VideoDecodeError(
                task.source, f"decoded {done} frames but the file lists {info.num_frames}"
            )
        array.flush()
        del array
        now = Path(task.source).stat()
        if (now.st_size, now.st_mtime_ns) != (key.file_size, key.mtime_ns):
            raise FrameCacheError(
                f"{task.source} changed while it was being cached; run again once it is "
                "complete (the cache keys entries by file size and modification time)"
            )
        sidecar = {
            "key": asdict(key),
            "num_frames": info.num_frames,
            "fps": info.fps,
            "source_size": [info.height, info.width],
            "shape": [info.num_frames, *size, 3],
            "backend": task.backend,
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        write_text_atomic(target.with_suffix(".json"), json.dumps(sidecar, indent=2))
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


def _init_worker() -> None:
    """One torch thread per pool worker: the pool itself is the parallelism."""
    import torch

    torch.set_num_threads(1)


class FrameCache:
    """Decoded frames of many videos at one resolution, built once and memory-mapped.

    Args:
        cache_dir: folder for the entries (created); shared by runs, ranks and jobs.
        size: ``(height, width)`` stored, e.g. the study's ``(112, 112)``; ``None`` stores
            the decoded size.
        resize: ``"stretch"`` (straight to ``size``, as the study does) or
            ``"short_side_crop"`` (short side to 128/112 of the crop, centre crop ``size``:
            MMAction2's C3D recipe).
        backend: decoder for building (see :mod:`sports_rec.data.io.video_io`).
        workers: processes decoding in parallel (0 = in this process).
        progress: show a rich progress bar while building.

    The object is cheap to pickle (open memory maps are not sent), so a Dataset can hold it
    and each DataLoader worker opens the maps it reads.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        size: tuple[int, int] | None = (112, 112),
        resize: str = "stretch",
        backend: str = "decord",
        workers: int = 2,
        progress: bool = True,
    ) -> None:
        if resize not in RESIZE_MODES:
            raise FrameCacheError(
                f"unknown resize mode {resize!r} for the frame cache; choose one of "
                f"{list(RESIZE_MODES)}"
            )
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise FrameCacheError(f"frame cache size must be (height, width) >= 1, got {size}")
        if workers < 0:
            raise FrameCacheError(f"frame cache workers must be >= 0, got {workers}")
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.resize = resize
        self.backend = backend
        self.workers = workers
        self.progress = progress
        self._maps: OrderedDict[Path, np.memmap] = OrderedDict()
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FrameCacheError(
                f"cannot create the frame cache folder {self.cache_dir}: {error}; choose a "
                "writable folder"
            ) from error

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"] = OrderedDict()
        return state

    def key(self, path: str | Path) -> CacheKey:
        """The key of ``path``'s current version (stat only, no decoding)."""
        source = Path(path).expanduser().absolute()
        try:
            stat = source.stat()
        except OSError as error:
            raise VideoDecodeError(
                source, f"cannot stat the file ({error.strerror})", hint="Check the path."
            ) from error
        height, width = self.size or (0, 0)
        return CacheKey(str(source), stat.st_size, stat.st_mtime_ns, height, width, self.resize)

    def entry(self, path: str | Path) -> Path:
        """Where ``path``'s current version is (or will be) cached."""
        key = self.key(path)
        return self.cache_dir / f"{_entry_stem(Path(key.path))}-{key.stem()}.npy"

    def is_cached(self, path: str | Path) -> bool:
        return self.entry(path).is_file()

    def ensure(self, paths: Iterable[str | Path]) -> dict[str, Path]:
        """Cache every video in ``paths`` (decoding only missing or changed ones).

        Returns ``{path as given: entry}``. Safe to call from several processes at once:
        entries another process is building are waited for, not decoded again. Videos that
        cannot be decoded are reported together in one :class:`FrameCacheError`.
        """
        paths = [str(p) for p in paths]
        entries = {p: self.entry(p) for p in paths}
        todo = {str(entries[p]): p for p in paths if not entries[p].is_file()}
        if todo:
            started = time.perf_counter()
            built = self._build_all(todo)
            log.info(
                "frame cache: decoded %d of %d videos into %s in %.1f s",
                built,
                len(paths),
                self.cache_dir,
                time.perf_counter() - started,
            )
        return entries

    def _tasks(self, todo: dict[str, str], blocking: bool) -> list[_Build]:
        return [
            _Build(source, target, self.key(source), self.backend, blocking)
            for target, source in todo.items()
        ]

    def _build_all(self, todo: dict[str, str]) -> int:
        """Non-blocking pass (skip what others are building), then wait for the rest."""
        failures: dict[str, str] = {}
        built = 0
        busy: dict[str, str] = {}
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, disable=not self.progress, transient=True) as bar:
            task_id = bar.add_task("decoding videos into the frame cache", total=len(todo))
            for blocking in (False, True):
                pending = todo if not blocking else busy
                for task, outcome in self._run(self._tasks(pending, blocking)):
                    if isinstance(outcome, BaseException):
                        failures[task.source] = str(outcome)
                    elif outcome == "busy":
                        busy[task.target] = task.source
                        continue
                    else:
                        built += outcome == "built"
                    bar.advance(task_id)
                if not busy:
                    break
        if failures:
            listed = "\n".join(f"  {path}: {reason}" for path, reason in failures.items())
            raise FrameCacheError(
                f"{len(failures)} of {len(todo)} videos could not be cached (the others "
                f"are):\n{listed}"
            )
        return built

    def _run(self, tasks: list[_Build]) -> Iterator[tuple[_Build, str | BaseException]]:
        if self.workers == 0 or len(tasks) <= 1:
            for task in tasks:
                try:
                    yield task, _build(task)
                except (SportsRecError, OSError) as error:
                    yield task, error
            return
        # fork, like PyTorch's DataLoader: no re-import of __main__ (scripts need no main
        # guard) and no second torch import per worker; the workers never touch CUDA.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(
            min(self.workers, len(tasks)), mp_context=context, initializer=_init_worker
        ) as pool:
            futures: dict[Future, _Build] = {pool.submit(_build, t): t for t in tasks}
            for future in as_completed(futures):
                error = future.exception()
                if error is not None and not isinstance(error, (SportsRecError, OSError)):
                    raise error
                yield futures[future], error if error is not None else future.result()

    def frames(self, path: str | Path) -> np.memmap:
        """All cached frames of ``path``, read-only ``[N, H, W, 3]`` uint8 (built if missing).

        Opening is a stat plus, the first time per process, an ``mmap``; nothing is read
        from disk until frames are sliced.
        """
        target = self.entry(path)
        if target in self._maps:
            self._maps.move_to_end(target)
            return self._maps[target]
        if not target.is_file():
            self._build_all({str(target): str(path)})
        frames = np.load(target, mmap_mode="r")
        self._maps[target] = frames
        if len(self._maps) > _OPEN_MAPS:
            self._maps.popitem(last=False)
        return frames

    def clip(self, path: str | Path, start: int, length: int, step: int = 1) -> np.ndarray:
        """Frames ``start, start + step, ...`` (``length`` of them) as a ``[T, H, W, 3]`` copy."""
        frames = self.frames(path)
        stop = start + (length - 1) * step
        if start < 0 or length < 1 or step < 1 or stop >= len(frames):
            raise FrameCacheError(
                f"clip start={start} length={length} step={step} does not fit the "
                f"{len(frames)} frames of {path}; keep start + (length - 1) * step below "
                f"{len(frames)}"
            )
        return np.array(frames[start : stop + 1 : step])


def ensure_cached(
    paths: Iterable[str | Path],
    cache_dir: str | Path,
    size: tuple[int, int] | None = (112, 112),
    resize: str = "stretch",
    backend: str = "decord",
    workers: int = 2,
    progress: bool = True,
) -> FrameCache:
    """Build (or reuse) the cache entries of ``paths`` and return the ready cache.

    Every DDP rank and DataLoader may call this at once: each process builds the entries
    nobody else holds, then waits for the rest, so each video is decoded once overall.
    """
    cache = FrameCache(cache_dir, size, resize, backend, workers, progress)
    cache.ensure(paths)
    return cache
