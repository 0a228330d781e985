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

import sys
from pathlib import Path

import lightning as L
from omegaconf import DictConfig

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.builders import (
    build_classifier,
    build_datamodule,
    build_trainer,
    check_resume_checkpoint,
    check_run_folder,
    checkpoint_to_test,
    data_metadata,
    evaluate_untrained,
    model_size,
    plain,
)
from sports_rec.callbacks.run_phases import RunPhases, phases_line
from sports_rec.callbacks.test_artefacts import raise_on_lost_artefacts
from sports_rec.callbacks.validation_replay import ValidationRecord, run_test
from sports_rec.callbacks.wandb_test_logs import logged_config
from sports_rec.data.transforms import resolve_transforms
from sports_rec.reporting.per_run.artefacts import RUN_FILES
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.config_checks import check_train_config, optimized_value
from sports_rec.utils.hydra_job import (
    in_multirun,
    pin_ddp_ranks_to_this_job,
    recipe_name,
    replay_pinned_job_on_ddp_rank,
)
from sports_rec.utils.logging import get_logger, global_rank
from sports_rec.utils.run import (
    app_hint,
    exit_on_user_error,
    lightning_noise_filtered,
    print_config_tree,
    task_wrapper,
    unwrap_user_error,
)
from sports_rec.utils.run_info import RunInfo, RunInterrupted, interruption_recorded, resume_hint
from sports_rec.utils.sweeps import sweep_job_value

log = get_logger(__name__)


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job; returns the final callback metrics (for sweepers).

    The run record (``run_info.json``) is started as soon as the run folder is known to be
    writable, so every later failure, a config value included, is recorded in it: a failed
    sweep job's folder always says why.
    """
    output_dir = Path(cfg.paths.output_dir)
    check_run_folder(output_dir, RUN_FILES)
    info = RunInfo.for_job(output_dir, cfg, recipe_name())
    phases = RunPhases()
    try:
        check_train_config(cfg)
        check_run_folder(output_dir / "checkpoints")
        metrics = _train(cfg, output_dir, info, phases)
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt) or info.interrupted:
            info.finish("interrupted", RunInterrupted(resume_hint(output_dir)))
        else:
            info.finish("failed", unwrap_user_error(error) or error)
        raise
    info.finish("completed", phases=phases.summary())
    hint = app_hint(output_dir, info.fields.get("tested_ckpt"))
    if global_rank() == 0:
        print(f"Time: {phases_line(info.fields['phases'])}", flush=True)
        if hint:
            print(hint, flush=True)
    return metrics


def _train(cfg: DictConfig, output_dir: Path, info: RunInfo, phases: RunPhases) -> dict[str, float]:
    L.seed_everything(cfg.seed, workers=True)
    transforms = resolve_transforms(plain(cfg.transforms), plain(cfg.model.net))
    datamodule = build_datamodule(cfg.data, transforms, cfg.sampler)
    datamodule.prepare_data()
    datamodule.index_table  # noqa: B018 - read first: a wrong data.root fails in seconds
    if cfg.get("print_config", True):
        print_config_tree(cfg, save_to=output_dir / "config_tree.log")
    if cfg.get("ckpt_path"):
        check_resume_checkpoint(cfg.ckpt_path, datamodule)
    metadata = data_metadata(cfg, datamodule, transforms)
    model = build_classifier(cfg, metadata)
    info.update(**model_size(model), val_is_test=datamodule.val_is_test)

    pin_ddp_ranks_to_this_job(cfg)
    # with validation = test, the test may reuse the last validation pass (run_test)
    record = None
    if cfg.train and cfg.test and datamodule.val_is_test:
        record = ValidationRecord(enabled=bool(cfg.get("test_reuse_val", True)))
    trainer = build_trainer(
        cfg, extra_callbacks=[phases, *([record] if record is not None else [])]
    )
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
            reused = run_test(trainer, model, datamodule, ckpt, record)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
            info.update(
                tested_epoch=model.weights_epoch, tested_ckpt=ckpt, test_reused_validation=reused
            )
            tested = ckpt or output_dir / "checkpoints" / "last.ckpt"
            raise_on_lost_artefacts(trainer, f"python -m sports_rec.evaluate ckpt_path={tested}")
    optimized_value(metrics, cfg.get("optimized_metric"))
    return metrics


@hydra_entry_point("train")
def hydra_main(cfg: DictConfig) -> float | None:
    if in_multirun():  # a failed job is recorded and returns None; the sweep goes on
        return sweep_job_value(train, cfg)
    with exit_on_user_error():
        metrics = train(cfg)
    return optimized_value(metrics, cfg.get("optimized_metric"))


def main() -> float | None:
    """Console entry point (``python -m sports_rec.train``, ``sports-rec-train``)."""
    sys.argv = replay_pinned_job_on_ddp_rank(sys.argv)
    return hydra_main()


if __name__ == "__main__":
    main()
