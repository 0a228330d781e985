"""The one DataModule: reader -> checks -> splits -> datasets -> loaders, for every modality.

Configured entirely by ``conf/data/*`` (which reader, where, split policy), ``conf/transforms``
and ``conf/sampler``. After :meth:`setup` it exposes ``class_names``, ``num_classes``,
``class_counts`` (training split) and ``channels`` for the model side, and it writes what it
did (``splits.csv``, ``data_report.txt``, ``skipped_files.csv``) into the run folder so a
result can always be traced to the exact samples it was computed on.

Under DDP, ``batch_size`` is per device (Lightning's convention): a 4-GPU run trains with 4x
the batch. ``global_batch_size`` states the batch of one optimiser step instead and is divided
by the world size. Validation and test are sharded without padding, so every sample counts
exactly once in the metrics.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sports_rec.data.contract import check_dataset_class, check_files, check_sample
from sports_rec.data.datasets import ImageDataset, input_spec
from sports_rec.data.index import IndexTable
from sports_rec.data.samplers import ResamplingSampler, UnpaddedDistributedSampler
from sports_rec.data.splits import assign_splits, carve_validation, rebalance_classes
from sports_rec.data.synthetic import SyntheticSpec, ensure_synthetic
from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.utils.logging import get_logger, global_rank

log = get_logger(__name__)


class EmptySplitError(SportsRecError, ValueError):
    """A split has no sample left after reading, checking and splitting."""


#: The most DataLoader workers chosen automatically per training process.
MAX_AUTO_WORKERS = 8


def auto_num_workers() -> int:
    """DataLoader workers when ``data.num_workers`` is null: the CPUs this process may use,
    shared by the DDP processes of this machine (``LOCAL_WORLD_SIZE``), at most
    :data:`MAX_AUTO_WORKERS`; 0 (load in the main process) on a single CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    share = cpus // local
    return 0 if share <= 1 else min(MAX_AUTO_WORKERS, share)


class SportsDataModule(L.LightningDataModule):
    """Any modality's samples from any reader, split and sampled by config.

    What a sample is (an image, an image with keypoints, a video clip) and how its files are
    decoded is the dataset class's business (``dataset``, with its own options in the data
    config's ``dataset`` node); this class only indexes, splits and loads.

    Args:
        name: dataset name (for messages and the checkpoint).
        root: dataset folder handed to ``reader``.
        reader: ``reader(root) -> IndexTable`` (a Hydra ``_partial_``).
        transforms: ``{"train": callable, "eval": callable}`` taking sample dicts.
        dataset: ``factory(frame=, transform=, train=, checked=) -> Dataset`` (a Hydra
            ``_partial_`` of a class from :mod:`sports_rec.data.datasets`, holding that
            modality's options, e.g. ``grayscale`` or ``clip_len``); the class also checks
            the files (``check_files``, given those options: the image check writes the
            decoded-image store there).
        sampler: ``sampler(labels=..., seed=...) -> Sampler`` for training (``_partial_``);
            None shuffles.
        image_size: the input size every modality resizes to (the dataset and transform
            configs read it from here; recorded in the checkpoint).
        batch_size: samples per batch on each device.
        global_batch_size: samples per optimiser step over all devices; when set, the
            per-device batch is ``global_batch_size / world size`` (must divide).
        split: ``grouped`` or ``random``; how rows without a split are divided.
        split_fractions: train/valid/test fractions for rows without a split.
        val_fraction: fraction of train moved to ``valid`` when the layout has no valid
            (0 only with ``val_split="test"``).
        val_split: ``valid`` (a validation split of its own) or ``test``: the test split is
            also the validation split, evaluated every epoch, as studies 001 and 003 did
            (their per-epoch "test" curves); said in ``data_report.txt`` and the run record.
        rebalance: ``{"target": "median" | "min" | N, "seed": int}`` cuts classes larger than
            the target before splitting (study 002's dataset-level rebalancing); None keeps
            every sample (the samplers rebalance per epoch instead).
        split_seed: seed of the splits (fixed across training seeds on purpose).
        seed: training seed, used by the sampler.
        check_images: decode every image once at set-up and skip unreadable ones (the
            image datasets' store is written and verified by this pass).
        synthetic: when given (a :class:`SyntheticSpec` as dict), ``root`` is generated
            on first use.
        layout: a format's naming conventions (``data.layout``, e.g. the exercise-video
            label and pose columns), read by both the reader and the dataset through
            interpolation; kept here so the data config records them in one node.
        output_dir: the run folder (recorded with the data config; the run layer writes the
            data reports there).
        reporter: what writes the split and data reports (``reporter.splits(datamodule,
            frame, frames)`` once the splits are made, ``reporter.datasets(datamodule)`` once
            the datasets are built; :class:`sports_rec.reporting.per_run.data_report.DataReport`,
            attached by :func:`sports_rec.builders.build_datamodule`); None writes nothing.
    """

    def __init__(
        self,
        name: str,
        root: str,
        reader: Callable[[str], IndexTable],
        transforms: dict[str, Callable] | None = None,
        dataset: Callable[..., Dataset] | None = None,
        sampler: Callable[..., Any] | None = None,
        image_size: int = 224,
        batch_size: int = 32,
        global_batch_size: int | None = None,
        eval_batch_size: int | None = None,
        num_workers: int | None = None,
        pin_memory: bool = False,
        split: str = "grouped",
        split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
        val_fraction: float = 0.1,
        val_split: str = "valid",
        rebalance: dict[str, Any] | None = None,
        split_seed: int = 42,
        seed: int = 0,
        check_images: bool = True,
        synthetic: dict[str, Any] | None = None,
        layout: dict[str, Any] | None = None,
        output_dir: str | None = None,
        reporter: Any | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.root = str(root)
        self.reader = reader
        self.transforms = transforms or {}
        self.dataset_factory = dataset
        self.sampler_factory = sampler
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.global_batch_size = int(global_batch_size) if global_batch_size else None
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = auto_num_workers() if num_workers is None else int(num_workers)
        self.pin_memory = pin_memory
        self.split = split
        self.split_fractions = tuple(split_fractions)
        self.val_fraction = float(val_fraction)
        if val_split not in ("valid", "test"):
            raise ConfigError(f"data.val_split must be valid or test, got {val_split!r}")
        self.val_split = val_split
        self.rebalance = dict(rebalance) if rebalance else None
        self.rebalanced: tuple[list[int], list[int]] | None = None
        self.split_seed = int(split_seed)
        self.seed = int(seed)
        self.check_images = check_images
        self.synthetic = SyntheticSpec(**synthetic) if synthetic else None
        self.layout = dict(layout or {})
        self.output_dir = output_dir
        self.reporter = reporter
        self.index: IndexTable | None = None
        self.frames: dict[str, pd.DataFrame] = {}
        self.skipped: dict[str, str] = {}
        self.datasets: dict[str, Dataset] = {}

    # ----------------------------------------------------------------------- metadata
    @property
    def class_names(self) -> list[str]:
        return list(self._index().class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_counts(self) -> list[int]:
        """Training samples per class, in class-id order: what the training dataset yields
        (a video's clips, not its videos), for loss weights and samplers."""
        if not self.datasets:
            self.setup()
        counts = pd.Series(self.datasets["train"].labels).value_counts()
        return [int(counts.get(i, 0)) for i in range(self.num_classes)]

    @property
    def input_spec(self) -> list[dict[str, Any]]:
        """``[{name, shape, dtype}]`` of every input a sample carries (e.g. ``image``
        ``[3, 224, 224]`` and ``keypoints`` ``[51]``), read off one evaluation sample: what
        the checkpoint records so evaluate, predict and export need no dataset."""
        if not self.datasets:
            self.setup()
        sample = self.datasets["test"][0]
        check_sample(sample, f"{type(self.datasets['test']).__name__} ({self.name})")
        return input_spec(sample)

    @property
    def channels(self) -> int:
        """Channels of the first input (1 for grayscale images), read off the input spec."""
        return int(self.input_spec[0]["shape"][0])

    # ----------------------------------------------------------------------- set-up
    def prepare_data(self) -> None:
        """Generate the synthetic stand-in on first use (local rank 0 only under DDP)."""
        if self.synthetic is not None:
            ensure_synthetic(self.synthetic, self.root)

    @property
    def val_is_test(self) -> bool:
        """Whether validation is the test split (``data.val_split=test``)."""
        return self.val_split == "test"

    def source_split(self, split: str) -> str:
        """The split of the data a loader split is drawn from: ``valid`` is ``test`` when
        validation is the test split, every other split is itself."""
        return "test" if split == "valid" and self.val_is_test else split

    @property
    def index_table(self) -> IndexTable:
        """What the reader found (read on first use)."""
        return self._index()

    def _index(self) -> IndexTable:
        if self.index is None:
            if self.synthetic is not None:
                ensure_synthetic(self.synthetic, self.root)
            self.index = self.reader(self.root)
            log.info("%s at %s: %s", self.name, self.root, self.index.summary())
            for note in self.index.notes:
                log.warning("%s", note)
        return self.index

    def _ensure_splits(self) -> None:
        if self.frames:
            return
        index = self._index()
        frame = index.frame
        self.skipped = dict(index.skipped)  # what the reader left out
        if self.check_images:
            unreadable = check_files(self._factory(), frame)
            if unreadable:
                examples = ", ".join(repr(p) for p in list(unreadable)[:3])
                log.warning(
                    "%d unreadable %s(s) skipped (listed in skipped_files.csv), e.g. %s",
                    len(unreadable),
                    index.unit,
                    examples,
                )
                frame = frame[~frame["path"].isin(unreadable)]
                self.skipped.update(unreadable)
        if self.rebalance is not None:
            target = self.rebalance.get("target", "median")
            seed = int(self.rebalance.get("seed", self.split_seed))
            frame, before, after = rebalance_classes(frame, target, seed)
            self.rebalanced = (before, after)
            log.info("rebalanced to %s per class (seed %d): %s -> %s", target, seed, before, after)
        if frame["split"].isna().any():
            frame = assign_splits(frame, self.split_fractions, self.split_seed, mode=self.split)
        if self.val_is_test:
            on_disk = int((frame["split"] == "valid").sum())
            if on_disk:
                log.warning(
                    "data.val_split=test: the %d samples of the 'valid' split are not used", on_disk
                )
        elif not (frame["split"] == "valid").any():
            if self.val_fraction <= 0:
                raise ConfigError(
                    f"data.val_fraction={self.val_fraction:g} leaves {self.name} without a "
                    "validation split: use a fraction in (0, 1), or data.val_split=test to "
                    "evaluate the test split every epoch (as studies 001 and 003 did)"
                )
            group = "group" if self.split == "grouped" and "group" in frame.columns else None
            frame = carve_validation(frame, self.val_fraction, self.split_seed, group_column=group)
            log.info(
                "no validation split on disk: carved %.0f%% of train (stratified, split_seed=%d)",
                100 * self.val_fraction,
                self.split_seed,
            )
        frames = {}
        for split in ("train", "valid", "test"):
            source = self.source_split(split)
            frames[split] = frame[frame["split"] == source].reset_index(drop=True)
        if self.reporter is not None and global_rank() == 0:
            self.reporter.splits(self, frame, frames)  # also when a split is empty: the skips
        empty = [s for s, part in frames.items() if part.empty]
        if empty:
            source = self.source_split(empty[0])
            raise EmptySplitError(
                f"{self.name} at {self.root}: the '{source}' split is empty after splitting "
                f"({index.summary()}{self._skipped_summary()}). Add data, or give that "
                "split a share: data.split_fractions (rows without a split on disk) or "
                "data.val_fraction (validation carved from train)."
            )
        self.frames = frames

    def _factory(self) -> Callable[..., Dataset]:
        """The dataset factory: the configured one, or images with the image dataset's
        defaults (a DataModule built in code without a ``dataset``)."""
        if self.dataset_factory is not None:
            return self.dataset_factory
        return functools.partial(ImageDataset, image_size=self.image_size)

    def setup(self, stage: str | None = None) -> None:
        self._ensure_splits()
        if self.datasets:  # Lightning calls setup per stage; the datasets serve them all
            return
        make = self._factory()
        check_dataset_class(make)
        self.datasets = {
            split: make(
                frame=self.frames[split],
                transform=self.transforms.get("train" if split == "train" else "eval"),
                train=split == "train",
                checked=bool(self.check_images),
            )
            for split in ("train", "valid", "test")
        }
        if self.reporter is not None and global_rank() == 0:
            self.reporter.datasets(self)

    def _skipped_summary(self) -> str:
        return f"; {len(self.skipped)} file(s) skipped" if self.skipped else ""

    # ----------------------------------------------------------------------- loaders
    def _world(self) -> tuple[int, int]:
        """(world size, global rank) of the run this datamodule serves."""
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return int(trainer.world_size), int(trainer.global_rank)
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size(), dist.get_rank()
        return 1, 0

    def per_device_batch_size(self) -> int:
        """The training batch on one device (``global_batch_size / world size`` when set)."""
        if self.global_batch_size is None:
            return self.batch_size
        world, _ = self._world()
        if self.global_batch_size % world:
            raise ConfigError(
                f"data.global_batch_size={self.global_batch_size} does not divide over the "
                f"{world} devices of this run (trainer.devices x trainer.num_nodes); choose a "
                f"multiple of {world}, or set data.batch_size (per device) instead"
            )
        return self.global_batch_size // world

    def _pin_memory(self) -> bool:
        """``pin_memory`` where it helps: page-locked batches speed up copies to a GPU; on a
        CPU-only run PyTorch only warns about them."""
        return bool(self.pin_memory) and torch.cuda.is_available()

    def _eval_sampler(self, split: str, dataset: Dataset | None = None) -> Sampler | None:
        """Each device's unpadded share of an evaluation split (None on one device)."""
        world, rank = self._world()
        if world == 1:
            return None
        size = len(dataset if dataset is not None else self.datasets[split])
        if size < world:
            # A rank with an empty shard logs no metric and would leave the others waiting
            # for it in the epoch-end gathers.
            raise ConfigError(
                f"the {split} split has {size} sample(s), fewer than the {world} devices of "
                "this run: every device needs at least one. Evaluate on one device "
                "(trainer=cpu or trainer=gpu) or add samples to the split"
            )
        return UnpaddedDistributedSampler(size, world, rank)

    def _loader(self, split: str, batch_size: int, **kwargs: Any) -> DataLoader:
        if not self.datasets:
            self.setup()
        return DataLoader(
            self.datasets[split],
            batch_size=batch_size,
            num_workers=self.num_workers,
            pin_memory=self._pin_memory(),
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        if not self.datasets:
            self.setup()
        labels = self.datasets["train"].labels
        factory = self.sampler_factory or functools.partial(ResamplingSampler, strategy="shuffle")
        world, rank = self._world()
        sampler = factory(labels=labels, seed=self.seed, num_replicas=world, rank=rank)
        # Lightning creates the first iterator (whose workers prefetch at once) before it calls
        # set_epoch, and reuses that iterator for the first epoch of a resumed run: without
        # this, a run resumed at epoch 2 would replay epoch 0's samples.
        trainer = getattr(self, "trainer", None)
        if trainer is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(trainer.fit_loop.epoch_progress.current.processed)
        batch_size = self.per_device_batch_size()
        return self._loader("train", batch_size, sampler=sampler, drop_last=False)

    def eval_dataloader(self, split: str) -> DataLoader:
        """A deterministic loader over any split (the training split with the evaluation
        transform), for ``evaluate split=train|valid|test`` and baselines."""
        if split not in ("train", "valid", "test"):
            raise ConfigError(f"split must be train, valid or test, got {split!r}")
        if not self.datasets:
            self.setup()
        dataset = self.datasets[split]
        if split == "train":
            dataset = self._factory()(
                frame=self.frames["train"],
                transform=self.transforms.get("eval"),
                train=False,
                checked=bool(self.check_images),
            )
        return DataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            num_workers=self.num_workers,
            pin_memory=self._pin_memory(),
            sampler=self._eval_sampler(split, dataset),
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("valid", self.eval_batch_size, sampler=self._eval_sampler("valid"))

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, sampler=self._eval_sampler("test"))
