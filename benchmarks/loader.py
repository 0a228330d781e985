"""Images/s of the training input pipeline against torchvision's ImageFolder, with and
without the decoded-image cache (``data.dataset.cache=true``), beside what the model consumes.

Photos are generated in the sports100 folder layout (``train/<class>/*.jpg``) at the sizes
asked for. *ImageFolder*: ``torchvision.datasets.ImageFolder`` with RandomResizedCrop, flip,
ToTensor, Normalize (full decode). *sports_rec*: the training dataset and transform of
``conf/transforms/default.yaml`` (draft JPEG decoding capped at 2 x the input size), cold
(no cache) and with a warm cache. *model*: training images/s of ``--model`` at the input
size (forward + backward + AdamW), the rate loading must keep ahead of.

    python benchmarks/loader.py --photo-sizes 512 2000 4500 --image-size 224 --workers 0 2
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo-sizes", type=int, nargs="+", default=[512, 2000, 4500])
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="resnet10t")
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
    for column in (
        "photos",
        "workers",
        "ImageFolder",
        "sports_rec",
        "sports_rec + cache",
        "cache / ImageFolder",
        "cache / model",
    ):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.photo_sizes:
            root = Path(tmp) / f"p{side}"
            paths = make_photos(root, args.count, side)
            frame = pd.DataFrame(
                {"path": [str(p) for p in paths], "label": [i % 4 for i in range(len(paths))]}
            )
            folder = datasets.ImageFolder(str(root / "train"), transform=folder_tf)
            cache_dir = str(Path(tmp) / f"cache{side}")
            for workers in args.workers:
                plain = ImageDataset(frame, ours_tf, train=True, image_size=size)
                cached = ImageDataset(
                    frame, ours_tf, train=True, image_size=size, cache=True, cache_dir=cache_dir
                )
                images_per_second(cached, 0, args.batch_size)  # fill the cache
                rates = [
                    images_per_second(d, workers, args.batch_size) for d in (folder, plain, cached)
                ]
                table.add_row(
                    f"{side}x{side * 4 // 3}",
                    str(workers),
                    *(f"{r:.0f}" for r in rates),
                    f"{rates[2] / rates[0]:.1f}x",
                    f"{rates[2] / consumes:.1f}x",
                )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
