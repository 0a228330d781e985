"""Video decoding backends (frame-accurate, same frames everywhere), bad files, and the
decoded-frame cache (hits, misses, rebuilds, resolutions, two processes racing)."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest

from sports_rec.data.io import frame_cache as frame_cache_module
from sports_rec.data.io import video_io
from sports_rec.data.io.frame_cache import FrameCache, FrameCacheError, ensure_cached
from sports_rec.data.io.video_io import (
    BackendUnavailableError,
    VideoDecodeError,
    VideoInfo,
    VideoWriter,
    available_backends,
    get_backend,
    iter_frames,
    probe_video,
    read_frames,
    resize_frames,
    unavailable_backends,
    write_video,
)
from sports_rec.errors import ConfigError

BITS = 6  # frame numbers up to 63
FRAMES = 40
HEIGHT, WIDTH = 48, 96  # blocks of 24x32 px: robust to any codec loss


def coded_frames(num: int = FRAMES, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Frames whose index is written in binary as 6 black/white blocks (2 rows x 3)."""
    frames = np.zeros((num, height, width, 3), np.uint8)
    bh, bw = height // 2, width // 3
    for t in range(num):
        for bit in range(BITS):
            if t >> bit & 1:
                row, col = divmod(bit, 3)
                frames[t, row * bh : (row + 1) * bh, col * bw : (col + 1) * bw] = 255
    return frames


def frame_numbers(frames: np.ndarray) -> list[int]:
    """Read the binary block code back from decoded frames."""
    height, width = frames.shape[1:3]
    bh, bw = height // 2, width // 3
    numbers = []
    for frame in frames:
        value = 0
        for bit in range(BITS):
            row, col = divmod(bit, 3)
            block = frame[row * bh + 4 : (row + 1) * bh - 4, col * bw + 4 : (col + 1) * bw - 4]
            value |= int(block.mean() > 127) << bit
        numbers.append(value)
    return numbers


@pytest.fixture(scope="module")
def coded_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "coded.mp4", coded_frames(), 25.0)


@pytest.fixture(scope="module")
def noise_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Textured content so the cache's resize is compared on something non-trivial."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (24, 50, 70, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("video") / "noise.mp4", frames, 30.0)


DECODERS = [
    "decord",
    "pyav",
    pytest.param(
        "torchcodec",
        marks=pytest.mark.skipif(
            "torchcodec" not in available_backends(),
            reason=f"torchcodec unavailable: {unavailable_backends().get('torchcodec')}",
        ),
    ),
]


# --- video_io -------------------------------------------------------------------------------


def test_backends_report_availability_with_reasons() -> None:
    available = available_backends()
    assert available[:2] == ["decord", "pyav"]
    for name, reason in unavailable_backends().items():
        assert name not in available
        assert reason  # says why, e.g. the missing module or FFmpeg library


@pytest.mark.parametrize("backend", DECODERS)
def test_probe(coded_video: Path, backend: str) -> None:
    assert probe_video(coded_video, backend) == VideoInfo(FRAMES, 25.0, WIDTH, HEIGHT)


@pytest.mark.parametrize("backend", DECODERS)
def test_random_access_is_frame_accurate(coded_video: Path, backend: str) -> None:
    indices = [17, 3, 39, 0, 17, 22, 21, 38, 5]
    frames = read_frames(coded_video, indices, backend=backend)
    assert frames.shape == (len(indices), HEIGHT, WIDTH, 3)
    assert frames.dtype == np.uint8
    assert frame_numbers(frames) == indices


@pytest.mark.parametrize("backend", [d for d in DECODERS if d != "decord"])
def test_backends_return_the_same_pixels(noise_video: Path, backend: str) -> None:
    indices = [20, 2, 11, 11, 23]
    reference = read_frames(noise_video, indices, backend="decord").astype(np.int16)
    other = read_frames(noise_video, indices, backend=backend).astype(np.int16)
    assert np.abs(reference - other).max() <= 1


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_iter_frames_matches_random_access(coded_video: Path, backend: str) -> None:
    chunks = list(iter_frames(coded_video, chunk=16, backend=backend))
    assert [len(c) for c in chunks] == [16, 16, 8]
    assert frame_numbers(np.concatenate(chunks)) == list(range(FRAMES))


@pytest.mark.parametrize("shape", [(31, 45), (30, 45), (31, 44)])
def test_write_video_keeps_odd_sizes(tmp_path: Path, shape: tuple[int, int]) -> None:
    frames = coded_frames(8, *shape)
    path = write_video(tmp_path / "odd.mp4", frames, 12.5)
    assert probe_video(path) == VideoInfo(8, 12.5, shape[1], shape[0])
    assert read_frames(path, [7]).shape == (1, *shape, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["odd.mp4"]  # no staging file left


def test_video_writer_streams_chunks_and_leaves_nothing_on_error(tmp_path: Path) -> None:
    frames = coded_frames(FRAMES)
    with VideoWriter(tmp_path / "streamed.mp4", 25.0) as writer:
        for start in range(0, FRAMES, 16):  # chunks of 16, 16 and 8 frames
            writer.write(frames[start : start + 16])
        writer.write(frames[0])  # a single frame is one more
    path = tmp_path / "streamed.mp4"
    assert writer.frames_written == FRAMES + 1 and probe_video(path).num_frames == FRAMES + 1
    assert frame_numbers(read_frames(path, [0, 17, 39, 40])) == [0, 17, 39, 0]
    broken = VideoWriter(tmp_path / "broken.mp4", 25.0)
    with pytest.raises(VideoDecodeError, match="same height and width"), broken as writer:
        writer.write(frames[:4])
        writer.write(coded_frames(2, 50, 96))
    interrupted = VideoWriter(tmp_path / "interrupted.mp4", 25.0)
    with pytest.raises(RuntimeError, match="interrupted"), interrupted as writer:
        writer.write(frames[:4])
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.mp4"]


def test_mpeg4_fallback_pads_odd_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libx264 the wheel's mpeg4 encoder (4:2:0 only) is used; odd sizes gain a row
    or column copied from the edge."""
    monkeypatch.setattr(video_io, "_encoder", lambda: "mpeg4")
    path = write_video(tmp_path / "mpeg4.mp4", coded_frames(10, 47, 95), 25.0)
    assert probe_video(path) == VideoInfo(10, 25.0, 96, 48)
    assert frame_numbers(read_frames(path, [9, 2])[:, :47, :95]) == [9, 2]


def test_written_files_get_normal_permissions(tmp_path: Path, coded_video: Path) -> None:
    """Staging files come from mkstemp (0600); shared datasets and caches must not."""
    old = os.umask(0o022)
    try:
        video = write_video(tmp_path / "shared.mp4", coded_frames(4), 25.0)
        entry = FrameCache(tmp_path / "cache", workers=0, progress=False).ensure([video])
    finally:
        os.umask(old)
    for path in (video, entry[str(video)], entry[str(video)].with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_lossless_write_round_trips(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (4, 16, 24, 3), dtype=np.uint8)
    path = write_video(tmp_path / "lossless.mp4", frames, 25.0, lossless=True)
    decoded = read_frames(path, range(4)).astype(np.int16)
    # Lossless in YUV 4:4:4: only the RGB <-> YUV conversion rounds.
    assert np.abs(decoded - frames).max() <= 2


def test_decord_missized_widths_fall_back_to_pyav(tmp_path: Path) -> None:
    """decord 0.6 returns 4-channel buffers for 72 px wide frames and cannot copy them."""
    path = write_video(tmp_path / "narrow.mp4", coded_frames(12, 48, 72), 25.0)
    frames = read_frames(path, [11, 4], backend="decord")
    assert frames.shape == (2, 48, 72, 3)
    assert frame_numbers(frames) == [11, 4]
    whole = np.concatenate(list(iter_frames(path, chunk=5, backend="decord")))
    assert frame_numbers(whole) == list(range(12))


def test_read_frames_resizes(coded_video: Path) -> None:
    frames = read_frames(coded_video, [9, 30], size=(24, 36))
    assert frames.shape == (2, 24, 36, 3)
    assert frame_numbers(frames) == [9, 30]


def test_short_side_crop_keeps_the_centre() -> None:
    frames = np.zeros((1, 100, 300, 3), np.uint8)
    frames[:, :, :50] = 255  # a white band at the left edge, outside any centre crop
    frames[:, :, 120:180, 1] = 200  # a green stripe in the middle
    out = resize_frames(frames, (56, 56), "short_side_crop")
    # short side 100 -> 64 (128/112 of 56): 64x192, centre 56x56 = columns 68..124 of 192
    assert out.shape == (1, 56, 56, 3)
    assert out[..., 0].max() == 0  # the white band is cropped away
    assert out[0, 28, 28, 1] == 200  # the stripe is in the middle
    stretched = resize_frames(frames, (56, 56), "stretch")
    assert stretched[0, 28, 0, 0] == 255  # stretching keeps the band
    with pytest.raises(ConfigError, match="'squash'"):
        resize_frames(frames, (56, 56), "squash")


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(VideoDecodeError, match=r"nope\.mp4.*no such file"):
        probe_video(missing)
    with pytest.raises(VideoDecodeError, match=r"nope\.mp4"):
        read_frames(missing, [0])


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_not_a_video(tmp_path: Path, backend: str) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoDecodeError, match=r"notes\.mp4.*re-encode it"):
        probe_video(text, backend)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoDecodeError, match=r"empty\.mp4.*empty"):
        read_frames(empty, [0], backend)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_truncated_video(tmp_path: Path, noise_video: Path, backend: str) -> None:
    data = noise_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match=r"cut\.mp4"):
        read_frames(cut, [0, 20], backend)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_indices_out_of_range(coded_video: Path, backend: str) -> None:
    with pytest.raises(VideoDecodeError, match=r"coded\.mp4.*\[40, 41\].*40 frames"):
        read_frames(coded_video, [39, 40, 41], backend)
    with pytest.raises(VideoDecodeError, match=r"\[-1\]"):
        read_frames(coded_video, [-1, 3], backend)


def test_auto_backend_picks_the_first_available(coded_video: Path) -> None:
    assert get_backend("auto") is get_backend(available_backends()[0])
    assert frame_numbers(read_frames(coded_video, [6], backend="auto")) == [6]


def test_unknown_backend(coded_video: Path) -> None:
    with pytest.raises(BackendUnavailableError, match=r"'ffmpeg-cli'.*decord"):
        read_frames(coded_video, [0], backend="ffmpeg-cli")


def test_write_video_rejects_bad_frames(tmp_path: Path) -> None:
    with pytest.raises(VideoDecodeError, match=r"bad\.mp4.*uint8"):
        write_video(tmp_path / "bad.mp4", np.zeros((3, 8, 8, 3), np.float32), 25.0)
    with pytest.raises(VideoDecodeError, match=r"\[T, H, W, 3\]"):
        write_video(tmp_path / "bad.mp4", np.zeros((3, 8, 8), np.uint8), 25.0)


def test_decode_error_survives_a_worker_round_trip(tmp_path: Path) -> None:
    """DataLoader workers send errors back pickled: class and message must survive."""
    error = VideoDecodeError(tmp_path / "x.mp4", "broken")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is VideoDecodeError
    assert str(copy) == str(error)


# --- frame cache ----------------------------------------------------------------------------


@pytest.fixture
def decode_counter(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every whole-video decode the cache performs in this process."""
    calls: list[str] = []
    real = frame_cache_module.iter_frames

    def counting(path: str, *args: object, **kwargs: object) -> object:
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(frame_cache_module, "iter_frames", counting)
    return calls


def copy_video(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    return target


def test_cache_miss_then_hit(tmp_path: Path, noise_video: Path, decode_counter: list) -> None:
    cache = FrameCache(tmp_path / "cache", size=(20, 28), workers=0, progress=False)
    entries = cache.ensure([noise_video])
    assert decode_counter == [str(noise_video.absolute())]
    entry = entries[str(noise_video)]
    built_at = entry.stat().st_mtime_ns
    again = FrameCache(tmp_path / "cache", size=(20, 28), workers=0, progress=False)
    assert again.ensure([noise_video]) == entries
    assert len(decode_counter) == 1  # the second ensure decoded nothing
    assert entry.stat().st_mtime_ns == built_at
    sidecar = entry.with_suffix(".json").read_text()
    assert str(noise_video.absolute()) in sidecar
    assert sorted(p.suffix for p in entry.parent.iterdir()) == [".json", ".npy"]


@pytest.mark.parametrize("resize", ["stretch", "short_side_crop"])
def test_cached_frames_equal_direct_decode(tmp_path: Path, noise_video: Path, resize: str) -> None:
    cache = FrameCache(tmp_path, size=(16, 16), resize=resize, workers=0, progress=False)
    frames = cache.frames(noise_video)
    assert isinstance(frames, np.memmap)
    assert not frames.flags.writeable
    direct = read_frames(noise_video, range(24), size=(16, 16), resize=resize)
    np.testing.assert_array_equal(frames, direct)
    clip = cache.clip(noise_video, 3, 5, step=2)
    np.testing.assert_array_equal(clip, direct[3:12:2])


def test_cache_native_size(tmp_path: Path, coded_video: Path) -> None:
    frames = FrameCache(tmp_path, size=None, workers=0, progress=False).frames(coded_video)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert frame_numbers(frames) == list(range(FRAMES))


def test_cache_rebuilds_a_changed_video(
    tmp_path: Path, coded_video: Path, noise_video: Path, decode_counter: list
) -> None:
    video = copy_video(coded_video, tmp_path / "clip.mp4")
    cache = FrameCache(tmp_path / "cache", size=(24, 36), workers=0, progress=False)
    old_entry = cache.ensure([video])[str(video)]
    assert len(cache.frames(video)) == FRAMES
    copy_video(noise_video, video)
    os.utime(video, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    new_entry = cache.ensure([video])[str(video)]
    assert new_entry != old_entry
    assert len(decode_counter) == 2
    assert not old_entry.exists()  # the outdated version is removed
    direct = read_frames(noise_video, range(24), size=(24, 36))
    np.testing.assert_array_equal(cache.frames(video), direct)


def test_resolution_is_part_of_the_key(
    tmp_path: Path, coded_video: Path, decode_counter: list
) -> None:
    small = FrameCache(tmp_path, size=(24, 36), workers=0, progress=False)
    large = FrameCache(tmp_path, size=(32, 48), workers=0, progress=False)
    cropped = FrameCache(tmp_path, size=(24, 36), resize="short_side_crop", progress=False)
    entries = {c.ensure([coded_video])[str(coded_video)] for c in (small, large, cropped)}
    assert len(entries) == 3 and all(e.is_file() for e in entries)
    assert large.frames(coded_video).shape == (FRAMES, 32, 48, 3)
    assert small.frames(coded_video).shape == (FRAMES, 24, 36, 3)
    assert len(decode_counter) == 3


def test_cache_pool_builds_several_videos(
    tmp_path: Path, coded_video: Path, noise_video: Path
) -> None:
    videos = [coded_video, noise_video, copy_video(noise_video, tmp_path / "third.mp4")]
    cache = ensure_cached(videos, tmp_path / "cache", size=(24, 48), workers=2, progress=False)
    assert all(cache.is_cached(v) for v in videos)
    assert frame_numbers(cache.frames(coded_video)) == list(range(FRAMES))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3


def _race(cache_dir: str, videos: list[str], out: multiprocessing.Queue) -> None:
    decoded: list[str] = []
    real = frame_cache_module.iter_frames

    def counting(path: str, *args: object, **kwargs: object) -> object:
        decoded.append(path)
        return real(path, *args, **kwargs)

    frame_cache_module.iter_frames = counting  # this forked process only
    cache = ensure_cached(videos, cache_dir, size=(24, 36), workers=0, progress=False)
    out.put((len(decoded), [frame_numbers(cache.frames(v)) for v in videos]))


def test_two_processes_race_on_the_same_videos(
    tmp_path: Path, coded_video: Path, noise_video: Path
) -> None:
    videos = [str(coded_video)] + [
        str(copy_video(coded_video, tmp_path / f"copy{i}.mp4")) for i in range(3)
    ]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    racers = [
        context.Process(target=_race, args=(str(tmp_path / "cache"), videos, results))
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    found = [results.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    assert [frames for _, frames in found] == [[list(range(FRAMES))] * len(videos)] * 2
    assert sum(decoded for decoded, _ in found) == len(videos)  # each video decoded once
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(names) == 2 * len(videos)  # one .npy and one .json each: no temp files
    assert all(not n.startswith(".") and n.endswith((".npy", ".json")) for n in names)


def test_cache_reports_undecodable_videos(tmp_path: Path, coded_video: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video" * 100)
    cache = FrameCache(tmp_path / "cache", workers=0, progress=False)
    with pytest.raises(FrameCacheError, match=r"(?s)1 of 2 videos.*broken\.mp4.*re-encode it"):
        cache.ensure([coded_video, broken])
    assert cache.is_cached(coded_video)  # the good one is kept
    assert not list((tmp_path / "cache").glob(".*"))  # no staging file left behind


def test_cache_refuses_a_video_changed_while_building(
    tmp_path: Path, coded_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = copy_video(coded_video, tmp_path / "growing.mp4")
    real = frame_cache_module.iter_frames

    def touched_midway(path: str, *args: object, **kwargs: object) -> object:
        os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(frame_cache_module, "iter_frames", touched_midway)
    cache = FrameCache(tmp_path / "cache", workers=0, progress=False)
    with pytest.raises(FrameCacheError, match=r"(?s)growing\.mp4 changed while"):
        cache.ensure([video])
    assert not list((tmp_path / "cache").glob("*.npy"))


def test_cache_rejects_bad_settings_and_clips(tmp_path: Path, coded_video: Path) -> None:
    with pytest.raises(FrameCacheError, match="'squash'"):
        FrameCache(tmp_path, resize="squash")
    with pytest.raises(FrameCacheError, match="workers"):
        FrameCache(tmp_path, workers=-1)
    cache = FrameCache(tmp_path, size=(16, 16), workers=0, progress=False)
    with pytest.raises(FrameCacheError, match=r"start=30 length=16.*40 frames.*coded\.mp4"):
        cache.clip(coded_video, 30, 16)
    with pytest.raises(VideoDecodeError, match=r"missing\.mp4"):
        cache.frames(tmp_path / "missing.mp4")


def test_cache_pickles_without_open_maps(tmp_path: Path, coded_video: Path) -> None:
    cache = FrameCache(tmp_path, size=(16, 16), workers=0, progress=False)
    cache.frames(coded_video)
    copy = pickle.loads(pickle.dumps(cache))
    assert copy._maps == {}
    np.testing.assert_array_equal(copy.clip(coded_video, 0, 4), cache.clip(coded_video, 0, 4))
