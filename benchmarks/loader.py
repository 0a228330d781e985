"""Images/s of the training input pipeline against torchvision's ImageFolder, decoding
each image and reading it from the decoded-image store (``data.dataset.cache``), beside what
the model consumes; and what the start-up check costs with and without writing the store.

Photos are generated in the sports100 folder layout (``train/<class>/*.jpg``) at the sizes
asked for. *ImageFolder*: ``torchvision.datasets.ImageFolder`` with RandomResizedCrop, flip,
ToTensor, Normalize (full decode). *decode*: the training dataset and transform of
``conf/transforms/default.yaml`` (draft JPEG decoding capped at 2 x the input size, no
store). *store*: the same dataset reading the store its start-up check wrote
(``data.dataset.cache=true``). *model*: training images/s of ``--model`` at the input size
(forward + backward + AdamW), the rate loading must keep ahead of. The second table times
the start-up check: the plain one (``data.dataset.cache=false``: every image decoded at
1/8 scale), the one that writes the store (decoding at the cap), the one that finds it
current (a ``stat`` per file), and says what ``auto`` chose.

    python benchmarks/loader.py --photo-sizes 1000 2000 4000 --count 200 --workers 0 2
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import timm
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

from sports_rec.data.datasets import ImageDataset
from sports_rec.data.io import image_store
from sports_rec.data.transforms import IMAGENET_MEAN, IMAGENET_STD, image_transforms


def make_photos(root: Path, count: int, side: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        folder = root / "train" / f"class{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)  # smooth, photo-like JPEG
        image = Image.fromarray(small).resize((side * 4 // 3, side), Image.BILINEAR)
        paths.append(folder / f"{i:04d}.jpg")
        image.save(paths[-1], quality=90)
    return paths


def images_per_second(dataset, workers: int, batch: int) -> float:
    loader = DataLoader(
        dataset, batch_size=batch, num_workers=workers, shuffle=False, persistent_workers=False
    )
    start = time.perf_counter()
    seen = 0
    for item in loader:
        seen += len(item[1] if isinstance(item, list | tuple) else item["label"])
    return seen / (time.perf_counter() - start)


def model_rate(name: str, size: int, batch: int) -> float:
    net = timm.create_model(name, num_classes=4).train()
    optimizer = torch.optim.AdamW(net.parameters())
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 4, (batch,))
    times = []
    for _ in range(4):
        start = time.perf_counter()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return batch / sorted(times[1:])[1]


class _Lines(logging.Handler):
    """Keeps the store's log lines (what auto chose and why)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo-sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="resnet10t")
    parser.add_argument("--no-imagefolder", action="store_true", help="skip the slow baseline")
    args = parser.parse_args()
    size = args.image_size
    folder_tf = v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(size, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    ours_tf = image_transforms(train=True, size=size)
    consumes = model_rate(args.model, size, args.batch_size)
    table = Table(
        title=f"training input pipeline, {size} px input, batch {args.batch_size}; "
        f"{args.model} trains {consumes:.1f} img/s here"
    )
    columns = ("photos", "workers", "ImageFolder", "decode", "store", "store / decode")
    for column in (*columns, "store / model"):
        table.add_column(column, justify="right")
    checks = Table(title=f"{args.count} photos: one image loaded, and the start-up check")
    for column in (
        "photos",
        "JPEGs",
        "store",
        "decode ms/img",
        "store ms/img",
        "plain check s",
        "check + store s",
        "store current s",
        "auto",
    ):
        checks.add_column(column, justify="right")
    lines = _Lines()
    logging.getLogger(image_store.__name__).addHandler(lines)
    logging.getLogger(image_store.__name__).setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.photo_sizes:
            root = Path(tmp) / f"p{side}"
            paths = make_photos(root, args.count, side)
            frame = pd.DataFrame(
                {"path": [str(p) for p in paths], "label": [i % 4 for i in range(len(paths))]}
            )
            options = {"image_size": size, "cache_dir": str(Path(tmp) / f"cache{side}")}
            plain_s, _ = timed(ImageDataset.check_files, frame, **options, cache=False)
            build_s, _ = timed(ImageDataset.check_files, frame, **options, cache=True)
            current_s, _ = timed(ImageDataset.check_files, frame, **options, cache=True)
            lines.lines.clear()
            ImageDataset.check_files(
                frame, **{**options, "cache_dir": str(Path(tmp) / f"auto{side}")}, cache="auto"
            )
            chose = lines.lines[-1].removeprefix("image store: ").split(" - ")[0]
            stored = sum(p.stat().st_size for p in Path(options["cache_dir"]).glob("*/*.bin"))
            jpegs = sum(p.stat().st_size for p in paths)
            load_ms = [
                1e3 * timed(lambda d: [d.load(i) for i in range(len(d))], dataset)[0] / len(paths)
                for dataset in (
                    ImageDataset(frame, image_size=size),
                    ImageDataset(frame, **options, cache=True),
                )
            ]
            checks.add_row(
                f"{side}x{side * 4 // 3}",
                f"{jpegs / 1e6:.0f} MB",
                f"{stored / 1e6:.0f} MB",
                *(f"{ms:.2f}" for ms in load_ms),
                f"{plain_s:.1f}",
                f"{build_s:.1f}",
                f"{current_s:.2f}",
                chose,
            )
            folder = datasets.ImageFolder(str(root / "train"), transform=folder_tf)
            for workers in args.workers:
                plain = ImageDataset(frame, ours_tf, train=True, image_size=size)
                stored_ds = ImageDataset(frame, ours_tf, train=True, **options, cache=True)
                assert stored_ds.store is not None and stored_ds.store.stored == len(paths)
                sets = (plain, stored_ds) if args.no_imagefolder else (folder, plain, stored_ds)
                rates = [images_per_second(d, workers, args.batch_size) for d in sets]
                if args.no_imagefolder:
                    rates.insert(0, float("nan"))
                table.add_row(
                    f"{side}x{side * 4 // 3}",
                    str(workers),
                    *(f"{r:.0f}" for r in rates),
                    f"{rates[2] / rates[1]:.1f}x",
                    f"{rates[2] / consumes:.1f}x",
                )
    console = Console(width=140)
    console.print(table)
    console.print(checks)


if __name__ == "__main__":
    main()
