"""Test a checkpoint: ``python -m sports_rec.evaluate ckpt_path=PATH [data.root=...]``.

The checkpoint carries its data and transform configs, so by default the run's own test
split is rebuilt and the run's test metrics are reproduced. ``data.*`` keys given on the
command line (``root``, ``batch_size``, ``num_workers``, ``split_seed`` ...) replace the
stored ones, e.g. to point at the dataset on another machine. Data with other classes than
the checkpoint's is refused. Artefacts are those of a training run's test stage
(test_metrics.json, per_class.csv, confusion matrix, misclassified gallery), written to
this evaluation's own run folder. ``split=train|valid`` evaluates another split instead (with
the evaluation transform): ``train_metrics.json``, ``train_per_class.csv`` ...

The test-time preprocessing of a clip model can differ from training's:
``data.dataset.skeleton_attention=false`` / ``data.dataset.use_masks=false`` (or
``skeleton_sigma``) replace the checkpoint's values (study 004's evaluate script had no
skeleton attention: its 73 % test accuracy beside 90 % validation may be that). The videos
used stay those of training (the reader still requires the poses and masks the run had).
Every ``data.*`` value that differs from the checkpoint's is logged and recorded as
``data_overrides`` (``{"dataset.skeleton_attention": false}``) in ``test_metrics.json``
(``<split>_metrics.json``); ``report evaluations=[DIR]`` shows such a run beside the
trained one.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.builders import (
    SPLIT_PREFIXES,
    build_datamodule,
    check_run_folder,
    data_overrides,
    evaluate_split,
    merged_data_config,
    record_data_overrides,
)
from sports_rec.callbacks.test_artefacts import raise_on_lost_artefacts
from sports_rec.checkpoint import check_same_classes, load_classifier
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.reporting.per_run.artefacts import RUN_FILES
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.config_checks import required_checkpoint
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import (
    exit_on_user_error,
    instantiate_callbacks,
    lightning_noise_filtered,
    task_wrapper,
)

log = get_logger(__name__)


@task_wrapper
def evaluate(cfg: DictConfig) -> dict[str, float]:
    check_run_folder(Path(cfg.paths.output_dir), RUN_FILES)
    L.seed_everything(cfg.seed, workers=True)
    model = load_classifier(required_checkpoint(cfg, "evaluate"))
    metadata = CheckpointMetadata.of(model)
    data_cfg = merged_data_config(metadata.data, cfg.get("data"), cfg.paths.output_dir)
    overrides = data_overrides(metadata.data, data_cfg)
    if overrides:
        log.info(
            "Data settings that differ from the checkpoint's: %s",
            ", ".join(f"data.{k}={v}" for k, v in overrides.items()),
        )
    datamodule = build_datamodule(data_cfg, metadata.transforms)
    datamodule.prepare_data()
    check_same_classes(
        model.class_names,
        datamodule.class_names,
        f"the data at '{datamodule.root}'",
        dataset=metadata.dataset,
    )

    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False)
    split = str(cfg.get("split") or "test")
    with lightning_noise_filtered():
        if split == "test":
            trainer.test(model, datamodule=datamodule)
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            raise_on_lost_artefacts(
                trainer, f"python -m sports_rec.evaluate ckpt_path={cfg.ckpt_path}"
            )
        else:
            metrics = evaluate_split(trainer, model, datamodule, split)
    record_data_overrides(cfg.paths.output_dir, SPLIT_PREFIXES[split], overrides)
    key = f"{SPLIT_PREFIXES[split]}/acc"
    log.info("%s=%.4f (checkpoint %s)", key, metrics.get(key, float("nan")), cfg.ckpt_path)
    return metrics


@hydra_entry_point("evaluate")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        evaluate(cfg)


if __name__ == "__main__":
    main()
