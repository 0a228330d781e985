"""Faults and bad input, tried as a user would: a killed run resumed, a failing sweep job,
unwritable folders, values that train nothing, corrupt files; every error is one message
(exit status 1, no traceback) and every fix it suggests is followed and works."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from sports_rec.builders import RunFolderError
from sports_rec.data.datamodule import EmptySplitError
from sports_rec.data.index import DatasetLayoutError
from sports_rec.data.synthetic import SyntheticSpec, generate
from sports_rec.train import train
from tests.conftest import (
    NO_FIGURES,
    PROJECT_ROOT,
    TINY_DATA,
    compose_config,
    expect_user_error,
    read_json,
    run_cli,
    run_folder,
)

pytestmark = pytest.mark.slow

QUICK = [*TINY_DATA, NO_FIGURES, "trainer.accelerator=cpu", "print_config=false", "logger=csv"]
NO_BAR = "callbacks.rich_progress_bar=null"


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """metrics.csv without the wall-clock columns (throughput differs run to run)."""
    return frame[[c for c in frame.columns if "samples_per_sec" not in c]]


def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(
    tmp_path: Path, data_dir: Path
) -> None:
    """kill -9 in epoch 2 of 4, resume from last.ckpt: every later epoch and the test metrics
    equal the uninterrupted run's (dropout on, 2 loader workers, augmentation on)."""
    common = [
        f"paths.data_dir={data_dir}",
        *QUICK,
        NO_BAR,
        "trainer.max_epochs=4",
        "model.net.drop_rate=0.3",
        "data.num_workers=2",
        "seed=5",
        # the reference trains in this process (fp32 on every CPU, conftest), the others in
        # subprocesses (bf16-mixed by default on AMX CPUs): the same precision for all three
        "trainer.precision=32-true",
    ]
    reference = tmp_path / "uninterrupted"
    train(compose_config("train", common, reference, tmp_path))

    killed = run_cli(
        "sports_rec.train",
        *common,
        "+callbacks.kill._target_=tests.probes.KillAt",
        "+callbacks.kill.epoch=2",
        "+callbacks.kill.batch=3",
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT_ROOT)},
        check=False,
    )
    assert killed.returncode == -9  # SIGKILL: no handler ran, nothing was saved on the way out
    (crashed,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert read_json(crashed / "run_info.json")["status"] == "running"  # never finished
    assert list(pd.read_csv(crashed / "metrics.csv")["epoch"]) == [0, 1]

    result = run_cli(
        "sports_rec.train",
        *common,
        f"ckpt_path={crashed / 'checkpoints' / 'last.ckpt'}",
        cwd=tmp_path,
    )
    resumed = run_folder(result.stdout)
    pd.testing.assert_frame_equal(
        comparable(pd.read_csv(resumed / "metrics.csv")),
        comparable(pd.read_csv(reference / "metrics.csv")),
    )
    expected, got = (
        read_json(reference / "test_metrics.json"),
        read_json(resumed / "test_metrics.json"),
    )
    for key in expected:
        if key.startswith("test/") and "samples_per_sec" not in key:
            assert got[key] == pytest.approx(expected[key], abs=1e-6), key
    assert got["epoch"] == expected["epoch"]
    assert read_json(resumed / "run_info.json")["status"] == "completed"


def test_one_failing_job_does_not_end_the_sweep(tmp_path: Path) -> None:
    ok = generate(SyntheticSpec("sports100", 3, 6, 2, size=32), tmp_path / "ok")
    missing = tmp_path / "missing"
    result = run_cli(
        "sports_rec.train",
        "-m",
        "data=sports100",
        f"data.root={ok},{missing},{ok}",
        "data.image_size=32",
        "data.batch_size=6",
        "data.num_workers=0",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "print_config=false",
        NO_BAR,
        cwd=tmp_path,
        check=False,
    )
    output = expect_user_error(result, "1 of 3 sweep job(s) failed", f"data.root={missing}")
    (sweep,) = (tmp_path / "multirun" / "train").iterdir()
    infos = {job: read_json(sweep / job / "run_info.json") for job in ("0", "1", "2")}
    assert [infos[j]["status"] for j in "012"] == ["completed", "failed", "completed"]
    assert "sports100 root not found" in infos["1"]["error"] and str(missing) in infos["1"]["error"]
    assert (sweep / "2" / "test_metrics.json").is_file(), "the job after the failure ran"
    assert "sports100 root not found" in output


@pytest.fixture(scope="module")
def corrupt_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A sports100-layout dataset with one corrupt training image."""
    root = generate(
        SyntheticSpec("sports100", 3, 6, 2, size=32),
        tmp_path_factory.mktemp("corrupt") / "data",
    )
    bad = sorted((root / "train").rglob("*.jpg"))[2]
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return root, bad


SPORTS100_TINY = [
    "data=sports100",
    "data.image_size=32",
    "data.batch_size=6",
    "data.num_workers=0",
    "trainer.accelerator=cpu",
    "print_config=false",
]


@pytest.mark.parametrize(
    "case",
    ["freeze", "batch_size", "lr", "run_dir", "unchecked_corrupt_image", "empty_split"],
)
def test_expected_errors_on_the_command_line(
    case: str, tmp_path: Path, data_dir: Path, corrupt_root: tuple[Path, Path]
) -> None:
    tiny = [f"paths.data_dir={data_dir}", *QUICK, "debug=fdr"]
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    root, bad = corrupt_root
    args, fragments = {
        "freeze": ([*tiny, "model.net.freeze=half"], ["model.net.freeze must be one of"]),
        "batch_size": ([*tiny, "data.batch_size=abc"], ["data.batch_size='abc'"]),
        "lr": ([*tiny, "optimizer.lr=0"], ["optimizer.lr=0: must be a number > 0"]),
        "run_dir": (
            [*tiny, f"hydra.run.dir={blocker}/run"],
            ["Cannot create or write the run folder", "hydra.run.dir=DIR"],
        ),
        "unchecked_corrupt_image": (
            [
                *SPORTS100_TINY,
                f"data.root={root}",
                "data.check_images=false",
                "debug=fdr",
                "trainer.fast_dev_run=4",
                "data.num_workers=1",
            ],  # raised in a loader worker
            [str(bad), "data.check_images=true"],
        ),
        "empty_split": (
            [
                f"paths.data_dir={data_dir}",
                *QUICK,
                "data=synthetic_workout",
                "debug=fdr",
                "data.split_fractions=[0.9,0.1,0.0]",
            ],
            ["the 'test' split is empty", "data.split_fractions"],
        ),
    }[case]
    result = run_cli("sports_rec.train", *args, cwd=tmp_path, check=False)
    expect_user_error(result, *fragments)


def test_an_unreadable_checkpoint_file_is_a_message(tmp_path: Path) -> None:
    not_a_checkpoint = tmp_path / "notes.ckpt"
    not_a_checkpoint.write_text("these are my notes, not weights")
    result = run_cli(
        "sports_rec.evaluate", f"ckpt_path={not_a_checkpoint}", cwd=tmp_path, check=False
    )
    expect_user_error(result, str(not_a_checkpoint), "is not a readable checkpoint file")


# ------------------------------------------------------------------ hints, followed


def test_the_layout_error_hint_generates_data_that_trains(tmp_path: Path, make_cfg) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetLayoutError) as error:
        train(make_cfg("data=sports100", f"data.root={missing}", "debug=fdr", tiny=False))
    command = re.search(
        r"python -m (sports_rec\.data\.synthetic \S+) --out <dir>", str(error.value)
    )
    assert command, str(error.value)
    module, layout = command.group(1).split()
    run_cli(module, layout, "--out", str(missing), "--classes", "3", "--per-class", "4",
            "--eval-per-class", "2", "--size", "32", cwd=tmp_path)  # fmt: skip
    metrics = train(
        make_cfg("data=sports100", f"data.root={missing}", "data.image_size=32", "debug=fdr",
                 "data.batch_size=4", "data.num_workers=0", tiny=False, run="after")
    )  # fmt: skip
    assert "test/acc" in metrics


def test_the_empty_split_hint_gives_the_split_a_share(make_cfg) -> None:
    workout = ["data=synthetic_workout", "debug=fdr"]
    with pytest.raises(EmptySplitError) as error:
        train(make_cfg(*workout, "data.split_fractions=[0.9,0.1,0.0]"))
    assert "data.split_fractions" in str(error.value)
    assert "test/acc" in train(make_cfg(*workout, "data.split_fractions=[0.8,0.1,0.1]", run="b"))


def test_the_corrupt_image_hint_skips_and_reports_the_file(
    make_cfg, corrupt_root: tuple[Path, Path]
) -> None:
    root, bad = corrupt_root
    cfg = make_cfg(*SPORTS100_TINY, f"data.root={root}", "data.check_images=true", "debug=fdr",
                   tiny=False)  # fmt: skip
    train(cfg)
    out = Path(cfg.paths.output_dir)
    assert pd.read_csv(out / "skipped_files.csv")["path"].tolist() == [str(bad)]
    report = (out / "data_report.txt").read_text()
    assert "skipped: 1 file(s) (skipped_files.csv)" in report and str(bad) in report


def test_a_blocked_checkpoints_folder_stops_the_run_before_training(make_cfg, tmp_path) -> None:
    cfg = make_cfg("trainer.max_epochs=1", run="blocked")
    out = Path(cfg.paths.output_dir)
    (out / "checkpoints").write_text("a file where the checkpoints folder should be")
    with pytest.raises(RunFolderError, match=r"nothing was trained.*hydra\.run\.dir=DIR"):
        train(cfg)
    assert not (out / "metrics.csv").exists()
    assert json.loads((out / "run_info.json").read_text())["status"] == "failed"
    # The suggested fix: another run folder.
    assert "test/acc" in train(make_cfg("trainer.max_epochs=1", run="elsewhere"))


def test_a_failing_plot_never_loses_the_test_metrics(make_cfg, monkeypatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full while drawing")

    monkeypatch.setattr("sports_rec.callbacks.test_artefacts.write_confusion_matrix", broken)
    cfg = make_cfg("debug=fdr")
    train(cfg)
    out = Path(cfg.paths.output_dir)
    assert "test/acc" in read_json(out / "test_metrics.json")
    assert (out / "per_class.csv").is_file()
    assert not (out / "confusion_matrix.png").exists()
    assert read_json(out / "run_info.json")["status"] == "completed"


def test_a_resume_checkpoint_of_other_classes_is_refused(make_cfg, tmp_path) -> None:
    from sports_rec.checkpoint import CheckpointDataMismatch

    cfg = make_cfg("trainer.max_epochs=1", run="three")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    other = make_cfg("data.synthetic.classes=3", f"ckpt_path={ckpt}", run="resumed")
    with pytest.raises(CheckpointDataMismatch, match="trained on 'synthetic_sports100'"):
        train(other)


def test_a_blocked_artefact_file_stops_the_run_before_training(make_cfg) -> None:
    """A folder where test_metrics.json goes used to end a finished training with a
    traceback: it is now found before anything is trained."""
    cfg = make_cfg("trainer.max_epochs=1", run="blocked_metrics")
    out = Path(cfg.paths.output_dir)
    (out / "test_metrics.json").mkdir(parents=True)
    blocked = r"test_metrics\.json' is a folder.*nothing was trained"
    with pytest.raises(RunFolderError, match=blocked):
        train(cfg)
    assert not (out / "metrics.csv").exists() and not (out / "checkpoints").exists()


def test_an_artefact_that_fails_after_testing_loses_nothing_else(make_cfg, monkeypatch) -> None:
    """test_metrics.json becomes unwritable after the pre-flight check (the disk changed):
    the metrics are still reported, the other artefacts written, the run ends in a message
    that gives the command to write them again, and that command works."""
    from sports_rec.callbacks import test_artefacts
    from sports_rec.callbacks.test_artefacts import ArtefactWriteError
    from sports_rec.evaluate import evaluate

    def no_space(path: Path, *args: object, **kwargs: object) -> dict:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(test_artefacts, "write_test_metrics", no_space)
    cfg = make_cfg("trainer.max_epochs=1", run="full_disk")
    reported = r"test ran \(.*test/acc=0\.\d{4}.*No space"
    with pytest.raises(ArtefactWriteError, match=reported) as err:
        train(cfg)
    out = Path(cfg.paths.output_dir)
    assert not (out / "test_metrics.json").exists()
    assert (out / "per_class.csv").is_file() and (out / "confusion_matrix.csv").is_file()
    assert read_json(out / "run_info.json")["status"] == "failed"
    rerun = re.search(r"ckpt_path=(\S+)", str(err.value))
    assert rerun is not None and Path(rerun.group(1)).is_file()
    monkeypatch.undo()
    blocked = out.parent / "blocked_evaluation"
    (blocked / "per_class.csv").mkdir(parents=True)
    with pytest.raises(RunFolderError, match=r"per_class\.csv' is a folder"):
        evaluate(compose_config("evaluate", [f"ckpt_path={rerun.group(1)}"], blocked, out.parent))
    again = out.parent / "rerun"
    evaluate(compose_config("evaluate", [f"ckpt_path={rerun.group(1)}"], again, out.parent))
    assert "test/acc" in read_json(again / "test_metrics.json")


def test_ctrl_c_is_recorded_as_interrupted_and_report_says_so_after_a_resume(
    tmp_path: Path, data_dir: Path
) -> None:
    """SIGINT used to be recorded as 'failed'; and a killed run (run_info.json still
    'running') that a later run resumed was reported as 'failed' too."""
    from sports_rec.reporting.across_runs.runs import load_runs

    common = [f"paths.data_dir={data_dir}", *QUICK, NO_BAR, "trainer.max_epochs=3"]
    result = run_cli(
        "sports_rec.train",
        *common,
        "+callbacks.stop._target_=tests.probes.InterruptAt",
        "+callbacks.stop.epoch=1",
        "+callbacks.stop.batch=1",
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT_ROOT)},
        check=False,
    )
    assert result.returncode == 1
    stopped = run_folder(result.stdout)
    info = read_json(stopped / "run_info.json")
    last = stopped / "checkpoints" / "last.ckpt"
    assert info["status"] == "interrupted", info
    assert f"resume with ckpt_path={last}" in info["error"]

    (alone,) = load_runs([stopped])
    assert alone.status == "interrupted"
    resumed = run_folder(
        run_cli("sports_rec.train", *common, f"ckpt_path={last}", cwd=tmp_path).stdout
    )
    # a SIGKILL leaves 'running' behind: the resumed run shows it was interrupted too
    killed = read_json(stopped / "run_info.json") | {"status": "running", "error": None}
    (stopped / "run_info.json").write_text(json.dumps(killed))
    runs = {run.path: run for run in load_runs([stopped, resumed])}
    assert runs[stopped].status == "interrupted"
    assert f"resumed by {resumed.name} from last.ckpt" in runs[stopped].error
    assert runs[resumed].status == "completed"


def test_a_resumed_run_keeps_one_best_checkpoint_per_metric(make_cfg) -> None:
    """The best checkpoints carried over from the interrupted run are replaced, not kept
    beside the newer bests (a glob for best-val-acc-* finds exactly one file)."""
    first = make_cfg("trainer.max_epochs=1", "trainer.precision=32-true", run="first")
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = make_cfg("trainer.max_epochs=5", "trainer.precision=32-true", f"ckpt_path={last}",
                       run="resumed")  # fmt: skip
    train(resumed)
    folder = Path(resumed.paths.output_dir)
    epochs = pd.read_csv(folder / "metrics.csv").dropna(subset=["val/acc"])
    for pattern, column, best_epoch in (
        ("best-val-acc-*", "val/acc", epochs.loc[epochs["val/acc"].idxmax(), "epoch"]),
        ("best-val-loss-*", "val/loss", epochs.loc[epochs["val/loss"].idxmin(), "epoch"]),
    ):
        (found,) = (folder / "checkpoints").glob(pattern)
        assert found.name.endswith(f"epoch{int(best_epoch):03d}.ckpt"), (column, found.name)


@pytest.mark.parametrize("command", ["evaluate", "predict", "explain", "export"])
def test_a_command_without_ckpt_path_says_so_in_one_line(tmp_path: Path, command: str) -> None:
    """ckpt_path=??? used to end in OmegaConf's MissingMandatoryValue traceback (predict
    with model_file= alone: 17 lines)."""
    extra = ["model_file=model.onnx", "input=x.jpg"] if command == "predict" else []
    result = run_cli(f"sports_rec.{command}", *extra, cwd=tmp_path, check=False)
    output = expect_user_error(result, "ckpt_path is required", f"sports_rec.{command} ckpt_path=")
    if command == "predict":
        assert "model_file= only swaps its net" in output
