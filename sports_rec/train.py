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

import json
import os
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig, OmegaConf

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.data.datamodule import SportsDataModule
from sports_rec.models.classifier import Classifier
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import (
    exit_on_user_error,
    instantiate_callbacks,
    instantiate_loggers,
    print_config_tree,
    task_wrapper,
)

log = get_logger(__name__)


def build_datamodule(
    data_cfg: DictConfig | dict,
    transforms_cfg: DictConfig | dict,
    sampler_cfg: DictConfig | dict | None = None,
    **overrides: Any,
) -> SportsDataModule:
    """Instantiate the datamodule with its transforms and (training) sampler."""
    transforms = instantiate(transforms_cfg) if transforms_cfg else None
    sampler = instantiate(sampler_cfg) if sampler_cfg else None
    return instantiate(data_cfg, transforms=transforms, sampler=sampler, **overrides)


def data_metadata(cfg: DictConfig, datamodule: SportsDataModule) -> dict[str, Any]:
    """Everything about the data a checkpoint must carry to be usable on its own."""
    return {
        "dataset": datamodule.name,
        "class_names": datamodule.class_names,
        "class_counts": datamodule.class_counts,
        "channels": datamodule.channels,
        "image_size": datamodule.image_size,
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "transforms": OmegaConf.to_container(cfg.transforms, resolve=True),
    }


def build_classifier(cfg: DictConfig, metadata: dict[str, Any]) -> Classifier:
    def plain(node: Any) -> Any:
        return OmegaConf.to_container(node, resolve=True) if node is not None else None

    return Classifier(
        net=plain(cfg.model.net),
        loss=plain(cfg.loss),
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.scheduler),
        metadata=metadata,
        top_k=tuple(cfg.get("top_k", (3, 5))),
        regularization=plain(cfg.get("regularization")),
    )


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


def _test_checkpoint(cfg: DictConfig, trainer: L.Trainer) -> str | None:
    """Which weights to test: ``best`` (the first ModelCheckpoint's best, i.e. best val
    accuracy by default), ``last``, or ``none`` (current weights)."""
    choice = str(cfg.get("test_ckpt", "best"))
    callback = trainer.checkpoint_callback
    if choice == "none" or callback is None or not cfg.train:
        return None
    if choice == "last":
        last = Path(callback.dirpath or "") / "last.ckpt"
        return str(last) if last.is_file() else None
    return callback.best_model_path or None


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job; returns the final callback metrics (for sweepers)."""
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.get("print_config", True):
        print_config_tree(cfg, save_to=output_dir / "config_tree.log")

    datamodule = build_datamodule(cfg.data, cfg.transforms, cfg.sampler)
    datamodule.prepare_data()
    metadata = data_metadata(cfg, datamodule)
    model = build_classifier(cfg, metadata)

    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    pin_ddp_ranks_to_this_job(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for logger in trainer.loggers:
        logger.log_hyperparams(
            {"cfg": OmegaConf.to_container(cfg, resolve=True), "data": metadata["dataset"]}
        )

    if cfg.train:
        trainer.fit(
            model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=False
        )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.test:
        ckpt = _test_checkpoint(cfg, trainer)
        if cfg.train and ckpt is None:
            log.info("No checkpoint to test (e.g. fast_dev_run); testing the current weights")
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    with exit_on_user_error():
        metrics = train(cfg)
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None


def main() -> float | None:
    """Console entry point (``python -m sports_rec.train``, ``sports-rec-train``)."""
    sys.argv = replay_pinned_job_on_ddp_rank(sys.argv)
    return hydra_main()


if __name__ == "__main__":
    main()
