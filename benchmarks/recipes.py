"""Every image recipe: can its input pipeline keep ahead of its model?

For each recipe (``conf/experiment``) the study's folder layout is generated with the
synthetic generator at a photo size like the real set's, then the recipe is composed exactly
as ``python -m sports_rec.train experiment=...`` composes it (``data.root`` pointing there,
no pretrained weights to download). Two rates, side by side:

* *loading*: images/s of the recipe's training DataLoader with its default workers
  (``data.num_workers=null``: picked from the machine), second epoch (the first pays for
  worker start-up), after the start-up check, which writes the decoded-image store where
  ``data.dataset.cache`` (``--cache``, default ``auto``) says so;
* *model*: images/s of the recipe's net training on those batches under the project's stack
  with the default fast paths (channels_last, fused optimizer step, the default trainer's
  precision), the rate loading must keep ahead of.

The issue's goal: loading >= 2x the model's rate with the default workers, every recipe.

    python benchmarks/recipes.py                      # every image recipe
    python benchmarks/recipes.py --recipes workout/lenet sports100/resnet50 --steps 4
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import lightning as L
from hydra import compose, initialize_config_dir
from overhead import StepTimer
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

import sports_rec
from sports_rec.builders import build_classifier, build_datamodule, data_metadata, plain
from sports_rec.data.synthetic import SyntheticSpec, generate
from sports_rec.data.transforms import resolve_transforms
from sports_rec.utils.resolvers import register_resolvers

#: recipe -> (synthetic layout, photo side like the real set's, classes generated)
RECIPES: dict[str, tuple[str, int, int]] = {
    "sports100/resnet50": ("sports100", 224, 100),  # the set's images are all 224 x 224
    "sports100/mobilenetv2": ("sports100", 224, 100),
    "sports100/convnext_tiny": ("sports100", 224, 100),
    "sports100/vit": ("sports100", 224, 100),
    "sports_balls/resnet26d_max_adam": ("sports_balls", 512, 15),  # + 4096 x 6144 photos
    "sports_balls/resnet26d_avg_sgd": ("sports_balls", 512, 15),
    "workout/lenet": ("workout", 480, 22),  # video frames
    "workout/alexnet": ("workout", 480, 22),
    "infiniteform/m4_unfrozen_kp": ("infiniteform", 512, 15),  # renders + keypoints
}


def compose_recipe(recipe: str, root: Path, out: Path, extra: list[str]):
    overrides = [
        f"experiment={recipe}",
        f"data.root={root}",
        f"paths.root_dir={out}",
        f"paths.output_dir={out}",
        "logger=csv",
        *extra,
    ]
    with initialize_config_dir(str(sports_rec.CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    if "pretrained" in cfg.model.net:
        cfg.model.net.pretrained = False  # nothing to download: the speed is the same
    return cfg


def loading_rate(loader: DataLoader, batches: int) -> tuple[float, list]:
    """Images/s over the second pass of up to ``batches`` batches; the first pass's batches."""
    kept: list = []
    for epoch in range(2):
        start, seen = time.perf_counter(), 0
        for number, batch in enumerate(loader):
            seen += len(batch["label"])
            if epoch == 0:
                kept.append(batch)
            if number + 1 >= batches:
                break
        seconds = time.perf_counter() - start
    return seen / seconds, kept


def model_rate(cfg, datamodule, transforms, batches: list, steps: int, warmup: int) -> tuple:
    model = build_classifier(cfg, data_metadata(cfg, datamodule, transforms))
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        max_epochs=1,
        max_steps=steps,
        precision=cfg.trainer.precision,
        logger=False,
        callbacks=[timer],
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    cycle = (batches * (steps // len(batches) + 1))[:steps]
    trainer.fit(model, train_dataloaders=DataLoader(cycle, batch_size=None))
    images = sum(len(b["label"]) for b in cycle[warmup:])
    layout = "NCHW" if model.memory_format is None else "NHWC"
    return images / timer.seconds, f"{trainer.precision}, {layout}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--per-class", type=int, default=None, help="default: enough images")
    parser.add_argument("--batches", type=int, default=6, help="loader batches timed")
    parser.add_argument("--steps", type=int, default=4, help="model steps (first is warm-up)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument(
        "--cache",
        nargs="?",
        const="true",
        default="auto",
        choices=["auto", "true", "false"],
        help="data.dataset.cache (the decoded-image store); --cache alone: true",
    )
    args = parser.parse_args()
    register_resolvers()
    extra = [f"data.batch_size={args.batch_size}"] if args.batch_size else []
    extra.append(f"data.dataset.cache={args.cache}")
    table = Table(title="image recipes: training input vs the model's consumption, this machine")
    for column in ("recipe", "photos", "batch", "workers", "loading img/s", "model img/s",
                   "model settings", "loading / model"):  # fmt: skip
        left = column in ("recipe", "model settings")
        table.add_column(column, justify="left" if left else "right")
    with tempfile.TemporaryDirectory() as tmp:
        roots: dict[str, Path] = {}
        for recipe in args.recipes:
            layout, side, classes = RECIPES[recipe]
            if layout not in roots:
                # enough training images for --batches batches of the largest batch size
                per_class = args.per_class or max(
                    4, math.ceil(args.batches * (args.batch_size or 128) / classes / 0.8)
                )
                spec = SyntheticSpec(layout, classes=classes, per_class=per_class,
                                     eval_per_class=1, size=side)  # fmt: skip
                roots[layout] = generate(spec, Path(tmp) / layout)
            out = Path(tmp) / "runs" / recipe.replace("/", "_")
            cfg = compose_recipe(recipe, roots[layout], out, [*extra, f"paths.cache_dir={out}"])
            transforms = resolve_transforms(plain(cfg.transforms), plain(cfg.model.net))
            datamodule = build_datamodule(cfg.data, transforms, cfg.sampler)
            datamodule.prepare_data()
            datamodule.setup("fit")
            loader = datamodule.train_dataloader()
            loads, batches = loading_rate(loader, args.batches)
            consumes, settings = model_rate(cfg, datamodule, transforms, batches, args.steps, 1)
            table.add_row(
                recipe,
                f"{side}px" if layout != "sports_balls" else f"{side}px + huge",
                str(cfg.data.batch_size),
                str(loader.num_workers),
                f"{loads:.0f}",
                f"{consumes:.1f}",
                settings,
                f"{loads / consumes:.1f}x",
            )
            print(f"measured {recipe}: loading {loads:.0f} img/s, model {consumes:.1f} img/s")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
