"""Clip loading speed: direct decoding per backend vs the decoded-frame cache, beside C3D.

Writes its own H.264 test videos (moving figure on a textured background, sized like the
exercise-video data), then measures 16-frame clips/s at 112x112 with random starts through a
DataLoader (batch 8) for each worker count: decord and PyAV decoding every clip, and the
frame cache (decoded once, memory-mapped). The cache's one-off build time is reported, and
C3D's training speed (forward + backward + AdamW, batch 8) at the study's width and a narrow
one shows how many clips per second the model actually consumes.

    python benchmarks/video.py                 # 10 videos of 300 frames at 400x550
    python benchmarks/video.py --quick         # smoke run, well under a minute
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from timing import median_seconds
from torch.utils.data import DataLoader, Dataset

from sports_rec.data.io.frame_cache import FrameCache
from sports_rec.data.io.video_io import available_backends, read_frames, write_video
from sports_rec.models.nets.c3d import C3D


def make_video(path: Path, frames: int, height: int, width: int, seed: int, crf: int) -> Path:
    """A figure-like blob moving over a gradient with sensor noise: realistic bitrate, unlike
    flat colour (too cheap to decode) or pure noise (far too expensive)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack(
        [xs / width * 180 + 40, ys / height * 160 + 50, np.full_like(xs, 90.0)], axis=-1
    )
    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        cy = height * (0.5 + 0.25 * np.sin(t / 15 + seed))
        cx = width * (0.5 + 0.3 * np.cos(t / 23 + seed))
        body = ((ys - cy) / (0.3 * height)) ** 2 + ((xs - cx) / (0.1 * width)) ** 2 < 1
        frame = np.where(body[..., None], (220.0, 190.0, 160.0), background)
        frame = frame + rng.normal(0, 4, frame.shape)
        video[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return write_video(path, video, 30.0, quality=crf)


class DirectClips(Dataset):
    """Decode each clip from the video file (what training does without the cache)."""

    def __init__(self, samples: list[tuple[str, int]], args: argparse.Namespace, backend: str):
        self.samples, self.args, self.backend = samples, args, backend

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> torch.Tensor:
        path, start = self.samples[index]
        frames = read_frames(
            path,
            range(start, start + self.args.clip_len),
            backend=self.backend,
            size=(self.args.size, self.args.size),
        )
        return torch.from_numpy(frames)


class CachedClips(Dataset):
    """Slice each clip out of the memory-mapped cache."""

    def __init__(self, samples: list[tuple[str, int]], args: argparse.Namespace, cache: FrameCache):
        self.samples, self.args, self.cache = samples, args, cache

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> torch.Tensor:
        path, start = self.samples[index]
        return torch.from_numpy(self.cache.clip(path, start, self.args.clip_len))


def clips_per_second(dataset: Dataset, workers: int, batch_size: int) -> float:
    """Throughput after the first batch (worker start-up is a one-off, not steady state)."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    batches = iter(loader)
    next(batches)
    start, count = time.perf_counter(), 0
    for batch in batches:
        count += len(batch)
    return count / (time.perf_counter() - start)


def c3d_train_rate(width: int, args: argparse.Namespace) -> float:
    """Clips/s of C3D training steps (forward + backward + AdamW) at batch ``batch_size``."""
    net = C3D(num_classes=17, width=width)
    clips = torch.randn(args.batch_size, 3, args.clip_len, args.size, args.size)
    labels = torch.randint(0, 17, (args.batch_size,))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(clips), labels).backward()
        optimizer.step()

    step()  # warm-up
    return args.batch_size / median_seconds(step, args.steps)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--frames", type=int, default=300, help="frames per video")
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--width", type=int, default=550)
    parser.add_argument("--crf", type=int, default=23, help="x264 quality of the test videos")
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--size", type=int, default=112, help="training resolution")
    parser.add_argument("--clips", type=int, default=96, help="clips per loader measurement")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--loader-workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache-workers", type=int, default=2, help="processes building")
    parser.add_argument("--backends", nargs="+", default=["decord", "pyav"])
    parser.add_argument(
        "--c3d-widths", type=int, nargs="*", default=[64, 16], help="none: skip the C3D table"
    )
    parser.add_argument("--steps", type=int, default=2, help="timed C3D steps")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep videos/cache here")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 avoids OpenMP spin contention on a busy shared machine)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args()
    if args.quick:
        args.videos, args.frames, args.height, args.width = 2, 48, 120, 160
        args.clips, args.loader_workers, args.c3d_widths, args.steps = 24, [0, 1], [8], 1
    return args


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="video_bench_") as scratch:
        root = args.data_dir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        videos = [
            str(path)
            if (path := root / f"video{i:02d}.mp4").is_file()
            else str(make_video(path, args.frames, args.height, args.width, i, args.crf))
            for i in range(args.videos)
        ]
        console.print(
            f"{len(videos)} videos of {args.frames} frames at {args.height}x{args.width} ready "
            f"in {time.perf_counter() - started:.1f} s (backends here: {available_backends()})"
        )
        rng = np.random.default_rng(0)
        samples = [
            (videos[rng.integers(len(videos))], int(rng.integers(args.frames - args.clip_len)))
            for _ in range(args.clips + args.batch_size)
        ]

        cache = FrameCache(
            Path(scratch) / "cache",
            size=(args.size, args.size),
            workers=args.cache_workers,
        )
        started = time.perf_counter()
        cache.ensure(videos)
        build = time.perf_counter() - started

        rows: list[tuple[str, int, float]] = []
        for workers in args.loader_workers:
            for backend in args.backends:
                rate = clips_per_second(
                    DirectClips(samples, args, backend), workers, args.batch_size
                )
                rows.append((f"direct {backend}", workers, rate))
            rate = clips_per_second(CachedClips(samples, args, cache), workers, args.batch_size)
            rows.append(("frame cache", workers, rate))

    baseline = {w: r for name, w, r in rows if name == f"direct {args.backends[0]}"}
    table = Table(
        title=f"{args.clip_len}-frame clips at {args.size}x{args.size}, random starts, batch "
        f"{args.batch_size}, {torch.get_num_threads()} torch threads"
    )
    for column in ("source", "loader workers", "clips/s", f"x direct {args.backends[0]}"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, workers, rate in rows:
        table.add_row(name, str(workers), f"{rate:.1f}", f"{rate / baseline[workers]:.1f}x")
    console.print(table)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    console.print(
        f"cache build (one-off): {build:.1f} s for {len(videos)} videos x {args.frames} frames "
        f"({len(videos) * args.frames / build:.0f} frames/s, {args.cache_workers} processes); "
        f"load average {load} (other users' processes disturb the timings)"
    )

    if not args.c3d_widths:
        return
    model = Table(title=f"C3D train step (forward + backward + AdamW), batch {args.batch_size}")
    for column in ("width", "params (M)", "train clips/s"):
        model.add_column(column, justify="right")
    for width in args.c3d_widths:
        params = sum(p.numel() for p in C3D(num_classes=17, width=width).parameters()) / 1e6
        model.add_row(str(width), f"{params:.2f}", f"{c3d_train_rate(width, args):.2f}")
    console.print(model)


if __name__ == "__main__":
    main()
