"""The real command line: sweeps, DDP on the CPU, W&B offline, error handling."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from sports_rec.train import train
from sports_rec.utils.run import task_wrapper
from tests.conftest import TINY_DATA, run_cli, run_folder

pytestmark = pytest.mark.slow

QUICK = [*TINY_DATA, "trainer.accelerator=cpu", "print_config=false", "logger=csv"]


def _folders(output: str) -> list[Path]:
    return [
        Path(line.removeprefix("Run folder: "))
        for line in output.splitlines()
        if line.startswith("Run folder: ")
    ]


def test_multirun_gives_every_job_its_own_folder(tmp_path: Path, data_dir: Path) -> None:
    result = run_cli(
        "sports_rec.train",
        "-m",
        "model=small,lenet",
        f"paths.data_dir={data_dir}",
        *QUICK,
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        cwd=tmp_path,
    )
    folders = _folders(result.stdout)
    assert len(folders) == 2 and folders[0] != folders[1]
    sweep = folders[0].parent
    assert sweep.parent == (tmp_path / "multirun" / "train").resolve()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert (sweep / "multirun.yaml").is_file()
    for folder, model in zip(folders, ("resnet10t", "LeNet"), strict=True):
        assert (folder / "test_metrics.json").is_file()
        assert model in (folder / ".hydra" / "config.yaml").read_text()
    assert not (tmp_path / "logs").exists()  # nothing stray outside the sweep


def test_ddp_on_cpu_writes_one_run_with_synced_metrics(tmp_path: Path, data_dir: Path) -> None:
    result = run_cli(
        "sports_rec.train",
        "trainer=ddp_cpu",
        f"paths.data_dir={data_dir}",
        *QUICK,
        "trainer.max_epochs=2",
        "data.check_images=false",
        cwd=tmp_path,
    )
    folder = run_folder(result.stdout)  # printed once, by rank 0 only
    runs = list((tmp_path / "logs" / "train" / "runs").iterdir())
    assert runs == [folder]
    checkpoints = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert checkpoints.count("last.ckpt") == 1 and len(checkpoints) == 3
    history = pd.read_csv(folder / "metrics.csv")
    assert list(history["epoch"]) == [0, 1]  # one row per epoch, not one per rank
    # The balanced sampler draws 4 classes x 16 (median) = 64 per epoch; each of the 2 ranks
    # takes its half: 32 samples = 4 batches of 8 per epoch (8 if ranks did not shard).
    assert list(history["step"]) == [4, 8]
    # 4 classes x 6 test images: each rank sees half, the synced confusion matrix all.
    per_class = pd.read_csv(folder / "per_class.csv")
    assert per_class["support"].sum() == 24
    assert json.loads((folder / "test_metrics.json").read_text())["test/acc"] >= 0


def test_ddp_inside_a_multirun_runs_only_its_job_and_leaves_no_stray_folders(
    tmp_path: Path, data_dir: Path
) -> None:
    result = run_cli(
        "sports_rec.train",
        "-m",
        "trainer=ddp_cpu",
        "seed=3",
        f"paths.data_dir={data_dir}",
        *QUICK,
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        "data.check_images=false",
        cwd=tmp_path,
    )
    folder = run_folder(result.stdout)  # one job, printed by rank 0 only
    sweeps = list((tmp_path / "multirun" / "train").iterdir())
    assert len(sweeps) == 1 and [p.name for p in sweeps[0].iterdir() if p.is_dir()] == ["0"]
    assert folder == (sweeps[0] / "0").resolve()
    assert (folder / "test_metrics.json").is_file()
    assert not (tmp_path / "logs").exists()


def test_wandb_offline_run_is_written_and_finished(make_cfg) -> None:
    import wandb

    cfg = make_cfg(
        "logger=many",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
    )
    assert cfg.logger.wandb.offline is True
    train(cfg)
    assert wandb.run is None  # finished by the task wrapper
    out = Path(cfg.paths.output_dir)
    assert list((out / "wandb").glob("offline-run-*"))
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "csv" / "metrics.csv").is_file()


def test_failed_task_still_finishes_wandb_and_prints_run_folder(make_cfg, capsys) -> None:
    import wandb

    cfg = make_cfg()

    @task_wrapper
    def failing(config) -> None:
        wandb.init(mode="offline", dir=config.paths.output_dir)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing(cfg)
    assert wandb.run is None
    assert f"Run folder: {Path(cfg.paths.output_dir).resolve()}" in capsys.readouterr().out


def test_missing_dataset_root_fails_with_the_expected_layout(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sports_rec.train",
            "data=sports100",
            f"data.root={tmp_path / 'nowhere'}",
            "print_config=false",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    message = result.stdout + result.stderr
    assert "Traceback" not in message  # an expected error: its message, not a stack trace
    assert "sports100 root not found" in message and "nowhere" in message
    assert "python -m sports_rec.data.synthetic" in message
    assert "Run folder:" in result.stdout
