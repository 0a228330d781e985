"""Test a checkpoint: ``python -m sports_rec.evaluate ckpt_path=PATH [data.root=...]``.

The checkpoint carries its data and transform configs, so by default the run's own test
split is rebuilt and the run's test metrics are reproduced. ``data.*`` keys given on the
command line (``root``, ``batch_size``, ``num_workers``, ``split_seed`` ...) replace the
stored ones, e.g. to point at the dataset on another machine. Data with other classes than
the checkpoint's is refused. Artefacts are those of a training run's test stage
(test_metrics.json, per_class.csv, confusion matrix, misclassified gallery), written to
this evaluation's own run folder. ``split=train|valid`` evaluates another split instead (with
the evaluation transform): ``train_metrics.json``, ``train_per_class.csv`` ...
"""

from __future__ import annotations

from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.checkpoint import check_same_classes, load_classifier
from sports_rec.train import SPLIT_PREFIXES, build_datamodule, evaluate_split
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import (
    exit_on_user_error,
    instantiate_callbacks,
    lightning_noise_filtered,
    task_wrapper,
)

log = get_logger(__name__)


def merged_data_config(
    stored: dict[str, Any], overrides: DictConfig | None, output_dir: str
) -> DictConfig:
    """The checkpoint's data config, with non-null command-line ``data.*`` values on top.

    A new ``root`` means the user points at data on disk: the stored synthetic-data spec
    (if any) is dropped so nothing is generated into the user's folder.
    """
    data = OmegaConf.create(stored)
    if overrides:
        given = {
            k: v
            for k, v in OmegaConf.to_container(overrides, resolve=True).items()
            if v is not None
        }
        data = OmegaConf.merge(data, given)
        if given.get("root") not in (None, stored.get("root")):
            data.synthetic = None
    data.output_dir = output_dir
    return data


@task_wrapper
def evaluate(cfg: DictConfig) -> dict[str, float]:
    L.seed_everything(cfg.seed, workers=True)
    model = load_classifier(cfg.ckpt_path)
    metadata = model.hparams.metadata
    data_cfg = merged_data_config(metadata["data"], cfg.get("data"), cfg.paths.output_dir)
    datamodule = build_datamodule(data_cfg, metadata["transforms"])
    datamodule.prepare_data()
    check_same_classes(
        model.class_names,
        datamodule.class_names,
        f"the data at '{datamodule.root}'",
        dataset=metadata.get("dataset", "?"),
    )

    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False)
    split = str(cfg.get("split") or "test")
    with lightning_noise_filtered():
        if split == "test":
            trainer.test(model, datamodule=datamodule)
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        else:
            metrics = evaluate_split(trainer, model, datamodule, split)
    key = f"{SPLIT_PREFIXES[split]}/acc"
    log.info("%s=%.4f (checkpoint %s)", key, metrics.get(key, float("nan")), cfg.ckpt_path)
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        evaluate(cfg)


if __name__ == "__main__":
    main()
