"""The real command line: sweeps, DDP on the CPU, W&B offline, error handling."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from sports_rec.data.synthetic import SyntheticSpec, generate
from sports_rec.train import train
from sports_rec.utils.run import task_wrapper
from tests.conftest import NO_FIGURES, PROJECT_ROOT, TINY_DATA, run_cli, run_folder, screenshot

pytestmark = pytest.mark.slow

QUICK = [*TINY_DATA, NO_FIGURES, "trainer.accelerator=cpu", "print_config=false", "logger=csv"]


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
    assert result.stdout.count("Time: start-up ") == 2  # each job says where its time went
    sweep = folders[0].parent
    assert sweep.parent == (tmp_path / "multirun" / "train").resolve()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert (sweep / "multirun.yaml").is_file()
    for folder, model in zip(folders, ("resnet10t", "LeNet"), strict=True):
        assert (folder / "test_metrics.json").is_file()
        assert model in (folder / ".hydra" / "config.yaml").read_text()
    assert not (tmp_path / "logs").exists()  # nothing stray outside the sweep

    # the sweep ends with one table of its jobs, named by what differs between them
    summary = pd.read_csv(sweep / "summary.csv", dtype={"job": str})
    assert list(summary["job"]) == ["0", "1"]
    assert list(summary["overrides"]) == ["model=small", "model=lenet"]
    assert list(summary["status"]) == ["completed", "completed"]
    assert summary["test acc"].between(0, 1).all() and (summary["time (s)"] > 0).all()
    printed = result.stdout[result.stdout.index(f"Sweep {sweep}: 2 job(s)") :].splitlines()
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in printed[1:5]]
    assert cells[0] == ["job", "overrides", "status", "test acc", "time (s)"]
    assert [row[:3] for row in cells[2:]] == [
        ["0", "model=small", "completed"], ["1", "model=lenet", "completed"]
    ]  # fmt: skip

    # the report of the sweep calls the runs model=small and model=lenet, never 0 and 1
    report = run_cli(
        "sports_rec.report", f"runs=[{sweep}]", f"out={tmp_path / 'report'}", cwd=tmp_path
    )
    labels = ["model=small", "model=lenet"]
    assert "| model=small " in report.stdout
    table = pd.read_csv(tmp_path / "report" / "report.csv", dtype={"folder": str})
    assert list(table["run"]) == labels and list(table["folder"]) == ["0", "1"]
    curves = pd.read_csv(tmp_path / "report" / "curves.csv")  # the curves' legend
    assert list(dict.fromkeys(curves["run"])) == labels
    assert set(curves["epoch"]) == {0}  # 1-epoch runs: whole epochs on the axis
    html = (tmp_path / "report" / "report.html").read_text()
    headings = re.findall(r'<section class="run"[^>]*>\s*<h2>([^<]+?) <span', html)
    assert headings == labels
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", html)
    assert captions[0] == "test accuracy per run"  # no published values here: none promised
    screenshot(tmp_path / "report" / "report.html", tmp_path / "report" / "report.html.png")


@pytest.fixture(scope="module")
def imbalanced_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sports100-layout set with imbalanced training classes (16, 12, 8, 4 images) and an
    odd test split (19 images), so padding or a rank's double count would show."""
    root = generate(
        SyntheticSpec("sports100", classes=4, per_class=16, eval_per_class=5, size=32),
        tmp_path_factory.mktemp("imbalanced") / "data",
    )
    for label, keep in enumerate((16, 12, 8, 4)):
        folder = sorted((root / "train").iterdir())[label]
        for image in sorted(folder.iterdir())[keep:]:
            image.unlink()
    sorted((root / "test").rglob("*.jpg"))[0].unlink()
    return root


def test_ddp_on_cpu_shares_the_balanced_epoch_and_counts_every_test_image_once(
    tmp_path: Path, imbalanced_root: Path
) -> None:
    draws = tmp_path / "draws"
    result = run_cli(
        "sports_rec.train",
        "trainer=ddp_cpu",
        "data=sports100",
        f"data.root={imbalanced_root}",
        "data.image_size=32",
        "data.global_batch_size=16",  # 8 per rank
        "data.num_workers=0",
        "sampler=balanced",
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "print_config=false",
        "logger=csv",
        "+callbacks.draws._target_=tests.probes.RecordDraws",
        f"+callbacks.draws.output_dir={draws}",
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT_ROOT)},
    )
    folder = run_folder(result.stdout)  # printed once, by rank 0 only
    runs = list((tmp_path / "logs" / "train" / "runs").iterdir())
    assert runs == [folder]
    checkpoints = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert checkpoints.count("last.ckpt") == 1

    # The balanced sampler draws every class to the median count (10): 40 per epoch. Each
    # of the 2 ranks takes its own 20 (disjoint draws), 3 batches of 8 (global batch 16).
    history = pd.read_csv(folder / "metrics.csv")
    assert list(history["epoch"]) == [0, 1] and list(history["step"]) == [3, 6]
    for epoch in (0, 1):
        shares = [
            json.loads((draws / f"draws_rank{rank}_epoch{epoch}.json").read_text())
            for rank in (0, 1)
        ]
        assert [len(share) for share in shares] == [20, 20]
        labels = [label for share in shares for _, label in share]
        assert [labels.count(c) for c in range(4)] == [10, 10, 10, 10]
        minority = {index for share in shares for index, label in share if label == 3}
        assert len(minority) == 4  # all 4 minority images, oversampled with replacement

    # 19 test images, sharded without padding: each counted exactly once ...
    per_class = pd.read_csv(folder / "per_class.csv")
    assert per_class["support"].sum() == 19
    matrix = pd.read_csv(folder / "confusion_matrix.csv", index_col=0).to_numpy()
    assert matrix.sum() == 19
    # ... so the DDP figures equal a single-process evaluation of the same checkpoint.
    ddp = json.loads((folder / "test_metrics.json").read_text())
    single = run_cli(
        "sports_rec.evaluate", f"ckpt_path={ddp['ckpt_path']}", "trainer.accelerator=cpu",
        cwd=tmp_path,
    )  # fmt: skip
    reference = json.loads((run_folder(single.stdout) / "test_metrics.json").read_text())
    for key in ("test/acc", "test/loss", "test/mean_class_acc", "test/f1_macro"):
        assert ddp[key] == pytest.approx(reference[key], abs=1e-5), key


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


def test_wandb_offline_run_is_written_and_finished(make_cfg, capfd) -> None:
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
    assert "anonymous setting" not in "".join(capfd.readouterr())  # not triggered by us


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
    # before the ~270-line config tree and before any net is built: it fails at once
    assert "CONFIG" not in message.split("sports100 root not found")[0]
    assert not list(tmp_path.rglob("config_tree.log"))
