"""The building blocks every entry point assembles a run from.

``train`` composes them from the config; ``evaluate``, ``explain`` and ``predict`` from a
checkpoint's stored configs (:func:`checkpoint_datamodule`). Keeping them here, not in
``train``, is what lets no entry point import another.

* :func:`build_datamodule`, :func:`data_metadata`, :func:`build_classifier`,
  :func:`build_trainer` - the objects of a run, and what a checkpoint must carry;
* :func:`checkpoint_datamodule` - a checkpoint's data with command-line ``data.*`` on top;
* :func:`check_run_folder` - fail before training when a run's files cannot be written;
* :func:`checkpoint_to_test`, :func:`evaluate_split` - the test stage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from sports_rec.checkpoint import check_same_classes, load_classifier_metadata
from sports_rec.data.datamodule import SportsDataModule
from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.models.classifier import Classifier
from sports_rec.models.inputs import example_inputs
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.reporting.per_run.data_report import DataReport
from sports_rec.utils.hydra_callbacks import check_writable_folder, unwritable_files
from sports_rec.utils.logging import get_logger
from sports_rec.utils.model_stats import count_parameters, gmacs
from sports_rec.utils.run import instantiate_callbacks, instantiate_loggers

log = get_logger(__name__)


class RunFolderError(SportsRecError, OSError):
    """The run folder (or its checkpoints/) cannot be written."""


def plain(node: Any) -> Any:
    """A config node as plain containers (resolved), for checkpoints and JSON."""
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def build_datamodule(
    data_cfg: DictConfig | dict,
    transforms_cfg: DictConfig | dict | None,
    sampler_cfg: DictConfig | dict | None = None,
    **overrides: Any,
) -> SportsDataModule:
    """Instantiate the datamodule with its transforms and (training) sampler.

    ``transforms_cfg`` must be resolved (:func:`resolve_transforms`): the checkpoint stores
    exactly what the datamodule was built with. With a run folder (``data.output_dir``) the
    data reports are written there (:class:`~sports_rec.reporting.per_run.data_report.DataReport`).
    """
    transforms = instantiate(transforms_cfg) if transforms_cfg else None
    sampler = instantiate(sampler_cfg) if sampler_cfg else None
    output_dir = data_cfg.get("output_dir")
    if output_dir and "reporter" not in overrides:
        overrides["reporter"] = DataReport(output_dir)
    return instantiate(data_cfg, transforms=transforms, sampler=sampler, **overrides)


def data_metadata(
    cfg: DictConfig, datamodule: SportsDataModule, transforms: dict[str, Any]
) -> dict[str, Any]:
    """Everything about the data a checkpoint must carry to be usable on its own."""
    return {
        "dataset": datamodule.name,
        "class_names": datamodule.class_names,
        "class_counts": datamodule.class_counts,
        "channels": datamodule.channels,
        "image_size": datamodule.image_size,
        "input_spec": datamodule.input_spec,
        "data": plain(cfg.data),
        "transforms": transforms,
    }


def build_classifier(cfg: DictConfig, metadata: dict[str, Any]) -> Classifier:
    return Classifier(
        net=plain(cfg.model.net),
        loss=plain(cfg.loss),
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.scheduler),
        metadata=metadata,
        top_k=tuple(cfg.get("top_k", (3, 5))),
        regularization=plain(cfg.get("regularization")),
        fast_paths={
            "channels_last": cfg.model.get("channels_last", "auto"),
            "compile": bool(cfg.model.get("compile", False)),
        },
    )


def check_run_folder(folder: Path, files: tuple[str, ...] = ()) -> None:
    """Fail before any training when ``folder`` or one of the ``files`` the run will write
    in it cannot be written: found after training, that would lose the run's results."""
    reason = check_writable_folder(folder)
    problems = [f"cannot write to '{folder}' ({reason})"] if reason is not None else []
    if not problems:
        problems = unwritable_files(folder, files)
    if problems:
        raise RunFolderError(
            f"{'; '.join(problems)}; nothing was trained. Free the path, or choose another "
            "run folder with hydra.run.dir=DIR (paths.root_dir=DIR moves logs/ and multirun/)."
        )


def check_resume_checkpoint(ckpt_path: str, datamodule: SportsDataModule) -> None:
    """A checkpoint to resume from must be a readable sports_rec checkpoint (loaded safely)
    of the same classes as the data; Lightning would fail later, less clearly."""
    metadata = CheckpointMetadata.from_dict(load_classifier_metadata(ckpt_path)["metadata"])
    check_same_classes(
        metadata.class_names,
        datamodule.class_names,
        f"the data at '{datamodule.root}'",
        dataset=metadata.dataset,
    )


TEST_CHECKPOINT_MONITORS = {"best": "val/acc", "best_loss": "val/loss"}


def checkpoint_to_test(cfg: DictConfig, trainer: L.Trainer) -> str | None:
    """The checkpoint ``test_ckpt`` names: ``best`` (best ``val/acc``), ``best_loss`` (best
    ``val/loss``), ``last`` or ``none`` (the current weights). Found by what the checkpoint
    callbacks monitor, never by their order in the config."""
    choice = str(cfg.get("test_ckpt", "best"))
    callbacks: list[ModelCheckpoint] = list(trainer.checkpoint_callbacks)
    if choice == "none" or not cfg.train or not callbacks:
        return None
    if choice == "last":
        last = [c for c in callbacks if c.monitor is None]
        path = Path(last[0].dirpath or "") / "last.ckpt" if last else None
        return str(path) if path is not None and path.is_file() else None
    monitor = TEST_CHECKPOINT_MONITORS[choice]
    matching = [c for c in callbacks if c.monitor == monitor]
    if not matching:
        log.warning(
            "test_ckpt=%s means the best checkpoint by %s, but no checkpoint callback monitors "
            "it (callbacks=none?): testing the current weights (recorded in test_metrics.json)",
            choice,
            monitor,
        )
        return None
    return matching[0].best_model_path or None


def model_size(model: Classifier) -> dict[str, Any]:
    """Parameters and GMACs per sample of the net, for run_info.json."""
    total, trainable = count_parameters(model.net)
    inputs = example_inputs(model.input_spec, model.input_keys, 1, torch.Generator())
    try:
        cost: float | None = round(gmacs(model.net, inputs), 4)
    except Exception as error:  # a net the FLOP counter cannot trace: size without cost
        log.warning("GMACs not counted (%s: %s)", type(error).__name__, error)
        cost = None
    return {"params": total, "trainable_params": trainable, "gmacs": cost}


def build_trainer(
    cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = (), **overrides: Any
) -> L.Trainer:
    """The Lightning trainer of ``cfg.trainer`` with the ``callbacks`` and ``logger`` groups
    (a learning-rate monitor only where there is a logger to record it) and the
    ``extra_callbacks`` an entry point adds itself."""
    callbacks = [*instantiate_callbacks(cfg.get("callbacks")), *extra_callbacks]
    loggers = instantiate_loggers(cfg.get("logger"))
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)


SPLIT_PREFIXES = {"train": "train", "valid": "val", "test": "test"}


def evaluate_split(
    trainer: L.Trainer, model: Classifier, datamodule: SportsDataModule, split: str
) -> dict[str, float]:
    """Run the test stage on ``split`` (evaluation transform), logged as ``<split>/...``."""
    model.test_prefix = SPLIT_PREFIXES[split]
    try:
        trainer.test(model, dataloaders=datamodule.eval_dataloader(split), weights_only=True)
    finally:
        model.test_prefix = "test"
    prefix = SPLIT_PREFIXES[split] + "/"
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefix)}


def evaluate_untrained(
    trainer: L.Trainer,
    model: Classifier,
    datamodule: SportsDataModule,
    splits: list[str],
    output_dir: Path,
) -> None:
    """A baseline that is not trained (``train: false``): evaluate it on ``splits`` and record
    the figures as the row of epoch -1 ("before training") of ``metrics.csv``, where reports
    read train and validation figures."""
    row: dict[str, float] = {"epoch": -1, "step": 0}
    for split in splits:
        row.update(evaluate_split(trainer, model, datamodule, split))
    if trainer.is_global_zero:
        pd.DataFrame([row]).to_csv(output_dir / "metrics.csv", index=False)


def checkpoint_datamodule(
    metadata: CheckpointMetadata, overrides: DictConfig | None, output_dir: str
) -> SportsDataModule:
    """The datamodule a checkpoint was tested with (its stored data and transforms), with
    the non-null ``data.*`` values of ``overrides`` on top (see :func:`merged_data_config`)."""
    data_cfg = merged_data_config(metadata.data, overrides, output_dir)
    return build_datamodule(data_cfg, metadata.transforms)


def merged_data_config(
    stored: dict[str, Any], overrides: DictConfig | None, output_dir: str
) -> DictConfig:
    """The checkpoint's data config, with non-null command-line ``data.*`` values on top
    (nested ones too: ``data.dataset.skeleton_attention=false`` wins over the stored value).

    A new ``root`` means the user points at data on disk: the stored synthetic-data spec
    (if any) is dropped so nothing is generated into the user's folder. A nested value the
    checkpoint's data has no place for (``data.dataset.use_masks`` of an image checkpoint)
    is refused: the dataset would not take it.
    """
    data = OmegaConf.create(stored)
    if overrides:
        given = _given(OmegaConf.to_container(overrides, resolve=True))
        _check_known(given, stored)
        data = OmegaConf.merge(data, given)
        if given.get("root") not in (None, stored.get("root")):
            data.synthetic = None
    data.output_dir = output_dir
    return data


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without its nulls (null = keep the checkpoint's), at every depth."""
    given = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _given(value)
            if not value:
                continue
        if value is not None:
            given[key] = value
    return given


def _check_known(given: dict[str, Any], stored: dict[str, Any], prefix: str = "data") -> None:
    for key, value in given.items():
        if not isinstance(value, dict):
            continue
        node = stored.get(key)
        unknown = [k for k in value if not isinstance(node, dict) or k not in node]
        if unknown:
            raise ConfigError(
                f"{', '.join(f'{prefix}.{key}.{k}' for k in unknown)}: the checkpoint's data "
                f"has no such setting ({prefix}.{key} holds "
                f"{', '.join(sorted(node)) if isinstance(node, dict) else 'nothing'}); "
                "leave it out"
            )
        _check_known(value, node, f"{prefix}.{key}")


def data_overrides(stored: dict[str, Any], data: DictConfig) -> dict[str, Any]:
    """``{dotted key: value}`` of every data setting of ``data`` (merged) that differs from
    the checkpoint's ``stored`` one (``output_dir`` and the synthetic spec aside)."""
    merged = OmegaConf.to_container(data, resolve=True)
    changed: dict[str, Any] = {}

    def walk(old: Any, new: Any, prefix: str) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for key in new:
                walk(old.get(key), new[key], f"{prefix}{key}.")
        elif old != new:
            changed[prefix.rstrip(".")] = new

    walk(stored, {k: v for k, v in merged.items() if k not in ("output_dir", "synthetic")}, "")
    return changed


def record_data_overrides(output_dir: str | Path, prefix: str, overrides: dict[str, Any]) -> None:
    """Add ``data_overrides`` to the evaluation's ``<prefix>_metrics.json``."""
    path = Path(output_dir) / f"{prefix}_metrics.json"
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    record["data_overrides"] = overrides
    path.write_text(json.dumps(record, indent=2) + "\n")
