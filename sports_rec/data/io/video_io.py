"""Decoding and writing videos: one interface, several decoders behind it.

The rest of the project only calls :func:`probe_video`, :func:`read_frames`,
:func:`iter_frames`, :func:`write_video` and :class:`VideoWriter`; which library decodes is
a string (``backend=``), so a machine where one library is missing or misbehaves can switch
without touching the readers.

* ``decord`` (default): fast random access (it seeks to the nearest key frame and decodes
  forward), bundles its own FFmpeg.
* ``pyav``: PyAV's FFmpeg bindings. Frame-accurate because a frame's index is found from the
  sorted presentation timestamps of all packets (the same rule decord uses), not from
  ``fps * time``, which breaks on variable frame rates and odd start times.
* ``torchcodec``: used only when it imports *and* finds the system FFmpeg libraries; otherwise
  :func:`unavailable_backends` says why.

Every failure a user can cause (missing file, not a video, a truncated download, frame indices
past the end) raises :class:`VideoDecodeError` naming the file and how to fix it, so one bad
video never kills a DataLoader worker with an anonymous FFmpeg message.
"""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torchvision.transforms.v2 import functional as tvf

from sports_rec.data.io.decode_errors import DecodeError
from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.utils.atomic import staging_file
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

REENCODE_HINT = (
    "Check that the file is a complete video (re-download it if it was truncated) or "
    "re-encode it: ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p OUTPUT.mp4"
)
RESIZE_MODES = ("stretch", "short_side_crop")
# MMAction2's C3D recipe resizes the short side to 128 before a 112 crop: keep that ratio.
SHORT_SIDE_RATIO = 128 / 112


class VideoDecodeError(DecodeError):
    """A video could not be opened or decoded (see :class:`DecodeError`)."""

    kind = "video"
    default_hint = REENCODE_HINT


@dataclass(frozen=True)
class VideoInfo:
    """What a reader needs to know before decoding: length, rate and frame size."""

    num_frames: int
    fps: float
    width: int
    height: int


class VideoBackend(Protocol):
    """The two operations every decoder provides."""

    name: str

    def probe(self, path: Path) -> VideoInfo:
        """Frame count, rate and size without decoding frames."""
        ...

    def read(self, path: Path, indices: np.ndarray) -> np.ndarray:
        """Frames ``indices`` (validated, in range) as uint8 RGB ``[T, H, W, 3]``."""
        ...

    def iterate(self, path: Path, chunk: int) -> Iterator[np.ndarray]:
        """Every frame in order, ``chunk`` at a time (bounded memory for whole videos)."""
        ...


class DecordBackend:
    """decord's ``VideoReader``: key-frame seeking plus batched decoding.

    decord 0.6 mis-sizes its RGB buffer for a few narrow frame widths (16, 24, 48 and 72 px
    among 16-400 here: it derives the channel count from FFmpeg's padded line size and gets
    4) and then fails to copy the frames. Those videos are decoded by PyAV instead, with a
    warning once per file, so a reader never has to know.
    """

    name = "decord"
    _MISSIZED = "size must exactly match"

    def __init__(self, threads: int = 1) -> None:
        import decord  # noqa: F401  (fails here, not at first use, when missing)

        # One thread per reader: DataLoader workers and the cache pool already parallelise.
        self.threads = threads
        self._warned: set[str] = set()

    def _open(self, path: Path) -> Any:
        import decord

        try:
            return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=self.threads)
        except (decord.DECORDError, RuntimeError, ValueError) as error:
            raise VideoDecodeError(path, _short(error)) from error

    def _fallback(self, path: Path, error: Exception) -> VideoBackend:
        """PyAV for a video decord mis-sizes; re-raise anything else as the file's error."""
        if self._MISSIZED not in str(error):
            raise VideoDecodeError(path, _short(error)) from error
        if str(path) not in self._warned:
            self._warned.add(str(path))
            log.warning("decord mis-sizes the frames of %s; decoding it with PyAV", path)
        return get_backend("pyav", self.threads)

    def probe(self, path: Path) -> VideoInfo:
        reader = self._open(path)
        height, width = reader[0].shape[:2] if len(reader) else (0, 0)
        return VideoInfo(len(reader), float(reader.get_avg_fps()), int(width), int(height))

    def read(self, path: Path, indices: np.ndarray) -> np.ndarray:
        import decord

        reader = self._open(path)
        _check_range(path, indices, len(reader))
        try:
            return reader.get_batch(indices.tolist()).asnumpy()
        except (decord.DECORDError, RuntimeError, ValueError) as error:
            return self._fallback(path, error).read(path, indices)

    def iterate(self, path: Path, chunk: int) -> Iterator[np.ndarray]:
        import decord

        reader = self._open(path)
        total = len(reader)
        for start in range(0, total, chunk):
            try:
                batch = reader.get_batch(list(range(start, min(start + chunk, total))))
            except (decord.DECORDError, RuntimeError, ValueError) as error:
                if start:  # mis-sizing shows on the first chunk; later errors are damage
                    raise VideoDecodeError(path, _short(error)) from error
                yield from self._fallback(path, error).iterate(path, chunk)
                return
            yield batch.asnumpy()


class PyAVBackend:
    """PyAV: seek to the key frame before the first wanted frame, decode forward.

    Frame ``i`` is the packet with the ``i``-th smallest presentation timestamp, found by
    demuxing (cheap: no decoding) and cached per file version, so random clips from one
    video pay for the demux once per process.
    """

    name = "pyav"
    _TABLE_CACHE = 64

    def __init__(self, threads: int = 1) -> None:
        import av  # noqa: F401

        self.threads = threads
        self._tables: OrderedDict[tuple[str, int, int], tuple[np.ndarray, VideoInfo]] = (
            OrderedDict()
        )

    def _table(self, path: Path) -> tuple[np.ndarray, VideoInfo]:
        """Sorted presentation timestamps of every frame, and the stream's info."""
        import av

        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key in self._tables:
            self._tables.move_to_end(key)
            return self._tables[key]
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise VideoDecodeError(path, "the file has no video stream")
                stream = container.streams.video[0]
                pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size]
                if stream.frames > len(pts):
                    raise VideoDecodeError(
                        path,
                        f"the file is truncated: its header lists {stream.frames} frames but "
                        f"only {len(pts)} are present",
                    )
                rate = stream.average_rate or stream.guessed_rate or Fraction(0)
                info = VideoInfo(
                    len(pts),
                    float(rate),
                    int(stream.codec_context.width),
                    int(stream.codec_context.height),
                )
        except av.FFmpegError as error:
            raise VideoDecodeError(path, _short(error)) from error
        table = (np.sort(np.asarray(pts, dtype=np.int64)), info)
        self._tables[key] = table
        if len(self._tables) > self._TABLE_CACHE:
            self._tables.popitem(last=False)
        return table

    def probe(self, path: Path) -> VideoInfo:
        return self._table(path)[1]

    def read(self, path: Path, indices: np.ndarray) -> np.ndarray:
        import av

        table, _ = self._table(path)
        _check_range(path, indices, len(table))
        wanted = {int(table[i]): None for i in np.unique(indices)}
        pending = set(wanted)
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO" if self.threads != 1 else "SLICE"
                stream.codec_context.thread_count = self.threads
                container.seek(min(pending), backward=True, any_frame=False, stream=stream)
                last = max(pending)
                for frame in container.decode(stream):
                    if frame.pts in pending:
                        wanted[frame.pts] = frame.to_ndarray(format="rgb24")
                        pending.discard(frame.pts)
                    if not pending or (frame.pts is not None and frame.pts > last):
                        break
        except av.FFmpegError as error:
            raise VideoDecodeError(path, _short(error)) from error
        if pending:
            missing = [int(np.searchsorted(table, p)) for p in sorted(pending)][:5]
            raise VideoDecodeError(
                path, f"frames {missing} are listed in the file but could not be decoded"
            )
        return np.stack([wanted[int(table[i])] for i in indices])

    def iterate(self, path: Path, chunk: int) -> Iterator[np.ndarray]:
        import av

        table, _ = self._table(path)
        done, batch = 0, []
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO" if self.threads != 1 else "SLICE"
                for frame in container.decode(stream):
                    batch.append(frame.to_ndarray(format="rgb24"))
                    if len(batch) == chunk:
                        done += len(batch)
                        yield np.stack(batch)
                        batch = []
        except av.FFmpegError as error:
            raise VideoDecodeError(path, _short(error)) from error
        if batch:
            done += len(batch)
            yield np.stack(batch)
        if done != len(table):
            raise VideoDecodeError(path, f"decoded {done} frames but the file lists {len(table)}")


class TorchCodecBackend:
    """torchcodec's exact-seek decoder (needs the system's FFmpeg shared libraries).

    ``import torchcodec`` succeeds without FFmpeg (it loads its FFmpeg-linked libraries
    lazily), so availability is decided by loading them here, up front.
    """

    name = "torchcodec"

    def __init__(self, threads: int = 1) -> None:
        from torchcodec.decoders import VideoDecoder

        try:
            from torchcodec._internally_replaced_utils import load_core_libraries
        except ImportError:  # moved in another release: the first decode will tell instead
            load_core_libraries = None
        if load_core_libraries is not None:
            try:
                load_core_libraries()
            except RuntimeError as error:
                raise RuntimeError(
                    "torchcodec cannot load FFmpeg's shared libraries (libavcodec ...) or "
                    "does not match this torch; install FFmpeg (e.g. apt install ffmpeg) or "
                    "use backend=decord"
                ) from error
        self._decoder_class = VideoDecoder
        self.threads = threads

    def _open(self, path: Path) -> Any:
        try:
            return self._decoder_class(
                str(path), seek_mode="exact", num_ffmpeg_threads=self.threads
            )
        except (RuntimeError, ValueError) as error:
            raise VideoDecodeError(path, _short(error)) from error

    def probe(self, path: Path) -> VideoInfo:
        meta = self._open(path).metadata
        return VideoInfo(
            int(meta.num_frames or 0),
            float(meta.average_fps or 0.0),
            int(meta.width or 0),
            int(meta.height or 0),
        )

    def read(self, path: Path, indices: np.ndarray) -> np.ndarray:
        decoder = self._open(path)
        _check_range(path, indices, int(decoder.metadata.num_frames or 0))
        try:
            batch = decoder.get_frames_at(indices.tolist()).data
        except (RuntimeError, ValueError, IndexError) as error:
            raise VideoDecodeError(path, _short(error)) from error
        return batch.permute(0, 2, 3, 1).contiguous().numpy()

    def iterate(self, path: Path, chunk: int) -> Iterator[np.ndarray]:
        decoder = self._open(path)
        total = int(decoder.metadata.num_frames or 0)
        for start in range(0, total, chunk):
            try:
                batch = decoder.get_frames_in_range(start, min(start + chunk, total)).data
            except (RuntimeError, ValueError, IndexError) as error:
                raise VideoDecodeError(path, _short(error)) from error
            yield batch.permute(0, 2, 3, 1).contiguous().numpy()


_FACTORIES: dict[str, Callable[[int], VideoBackend]] = {
    "decord": DecordBackend,
    "pyav": PyAVBackend,
    "torchcodec": TorchCodecBackend,
}
ALIASES = {"av": "pyav", "PyAV": "pyav"}
_backends: dict[tuple[str, int], VideoBackend] = {}
_unavailable: dict[str, str] = {}


def _short(error: BaseException) -> str:
    """First line of a library error: decord appends a C++ stack trace to its messages."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _check_range(path: Path, indices: np.ndarray, num_frames: int) -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= num_frames):
        bad = indices[(indices < 0) | (indices >= num_frames)][:5].tolist()
        raise VideoDecodeError(
            path,
            f"frame indices {bad} are outside the video's {num_frames} frames (valid: 0 to "
            f"{num_frames - 1})",
            hint="Probe the video (probe_video) and keep indices below num_frames; a label "
            "file longer than its video is the usual cause.",
        )


class BackendUnavailableError(SportsRecError, RuntimeError):
    """The requested decoding library is unknown, not installed or cannot load its FFmpeg."""


def get_backend(name: str = "decord", threads: int = 1) -> VideoBackend:
    """The backend ``name`` (one instance per process and thread count).

    ``"auto"`` is the first that loads here in the order decord, PyAV, torchcodec: decord has
    no wheels off x86_64 (e.g. Apple silicon), where PyAV then decodes.
    """
    name = ALIASES.get(name, name)
    if name == "auto":
        available = available_backends()
        if not available:
            raise BackendUnavailableError(
                f"no video backend loads here: {unavailable_backends()}; install av or decord"
            )
        name = available[0]
    if name not in _FACTORIES:
        raise BackendUnavailableError(
            f"unknown video backend {name!r}; choose one of {[*_FACTORIES, 'auto']}"
        )
    key = (name, threads)
    if key not in _backends:
        try:
            _backends[key] = _FACTORIES[name](threads)
        except (ImportError, OSError, RuntimeError) as error:
            _unavailable[name] = _short(error)
            raise BackendUnavailableError(
                f"video backend {name!r} is unavailable ({_short(error)}); use one of "
                f"{available_backends()}"
            ) from error
    return _backends[key]


def unavailable_backends() -> dict[str, str]:
    """``{backend: why it cannot be used}`` for each backend that fails to load here."""
    for name in _FACTORIES:
        if name in _unavailable or any(k[0] == name for k in _backends):
            continue
        try:
            importlib.invalidate_caches()
            _backends[(name, 1)] = _FACTORIES[name](1)
        except (ImportError, OSError, RuntimeError) as error:
            _unavailable[name] = _short(error)
    return dict(_unavailable)


def available_backends() -> list[str]:
    """Names of the backends that load on this machine, default first."""
    missing = unavailable_backends()
    return [name for name in _FACTORIES if name not in missing]


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(
            path,
            "no such file" if not path.exists() else "not a regular file",
            hint="Check the path (data.root and the dataset layout).",
        )
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "the file is empty")
    return path


def probe_video(path: str | Path, backend: str = "decord") -> VideoInfo:
    """Frame count, average fps and frame size of ``path``."""
    path = _existing(path)
    info = get_backend(backend).probe(path)
    if info.num_frames <= 0:
        raise VideoDecodeError(path, "the video stream holds no frames")
    return info


def read_frames(
    path: str | Path,
    indices: Sequence[int] | np.ndarray,
    backend: str = "decord",
    size: tuple[int, int] | None = None,
    resize: str = "stretch",
    threads: int = 1,
) -> np.ndarray:
    """Frames ``indices`` of ``path`` as uint8 RGB ``[T, H, W, 3]``, in the order given.

    Args:
        path: video file.
        indices: frame numbers (0-based, repeats allowed); every backend returns the same
            frames for the same indices.
        backend: ``"decord"``, ``"pyav"``, ``"torchcodec"`` or ``"auto"`` (the first of
            those that loads here).
        size: ``(height, width)`` to resize to (see :func:`resize_frames`); ``None`` keeps
            the decoded size.
        resize: ``"stretch"`` or ``"short_side_crop"`` (only used with ``size``).
        threads: decoder threads; 1 suits DataLoader workers, which already run in parallel.
    """
    path = _existing(path)
    wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
    frames = get_backend(backend, threads).read(path, wanted)
    if size is not None:
        frames = resize_frames(frames, size, resize)
    return frames


def iter_frames(
    path: str | Path, chunk: int = 32, backend: str = "decord", threads: int = 1
) -> Iterator[np.ndarray]:
    """Every frame of ``path`` in order as uint8 RGB chunks ``[<=chunk, H, W, 3]``.

    Decodes sequentially (no seeking), the cheapest way to read a whole video, while holding
    only ``chunk`` full-size frames in memory; the frame cache builds its entries with it.
    """
    return get_backend(backend, threads).iterate(_existing(path), chunk)


def resize_frames(frames: np.ndarray, size: tuple[int, int], mode: str = "stretch") -> np.ndarray:
    """Resize uint8 ``[T, H, W, 3]`` frames to ``size = (h, w)``.

    ``"stretch"`` scales straight to ``(h, w)`` (the study resizes frames to 112x112);
    ``"short_side_crop"`` scales the short side to ``128/112`` of the crop's short side and
    centre-crops ``(h, w)`` (MMAction2's C3D recipe: 128 then a 112 crop). Antialiased
    bilinear on uint8, so cached frames and direct decodes match exactly.
    """
    if mode not in RESIZE_MODES:
        raise ConfigError(f"unknown resize mode {mode!r}; choose one of {list(RESIZE_MODES)}")
    height, width = int(size[0]), int(size[1])
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    if mode == "stretch":
        if tensor.shape[-2:] != (height, width):
            tensor = tvf.resize(tensor, [height, width], antialias=True)
    else:
        short = round(min(height, width) * SHORT_SIDE_RATIO)
        in_h, in_w = tensor.shape[-2:]
        scale = short / min(in_h, in_w)
        scaled = (max(height, round(in_h * scale)), max(width, round(in_w * scale)))
        tensor = tvf.resize(tensor, list(scaled), antialias=True)
        tensor = tvf.center_crop(tensor, [height, width])
    return tensor.permute(0, 2, 3, 1).contiguous().numpy()


def _encoder() -> str:
    """libx264 when this PyAV wheel ships it (smaller, better), else FFmpeg's mpeg4."""
    import av

    for name in ("libx264", "mpeg4"):
        try:
            av.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        return name
    raise VideoDecodeError("this PyAV build has neither the libx264 nor the mpeg4 encoder")


class VideoWriter:
    """Write uint8 RGB frames to an mp4 one chunk at a time (any length, flat memory).

    ``with VideoWriter(path, fps) as out: out.write(frames)`` - the frame size is fixed by the
    first chunk. The file is written under a temporary name in the same folder and renamed
    when the block ends without an error, so a reader never sees a half-written video (an
    error leaves nothing behind). H.264 (libx264) is used when available, else MPEG-4
    part 2. ``quality`` is x264's CRF (lower is better; 18 is visually lossless);
    ``lossless=True`` encodes with CRF 0 in 4:4:4, which tests use to compare decoders pixel
    by pixel. Odd widths and heights are kept: 4:2:0 chroma needs even sizes, so those
    videos are encoded in 4:4:4 (libx264) or padded by one edge pixel (mpeg4, 4:2:0 only).
    """

    def __init__(
        self, path: str | Path, fps: float, quality: int = 18, lossless: bool = False
    ) -> None:
        self.path = Path(path)
        self.fps = fps
        self.quality = quality
        self.lossless = lossless
        self.frames_written = 0
        self._container: Any = None
        self._stream: Any = None
        self._pad: tuple[int, int] = (0, 0)
        self._staging: Path | None = None

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = staging_file(self.path)
        return self

    def _open(self, height: int, width: int) -> None:
        import av

        codec = _encoder()
        odd = height % 2 or width % 2
        options: dict[str, str]
        if codec == "libx264":
            pix_fmt = "yuv444p" if odd or self.lossless else "yuv420p"
            options = {"crf": "0" if self.lossless else str(self.quality), "preset": "medium"}
        else:
            pix_fmt = "yuv420p"
            self._pad = (height % 2, width % 2)
            options = {"qscale": "1" if self.lossless else "3"}
        rate = Fraction(self.fps).limit_denominator(1001)
        self._container = av.open(str(self._staging), mode="w", format="mp4")
        stream = self._container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height = width + self._pad[1], height + self._pad[0]
        stream.pix_fmt = pix_fmt
        if codec == "mpeg4":
            stream.codec_context.qscale = int(options["qscale"])
        self._stream = stream
        self._size = (height, width)

    def write(self, frames: np.ndarray | Sequence[np.ndarray]) -> None:
        """Append frames ``[T, H, W, 3]`` (or one ``[H, W, 3]``), uint8 RGB."""
        import av

        array = np.asarray(frames if isinstance(frames, np.ndarray) else np.stack(list(frames)))
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8 or not len(array):
            raise VideoDecodeError(
                self.path,
                "frames must be a non-empty uint8 array [T, H, W, 3], got "
                f"{array.dtype} {array.shape}",
                hint="Convert with np.asarray(frames, dtype=np.uint8) in RGB order.",
            )
        if self._container is None:
            self._open(*array.shape[1:3])
        elif array.shape[1:3] != self._size:
            raise VideoDecodeError(
                self.path,
                f"frames of {array.shape[1:3]} after frames of {self._size}",
                hint="Every frame of one video must have the same height and width.",
            )
        if any(self._pad):
            array = np.pad(array, ((0, 0), (0, self._pad[0]), (0, self._pad[1]), (0, 0)), "edge")
        for frame in array:
            self._container.mux(self._stream.encode(av.VideoFrame.from_ndarray(frame, "rgb24")))
        self.frames_written += len(array)

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        assert self._staging is not None
        try:
            if self._container is not None:
                if kind is None:
                    self._container.mux(self._stream.encode())
                self._container.close()
            if kind is None:
                if not self.frames_written:
                    raise VideoDecodeError(
                        self.path, "no frames were written", hint="Write at least one frame."
                    )
                os.replace(self._staging, self.path)
        finally:
            self._staging.unlink(missing_ok=True)


def write_video(
    path: str | Path,
    frames: np.ndarray | Sequence[np.ndarray],
    fps: float,
    quality: int = 18,
    lossless: bool = False,
) -> Path:
    """Write uint8 RGB frames ``[T, H, W, 3]`` to an mp4 at ``fps``; returns the path.

    The whole video at once; :class:`VideoWriter` writes chunk by chunk (same encoding).
    """
    with VideoWriter(path, fps, quality, lossless) as writer:
        writer.write(frames)
    return Path(path)
