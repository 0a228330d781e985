"""Train, then test, one model: ``python -m sports_rec.train [overrides]``.

Compose config -> build data -> build the classifier from the data's metadata -> fit ->
test the best checkpoint -> write artefacts. With no overrides it trains a small model on
a synthetic dataset in the sports100 layout (generated under ``data/`` on first use).

Examples::

    python -m sports_rec.train model=vit data=sports100 data.root=/data/sports100
    python -m sports_rec.train -m model=resnet50,vit loss=ce,focal
    python -m sports_rec.train trainer=ddp trainer.devices=4
    python -m sports_rec.train ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.callbacks.test_artefacts import raise_on_lost_artefacts
from sports_rec.callbacks.wandb_test_logs import logged_config
from sports_rec.checkpoint import check_same_classes, load_classifier_metadata
from sports_rec.data.datamodule import SportsDataModule
from sports_rec.data.transforms import resolve_transforms
from sports_rec.errors import SportsRecError
from sports_rec.models.classifier import Classifier
from sports_rec.models.inputs import example_inputs
from sports_rec.reporting.artefacts import RUN_FILES
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.config_checks import check_train_config, optimized_value
from sports_rec.utils.hydra_callbacks import check_writable_folder, unwritable_files
from sports_rec.utils.logging import get_logger
from sports_rec.utils.model_stats import count_parameters, gmacs
from sports_rec.utils.run import (
    exit_on_user_error,
    instantiate_callbacks,
    instantiate_loggers,
    lightning_noise_filtered,
    print_config_tree,
    task_wrapper,
    unwrap_user_error,
)
from sports_rec.utils.run_info import RunInfo

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
    exactly what the datamodule was built with.
    """
    transforms = instantiate(transforms_cfg) if transforms_cfg else None
    sampler = instantiate(sampler_cfg) if sampler_cfg else None
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
    model_hparams = load_classifier_metadata(ckpt_path)
    trained = list(model_hparams["metadata"]["class_names"])
    check_same_classes(
        trained,
        datamodule.class_names,
        f"the data at '{datamodule.root}'",
        dataset=model_hparams["metadata"].get("dataset", "?"),
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


def recipe_name() -> str | None:
    """The ``experiment=`` recipe of this run, if any."""
    if not HydraConfig.initialized():
        return None
    choice = HydraConfig.get().runtime.choices.get("experiment")
    return None if choice in (None, "null") else str(choice)


DDP_JOB_ENV = "SPORTS_REC_DDP_JOB"
SUBPROCESS_DDP = {"ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false"}


def pin_ddp_ranks_to_this_job(cfg: DictConfig) -> None:
    """Inside a multirun, make Lightning's DDP ranks re-run *this job*, not the sweep.

    Lightning's ``ddp`` starts ranks > 0 by re-running the command line; in a multirun that
    is the whole sweep (``-m`` and every comma list), which starts new sweeps and leaves
    stray folders. The job's own overrides and folder are recorded in the environment the
    ranks inherit; :func:`main` of a rank > 0 replays exactly them.
    """
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    strategy = cfg.trainer.get("strategy")
    if not (isinstance(strategy, str) and strategy in SUBPROCESS_DDP):
        return
    overrides = [*HydraConfig.get().overrides.task, f"hydra.run.dir='{cfg.paths.output_dir}'"]
    os.environ[DDP_JOB_ENV] = json.dumps(overrides)


def replay_pinned_job_on_ddp_rank(argv: list[str]) -> list[str]:
    """On a DDP rank > 0 launched from a multirun job, the job's single-run command line."""
    pinned = os.environ.get(DDP_JOB_ENV)
    if not pinned or int(os.environ.get("LOCAL_RANK", "0")) == 0:
        return argv
    lightning_args = [
        a for a in argv[1:] if a.startswith(("hydra.job.name=", "hydra.output_subdir="))
    ]
    return [argv[0], *json.loads(pinned), *lightning_args]


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job; returns the final callback metrics (for sweepers).

    The run record (``run_info.json``) is started as soon as the run folder is known to be
    writable, so every later failure, a config value included, is recorded in it: a failed
    sweep job's folder always says why.
    """
    output_dir = Path(cfg.paths.output_dir)
    check_run_folder(output_dir, RUN_FILES)
    net = OmegaConf.select(cfg, "model.net", default=None) or {}
    net_name = net.get("name") or str(net.get("_target_", "?")).split(".")[-1]
    info = RunInfo(
        output_dir,
        recipe=recipe_name(),
        dataset=OmegaConf.select(cfg, "data.name", default=None),
        model=net_name,
    )
    try:
        check_train_config(cfg)
        check_run_folder(output_dir / "checkpoints")
        metrics = _train(cfg, output_dir, info)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt) or info.interrupted:
            info.finish("interrupted", RunInterrupted(resume_hint(output_dir)))
        else:
            info.finish("failed", unwrap_user_error(error) or error)
        raise
    info.finish("completed")
    return metrics


class RunInterrupted(Exception):
    """What ``run_info.json`` records for a run stopped by Ctrl+C / SIGINT."""


def resume_hint(output_dir: Path) -> str:
    last = output_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        return f"stopped by SIGINT (Ctrl+C); resume with ckpt_path={last}"
    return "stopped by SIGINT (Ctrl+C) before the first checkpoint"


@contextlib.contextmanager
def interruption_recorded(trainer: L.Trainer, info: RunInfo) -> Iterator[None]:
    """Lightning turns Ctrl+C inside fit/test into ``sys.exit(1)`` after a graceful stop;
    tell that exit from a failure by the trainer's own state, so the run is recorded as
    ``interrupted`` (and ``report`` can say so) rather than ``failed``."""
    try:
        yield
    except SystemExit:
        if trainer.interrupted:
            info.interrupted = True
        raise


def _train(cfg: DictConfig, output_dir: Path, info: RunInfo) -> dict[str, float]:
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("print_config", True):
        print_config_tree(cfg, save_to=output_dir / "config_tree.log")

    transforms = resolve_transforms(plain(cfg.transforms), plain(cfg.model.net))
    datamodule = build_datamodule(cfg.data, transforms, cfg.sampler)
    datamodule.prepare_data()
    if cfg.get("ckpt_path"):
        check_resume_checkpoint(cfg.ckpt_path, datamodule)
    metadata = data_metadata(cfg, datamodule, transforms)
    model = build_classifier(cfg, metadata)
    info.update(**model_size(model), val_is_test=datamodule.val_split == "test")

    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    pin_ddp_ranks_to_this_job(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    info.update(world_size=trainer.world_size)
    for logger in trainer.loggers:
        logger.log_hyperparams(logged_config(cfg))

    with lightning_noise_filtered(), interruption_recorded(trainer, info):
        if cfg.train:
            trainer.fit(
                model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True
            )
            info.update(epochs=int(trainer.current_epoch))
        elif cfg.get("evaluate_untrained"):
            evaluate_untrained(trainer, model, datamodule, list(cfg.evaluate_untrained), output_dir)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if cfg.test:
            ckpt = checkpoint_to_test(cfg, trainer)
            if cfg.train and ckpt is None:
                log.info("No checkpoint to test (e.g. fast_dev_run); testing the current weights")
            trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
            info.update(tested_epoch=model.weights_epoch, tested_ckpt=ckpt)
            tested = ckpt or output_dir / "checkpoints" / "last.ckpt"
            raise_on_lost_artefacts(trainer, f"python -m sports_rec.evaluate ckpt_path={tested}")
    optimized_value(metrics, cfg.get("optimized_metric"))
    return metrics


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


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra_entry_point("train")
def hydra_main(cfg: DictConfig) -> float | None:
    if in_multirun():
        # One job's failure must not end the sweep: it is recorded in the job's
        # run_info.json (and log), the sweep goes on and ends with a summary and status 1
        # (sports_rec.utils.hydra_callbacks.SweepSummary). A failed job returns None, which
        # the Optuna sweeper records as a failed trial before going on (a NaN would end the
        # study: Optuna 2.x refuses to be told NaN).
        try:
            metrics = train(cfg)
        except Exception as error:
            if unwrap_user_error(error) is None:
                log.exception("Job failed")
            return None
        value = optimized_value(metrics, cfg.get("optimized_metric"))
        if value is not None and math.isnan(value):
            log.warning(
                "%s is NaN: the sweeper records this trial as failed", cfg.get("optimized_metric")
            )
            return None
        return value
    with exit_on_user_error():
        metrics = train(cfg)
    return optimized_value(metrics, cfg.get("optimized_metric"))


def main() -> float | None:
    """Console entry point (``python -m sports_rec.train``, ``sports-rec-train``)."""
    sys.argv = replay_pinned_job_on_ddp_rank(sys.argv)
    return hydra_main()


if __name__ == "__main__":
    main()
