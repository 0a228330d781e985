"""Hyper-parameter search (``hparams_search=optuna``) and cluster launching through
submitit (``hydra/launcher=submitit_local`` runs the code path of ``submitit_slurm``
without a scheduler; the SLURM presets are checked by composition: nothing is submitted)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from sports_rec.reporting.across_runs.report_files import write_report
from sports_rec.reporting.across_runs.runs import load_runs
from tests.conftest import CONF_DIR, NO_FIGURES, TINY_DATA, run_cli

pytestmark = pytest.mark.slow
QUICK = [
    *TINY_DATA,
    NO_FIGURES,
    "trainer.accelerator=cpu",
    "print_config=false",
    "logger=csv",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
]


def _sweep_dir(root: Path) -> Path:
    (sweep,) = (root / "multirun" / "train").iterdir()
    return sweep


def test_optuna_records_failed_trials_and_reports_the_best(tmp_path: Path, data_dir: Path) -> None:
    # Batch size 0 is refused by the run: such trials fail, the study goes on, and the sweep
    # ends with status 1 listing them. The TPE sampler is seeded (seed=42), so the draws
    # of this command are fixed; 4 trials draw both values.
    result = run_cli(
        "sports_rec.train",
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=4",
        f"paths.data_dir={data_dir}",
        *(o for o in QUICK if not o.startswith("data.batch_size=")),  # fixed values win
        "data.batch_size=choice(8,0)",
        cwd=tmp_path,
        check=False,
    )
    sweep = _sweep_dir(tmp_path)
    jobs = sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    assert len(jobs) == 4
    batch = {
        job.name: yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["data"]["batch_size"]
        for job in jobs
    }
    status = {job.name: json.loads((job / "run_info.json").read_text())["status"] for job in jobs}
    assert status == {name: "failed" if size == 0 else "completed" for name, size in batch.items()}
    failed = sum(size == 0 for size in batch.values())
    assert 0 < failed < 4, batch  # both outcomes drawn
    assert result.returncode == 1, result.stderr[-3000:]
    assert f"{failed} of 4 sweep job(s) failed" in result.stdout + result.stderr
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    val_acc = {
        job.name: pd.read_csv(job / "metrics.csv")["val/acc"].iloc[-1]
        for job in jobs
        if status[job.name] == "completed"
    }
    assert best["best_value"] == pytest.approx(max(val_acc.values()))
    assert best["best_params"]["data.batch_size"] == 8
    assert set(best["best_params"]) == {
        "optimizer.lr",
        "optimizer.weight_decay",
        "data.batch_size",
        "loss",
    }


def test_submitit_local_sweep_runs_every_job_and_reports_them(
    tmp_path: Path, data_dir: Path
) -> None:
    run_cli(
        "sports_rec.train",
        "-m",
        "hydra/launcher=submitit_local",
        "seed=1,2",
        f"paths.data_dir={data_dir}",
        *QUICK,
        cwd=tmp_path,
    )
    sweep = _sweep_dir(tmp_path)
    for job in ("0", "1"):
        assert json.loads((sweep / job / "run_info.json").read_text())["status"] == "completed"
        assert "test/acc" in json.loads((sweep / job / "test_metrics.json").read_text())
    assert (sweep / ".submitit").is_dir()  # the jobs went through submitit
    runs = load_runs([sweep])
    assert len(runs) == 2 and {r.status for r in runs} == {"completed"}
    _, files = write_report(runs, tmp_path / "report", html=False)
    report = pd.read_csv(files["report.csv"])
    assert len(report) == 2 and sorted(report["seed"].astype(int)) == [1, 2]  # the swept key


def _launcher(*overrides: str) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    launcher = cfg.hydra.launcher
    return {key: launcher[key] for key in launcher}


def test_slurm_presets_compose_and_follow_the_trainer() -> None:
    plain = _launcher("hydra/launcher=slurm", "hydra.launcher.partition=gpu")
    assert plain["_target_"].endswith("SlurmLauncher")
    assert (plain["partition"], plain["tasks_per_node"], plain["gpus_per_node"]) == ("gpu", 1, 1)
    ddp = _launcher(
        "hydra/launcher=slurm_ddp",
        "trainer=ddp",
        "trainer.devices=4",
        "trainer.num_nodes=2",
        "hydra.launcher.timeout_min=60",
    )
    assert (ddp["nodes"], ddp["tasks_per_node"], ddp["gpus_per_node"]) == (2, 4, 4)
    assert ddp["timeout_min"] == 60 and ddp["mem_gb"] == 128


def test_a_study_whose_every_trial_fails_ends_with_the_list(tmp_path: Path, data_dir: Path) -> None:
    """Every trial refused (batch size 0): the sweeper used to end in a traceback
    (``ValueError: No trials are completed yet``) with no list and no results file. The
    fixed override of a searched key is also pointed out."""
    result = run_cli(
        "sports_rec.train",
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        f"paths.data_dir={data_dir}",
        *(o for o in QUICK if not o.startswith("data.batch_size=")),
        "data.batch_size=0",
        cwd=tmp_path,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "No trials are completed yet" not in output and "Traceback" not in output
    assert "data.batch_size=0 fixes a value that hparams_search searches" in output
    assert "2 of 2 sweep job(s) failed" in output
    assert output.count("data.batch_size=0: must be an integer >= 1") >= 2
    results = yaml.safe_load((_sweep_dir(tmp_path) / "optimization_results.yaml").read_text())
    assert results["best_params"] is None and results["completed_trials"] == 0
    assert results["trials"] == 2 and "no trial completed" in results["message"]


def test_a_sweep_runs_its_valid_jobs_and_lists_an_unknown_option(
    tmp_path: Path, data_dir: Path
) -> None:
    """One unknown option in a list used to stop the whole sweep before any job ran."""
    result = run_cli(
        "sports_rec.train",
        "-m",
        "model=small,doesnotexist,lenet",
        f"paths.data_dir={data_dir}",
        *QUICK,
        cwd=tmp_path,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    sweep = _sweep_dir(tmp_path)
    models = sorted(
        yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["model"]["net"]["_target_"]
        for job in sweep.iterdir()
        if (job / "run_info.json").is_file()
    )
    assert len(models) == 2 and all(
        json.loads((job / "run_info.json").read_text())["status"] == "completed"
        for job in sweep.iterdir()
        if job.is_dir()
    )
    (rejected,) = yaml.safe_load((sweep / "rejected_jobs.yaml").read_text())
    assert "model=doesnotexist" in rejected["overrides"]
    assert "Could not find 'model/doesnotexist'" in rejected["error"]
    assert "1 sweep job(s) not run: their config cannot be composed" in output
    assert "Available options in 'model'" in output
