"""``python -m sports_rec.report``: run folders in, study table + figures + HTML out.

Run folders are written by hand in exactly the shape a training run leaves (see the
run-folder contract in ``sports_rec/reporting/across_runs/runs.py``): a two-recipe sweep of
the sports balls study with a crashed third job, and two old-style workout runs from before
``run_info.json`` (one crashed). No training happens here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from sports_rec.reporting.across_runs.labels import differing_overrides
from sports_rec.reporting.across_runs.published import (
    METRICS,
    PublishedFormatError,
    format_published,
    published_column,
    read_published,
    read_published_files,
)
from sports_rec.reporting.across_runs.report_table import (
    format_table,
    leaderboard,
    report_table,
    to_markdown,
)
from sports_rec.reporting.across_runs.runs import (
    NotARunFolder,
    find_run_folders,
    load_run,
    load_runs,
)
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = PROJECT_ROOT / "experiments"
BALLS_CSV = EXPERIMENTS / "sports_balls_001" / "published.csv"
WORKOUT_CSV = EXPERIMENTS / "workout_002" / "published.csv"
SPORTS100_CSV = EXPERIMENTS / "sports100_000" / "published.csv"
BALL_CLASSES = ["american_football", "baseball", "basketball", "billiard_ball", "bowling_ball",
                "cricket_ball"]  # fmt: skip
WORKOUT_CLASSES = ["bench press", "pull up", "push up", "squat"]


def _png(path: Path, size: tuple[int, int] = (48, 36), colour: int = 120) -> None:
    Image.new("RGB", size, (colour, 60, 200 - colour)).save(path)


def make_run(
    folder: Path,
    *,
    config: dict[str, Any],
    overrides: list[str],
    info: dict[str, Any] | None = None,
    test_metrics: dict[str, Any] | None = None,
    epochs: list[dict[str, float]] | None = None,
    classes: list[str] | None = None,
    old_per_class: bool = False,
    misclassified: bool = False,
    log_lines: list[str] | None = None,
) -> Path:
    """One run folder in the shape ``sports_rec.train`` writes it."""
    hydra_dir = folder / ".hydra"
    hydra_dir.mkdir(parents=True)
    (hydra_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if info is not None:
        (folder / "run_info.json").write_text(json.dumps(info, indent=2))
    if epochs is not None:
        pd.DataFrame(epochs).to_csv(folder / "metrics.csv", index=False)
    if test_metrics is not None:
        (folder / "test_metrics.json").write_text(json.dumps(test_metrics, indent=2))
        names = classes or []
        n = len(names)
        cm = np.eye(n, dtype=int) * 5 + 1
        pd.DataFrame(cm, index=names, columns=names).rename_axis("true \\ predicted").to_csv(
            folder / "confusion_matrix.csv"
        )
        per_class = pd.DataFrame(
            {
                "class_id": range(n),
                "class_name": names,
                "precision": np.linspace(0.5, 0.9, n),
                "recall": np.linspace(0.9, 0.5, n),
                "f1": np.linspace(0.6, 0.7, n),
                "support": [6] * (n - 1) + [0],
                "accuracy": np.linspace(0.9, 0.5, n),
                "no_support": [False] * (n - 1) + [True],
            }
        )
        if old_per_class:
            per_class = per_class.drop(columns="no_support")
        per_class.to_csv(folder / "per_class.csv", index=False)
        _png(folder / "confusion_matrix.png")
        (folder / "plots").mkdir()
        _png(folder / "plots" / "loss.png")
        if misclassified:
            _png(folder / "misclassified.png", (64, 40), 30)
    if log_lines is not None:
        (folder / "train.log").write_text("\n".join(log_lines) + "\n")
    return folder


def _epoch_rows(n: int, train_acc: list[float], val_acc: list[float]) -> list[dict[str, float]]:
    return [
        {
            "epoch": e,
            "step": 10 * (e + 1),
            "lr": 1e-3,
            "train/loss": 1.5 - 0.3 * e,
            "train/acc": train_acc[e],
            "train/acc_top3": 0.9,
            "train/mean_class_acc": train_acc[e],
            "train/samples_per_sec": 100.0 + 100.0 * e,
            "val/loss": 1.4 - 0.2 * e,
            "val/acc": val_acc[e],
            "val/acc_top3": 0.95,
            "val/mean_class_acc": val_acc[e],
            "val/samples_per_sec": 400.0,
        }
        for e in range(n)
    ]


def _test_metrics(acc: float, classes: int, ckpt: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "test/acc": acc,
        "test/acc_top3": min(1.0, acc + 0.1),
        "test/mean_class_acc": acc - 0.01,
        "test/loss": 1.0 - acc,
        "test/precision_macro": acc - 0.02,
        "test/recall_macro": acc - 0.01,
        "test/f1_macro": acc - 0.03,
        "test/samples_per_sec": 500.0,
        "ckpt_path": ckpt,
    }
    if classes > 5:
        record["test/acc_top5"] = min(1.0, acc + 0.15)
    return record


def _balls_config(pool: str, optimizer: str, seed: int = 42) -> dict[str, Any]:
    return {
        "task_name": "train",
        "tags": ["seed001", "sports_balls"],
        "seed": seed,
        "test": True,
        "data": {"name": "sports_balls", "root": "/data/balls", "num_workers": 4},
        "model": {"net": {"name": "resnet26d", "global_pool": pool, "pretrained": True}},
        "loss": {"_target_": "sports_rec.models.losses.cross_entropy"},
        "sampler": {"strategy": "shuffle"},
        "optimizer": {"_target_": optimizer, "lr": 0.001},
        "trainer": {"max_epochs": 2, "devices": 1},
        "paths": {"output_dir": "${hydra:runtime.output_dir}"},
    }


def _info(recipe: str, dataset: str, model: str, **fields: Any) -> dict[str, Any]:
    record = {
        "status": "completed",
        "error": None,
        "recipe": recipe,
        "dataset": dataset,
        "model": model,
        "params": 13_987_654,
        "trainable_params": 13_987_654,
        "gmacs": 2.3456,
        "epochs": 2,
        "tested_epoch": 0,
        "val_is_test": False,
        "wall_time_s": 61.5,
        "started": "2026-01-01T10:00:00+00:00",
        "finished": "2026-01-01T10:01:01+00:00",
    }
    record.update(fields)
    return record


MAX_ADAM, AVG_SGD = "sports_balls/resnet26d_max_adam", "sports_balls/resnet26d_avg_sgd"


@pytest.fixture
def study(tmp_path: Path) -> dict[str, Path]:
    """A sweep of the two sports-balls recipes + a crashed job; two old workout runs; a
    report's own run folder (never collected)."""
    sweep = tmp_path / "multirun" / "train" / "2026-01-01_10-00-00_ab12cd"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"mode": "MULTIRUN"}}))
    common = ["data.root=/data/balls", "trainer.max_epochs=2"]
    make_run(
        sweep / "0",
        config=_balls_config("max", "torch.optim.Adam"),
        overrides=[f"experiment={MAX_ADAM}", *common, "trainer.devices=1"],
        info=_info(MAX_ADAM, "sports_balls", "resnet26d"),
        test_metrics=_test_metrics(0.80, 6, "/r/0/checkpoints/best-val-acc-epoch000.ckpt"),
        epochs=_epoch_rows(2, [0.55, 0.70], [0.60, 0.58]),
        classes=BALL_CLASSES,
        misclassified=True,
    )
    make_run(
        sweep / "1",
        config=_balls_config("avg", "torch.optim.SGD"),
        overrides=[f"experiment={AVG_SGD}", *common, "trainer.devices=2"],
        info=_info(AVG_SGD, "sports_balls", "resnet26d", tested_epoch=1, gmacs=None),
        test_metrics=_test_metrics(0.86, 6, "/r/1/checkpoints/best-val-acc-epoch001.ckpt"),
        epochs=_epoch_rows(2, [0.66, 0.85], [0.79, 0.87]),
        classes=BALL_CLASSES,
    )
    make_run(
        sweep / "2",
        config=_balls_config("avg", "torch.optim.SGD", seed=7),
        overrides=[f"experiment={AVG_SGD}", *common, "seed=7"],
        info=_info(
            AVG_SGD,
            "sports_balls",
            "resnet26d",
            status="failed",
            error="RuntimeError: CUDA out of memory",
            epochs=None,
            tested_epoch=None,
            finished="2026-01-01T10:00:30+00:00",
        ),
        epochs=_epoch_rows(1, [0.5], [0.5]),
    )
    runs = tmp_path / "logs" / "train" / "runs"
    workout = {
        "task_name": "train",
        "seed": 42,
        "test": True,
        "data": {"name": "workout", "root": "/data/workout"},
        "trainer": {"max_epochs": 2},
    }
    make_run(
        runs / "2026-01-02_09-00-00_old001",
        config={**workout, "model": {"net": {"_target_": "sports_rec.models.nets.classic.LeNet"}}},
        overrides=["experiment=workout/lenet", "data.root=/data/workout"],
        test_metrics=_test_metrics(0.81, 4, "/old/checkpoints/best-val-acc-epoch001.ckpt"),
        epochs=_epoch_rows(3, [0.5, 0.7, 0.8], [0.55, 0.75, 0.74]),
        classes=WORKOUT_CLASSES,
        old_per_class=True,
    )
    make_run(
        runs / "2026-01-02_09-30-00_old002",
        config={
            **workout,
            "model": {"net": {"_target_": "sports_rec.models.nets.classic.AlexNet"}},
        },
        overrides=["data=workout", "model=alexnet"],
        epochs=_epoch_rows(1, [0.4], [0.45]),
        log_lines=[
            "[2026-01-02 09:30:01,000][sports_rec.train][INFO] - Instantiating datamodule",
            "[2026-01-02 09:31:10,000][sports_rec.utils.run][ERROR] - DatasetLayoutError: no "
            "class folders under /data/workout",
        ],
    )
    report_run = tmp_path / "logs" / "report" / "runs" / "2026-01-03_00-00-00_rep001" / ".hydra"
    report_run.mkdir(parents=True)
    (report_run / "config.yaml").write_text(yaml.safe_dump({"task_name": "report"}))
    return {"root": tmp_path, "sweep": sweep, "logs": tmp_path / "logs", "old": runs}


def _by_run(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["folder"]: row for row in table.to_dict("records")}


def test_finds_sweep_jobs_and_runs_in_natural_order_and_skips_other_tasks(
    study: dict[str, Path],
) -> None:
    for job in range(3, 11):  # jobs 3..10 so "10" must sort after "9", not after "1"
        shutil.copytree(study["sweep"] / "0", study["sweep"] / str(job))
    folders = find_run_folders([study["sweep"], study["logs"], study["sweep"] / "1"])
    names = [f.name for f in folders]
    assert names[:11] == [str(n) for n in range(11)]
    assert names[11:] == ["2026-01-02_09-00-00_old001", "2026-01-02_09-30-00_old002"]
    assert all("report" not in f.parts for f in folders)


def test_table_has_one_row_per_run_with_status_and_errors(study: dict[str, Path]) -> None:
    runs = load_runs([study["sweep"], study["old"]])
    table = report_table(runs)
    rows = _by_run(table)
    assert list(table["folder"]) == [
        "multirun/train/2026-01-01_10-00-00_ab12cd/0",
        "multirun/train/2026-01-01_10-00-00_ab12cd/1",
        "multirun/train/2026-01-01_10-00-00_ab12cd/2",
        "logs/train/runs/2026-01-02_09-00-00_old001",
        "logs/train/runs/2026-01-02_09-30-00_old002",
    ]
    sweep = "multirun/train/2026-01-01_10-00-00_ab12cd"
    assert rows[f"{sweep}/0"]["status"] == "completed"
    assert rows[f"{sweep}/2"]["status"] == "failed"
    assert rows[f"{sweep}/2"]["error"] == "RuntimeError: CUDA out of memory"
    assert np.isnan(rows[f"{sweep}/2"]["test acc"])
    old_crash = rows["logs/train/runs/2026-01-02_09-30-00_old002"]
    assert old_crash["status"] == "failed"
    assert old_crash["error"].startswith("no test_metrics.json")
    assert old_crash["error"].endswith("DatasetLayoutError: no class folders under /data/workout")

    first = rows[f"{sweep}/0"]
    assert first["test acc"] == pytest.approx(0.80)
    assert first["top-5"] == pytest.approx(0.95)
    assert first["macro F1"] == pytest.approx(0.77)
    assert first["params (M)"] == pytest.approx(13.987654)
    assert first["GMACs"] == pytest.approx(2.3456)
    assert first["train samples/s"] == pytest.approx(150.0)  # mean of 100 and 200
    assert first["epochs"] == 2
    assert first["tested epoch"] == 0
    assert first["wall time (s)"] == pytest.approx(61.5)
    assert np.isnan(rows[f"{sweep}/1"]["GMACs"])
    # old run without run_info.json: epochs from metrics.csv, tested epoch from the ckpt name
    old = rows["logs/train/runs/2026-01-02_09-00-00_old001"]
    assert (old["status"], old["epochs"], old["tested epoch"]) == ("completed", 3, 1)
    assert np.isnan(old["params (M)"]) and np.isnan(old["top-5"])
    assert old["net"] == "LeNet" and old["dataset"] == "workout"


def test_only_overrides_that_differ_become_columns(study: dict[str, Path]) -> None:
    runs = load_runs([study["sweep"]])
    assert differing_overrides(runs) == ["experiment", "seed"]
    table = report_table(runs)
    assert list(table["experiment"]) == [MAX_ADAM, AVG_SGD, AVG_SGD]
    assert list(table["seed"]) == ["42", "42", "7"]  # runs without the override: config value
    for absent in ("data.root", "trainer.max_epochs", "trainer.devices"):
        assert absent not in table.columns
    assert list(table.columns[:5]) == ["run", "folder", "status", "experiment", "seed"]
    # each run is called by what differs, never by its job number
    assert list(table["run"]) == [
        f"experiment={MAX_ADAM} seed=42",
        f"experiment={AVG_SGD} seed=42",
        f"experiment={AVG_SGD} seed=7",
    ]
    assert list(table["folder"]) == ["0", "1", "2"]


def test_a_model_group_override_is_a_column_beside_the_net_name(tmp_path: Path) -> None:
    """``model=`` is the commonest sweep axis; its column must not be the net name."""
    for job, (choice, net) in enumerate((("small", "resnet10t"), ("lenet", "lenet"))):
        make_run(
            tmp_path / "sweep" / str(job),
            config={
                "task_name": "train",
                "data": {"name": "synthetic_sports100"},
                "model": {"net": {"name": net}},
            },
            overrides=[f"model={choice}", "data.num_workers=0"],
            info=_info(None, "synthetic_sports100", net),
            test_metrics=_test_metrics(0.5 + job / 10, 4, None),
            classes=WORKOUT_CLASSES,
        )
    table = report_table(load_runs([tmp_path / "sweep"]))
    assert list(table["model"]) == ["small", "lenet"]
    assert list(table["net"]) == ["resnet10t", "lenet"]
    assert list(table["recipe"]) == [  # group choices, not an invented recipe name
        "data=synthetic_sports100 model=small",
        "data=synthetic_sports100 model=lenet",
    ]


def test_published_values_sit_beside_the_runs_own_matched_by_recipe(
    study: dict[str, Path],
) -> None:
    runs = load_runs([study["sweep"], study["old"]])
    published = read_published_files([BALLS_CSV, WORKOUT_CSV])
    table = report_table(runs, published)
    columns = list(table.columns)
    at = columns.index("test acc")
    assert columns[at + 1 : at + 3] == [
        "test_accuracy [text] (published)",
        "test_accuracy [notebook] (published)",
    ]
    at = columns.index("train acc")
    assert columns[at + 1 : at + 3] == [
        "train_accuracy [text] (published)",
        "train_accuracy [notebook] (published)",
    ]
    assert columns[columns.index("val acc") + 1] == "val_accuracy [text] (published)"
    rows = _by_run(table)
    sweep = "multirun/train/2026-01-01_10-00-00_ab12cd"
    assert rows[f"{sweep}/0"]["test_accuracy [text] (published)"] == 0.73
    assert rows[f"{sweep}/0"]["test_accuracy [notebook] (published)"] == 0.7874
    assert rows[f"{sweep}/1"]["test_accuracy [notebook] (published)"] == 0.8658
    assert rows[f"{sweep}/1"]["test_loss [notebook] (published)"] == 0.4711
    # the run's own value at the tested epoch: epoch 0 for job 0, not the last epoch
    assert rows[f"{sweep}/0"]["train acc"] == pytest.approx(0.55)
    assert rows[f"{sweep}/1"]["train acc"] == pytest.approx(0.85)
    old = rows["logs/train/runs/2026-01-02_09-00-00_old001"]
    assert old["test_accuracy [text] (published)"] == 0.838
    assert old["val acc"] == pytest.approx(0.75)  # tested epoch 1 from the checkpoint name
    assert np.isnan(old["test_accuracy [notebook] (published)"])
    # a group-composed run is not the recipe of the same name: no published value
    crashed = rows["logs/train/runs/2026-01-02_09-30-00_old002"]
    assert crashed["recipe"] == "data=workout model=alexnet"
    assert np.isnan(crashed["test_accuracy [text] (published)"])

    text = format_table(table, published)
    assert text.loc[0, "test_accuracy [notebook] (published)"] == "0.7874"
    assert text.loc[2, "test acc"] == "-"


def test_group_composed_run_is_not_the_recipe_of_the_same_name(tmp_path: Path) -> None:
    """`data=sports100 model=vit` lacks the study's optimiser and schedule
    (experiment=sports100/vit adds them), so it matches none of the recipe's published values."""
    run_dir = make_run(
        tmp_path / "run",
        config={"task_name": "train", "data": {"name": "sports100"}},
        overrides=["data=sports100", "model=vit"],
        test_metrics=_test_metrics(0.9, 100, None),
        epochs=_epoch_rows(1, [0.8], [0.85]),
        classes=["archery", "baseball", "cricket"],
    )
    assert load_run(run_dir).recipe == "data=sports100 model=vit"
    other = make_run(
        tmp_path / "other",
        config={"task_name": "train", "data": {"name": "sports100"}},
        overrides=["data=sports100", "model=lenet"],
        test_metrics=_test_metrics(0.5, 100, None),
        epochs=_epoch_rows(1, [0.4], [0.45]),
        classes=["archery", "baseball", "cricket"],
    )
    # no recipe either way: named by its groups, never written like a recipe that does not
    # exist (the report once called such a run "sports100/lenet")
    assert load_run(other).recipe == "data=sports100 model=lenet"


def test_recipe_run_and_lower_bound(tmp_path: Path) -> None:
    """Study 000's ConvNeXt recipe; its "above 90%" is shown as a bound."""
    run_dir = make_run(
        tmp_path / "run",
        config={
            "task_name": "train",
            "data": {"name": "sports100"},
            "model": {"net": {"name": "convnextv2_tiny"}},
        },
        overrides=["experiment=sports100/convnext_tiny"],
        test_metrics=_test_metrics(0.9, 100, None),
        epochs=_epoch_rows(2, [0.8, 0.9], [0.85, 0.93]),
        classes=["archery", "baseball", "cricket"],
    )
    run = load_run(run_dir)
    assert run.recipe == "sports100/convnext_tiny"
    published = read_published(SPORTS100_CSV)
    table = report_table([run], published)
    column = "val_accuracy_lower_bound [text] (published)"
    assert table.loc[0, "val acc"] == pytest.approx(0.93)  # last epoch: tested epoch unknown
    assert table.loc[0, column] == 0.90
    assert format_table(table, published).loc[0, column] == "> 0.9000"
    assert format_published(0.992, "val_accuracy") == "0.9920"


def test_leaderboard_is_model_by_dataset_best_test_accuracy(study: dict[str, Path]) -> None:
    runs = load_runs([study["sweep"], study["old"]])
    board = leaderboard(runs).set_index("model")
    assert list(board.index) == ["resnet26d", "LeNet", "AlexNet"]
    assert list(board.columns) == ["sports_balls", "workout"]
    assert board.loc["resnet26d", "sports_balls"] == pytest.approx(0.86)
    assert board.loc["LeNet", "workout"] == pytest.approx(0.81)
    assert np.isnan(board.loc["AlexNet", "workout"])  # only a crashed run
    assert np.isnan(board.loc["resnet26d", "workout"])
    assert leaderboard(load_runs([study["sweep"]])) is None


def test_write_report_writes_every_file(study: dict[str, Path]) -> None:
    from sports_rec.reporting.across_runs.report_files import write_report

    runs = load_runs([study["sweep"], study["old"]])
    published = read_published_files([BALLS_CSV, WORKOUT_CSV])
    out = study["root"] / "report"
    markdown, files = write_report(runs, out, published, html=True)
    expected = {"report.md", "report.csv", "report.png", "curves.png", "curves.csv", "report.html"}
    assert set(files) == expected | {"leaderboard.md", "leaderboard.csv"}
    for name in files:
        assert (out / name).stat().st_size > 0, name
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table_lines) == 2 + 5  # header, separator, one line per run
    assert "| failed " in markdown
    csv = pd.read_csv(out / "report.csv")
    assert len(csv) == 5 and "path" in csv.columns and "recipe" in csv.columns
    assert pd.read_csv(out / "leaderboard.csv").shape == (3, 3)
    report_md = (out / "report.md").read_text()
    assert "## Published values" in report_md and "seed 001 §4.1.1 l.57" in report_md
    with Image.open(out / "curves.png") as curves:
        assert curves.width > 1000
    # the curves' legend names the runs by their labels, as the table does
    curves_csv = pd.read_csv(out / "curves.csv")
    assert list(dict.fromkeys(curves_csv["run"])) == list(csv["run"])
    job0 = curves_csv[(curves_csv["folder"] == csv["folder"][0]) & (curves_csv["split"] == "val")]
    assert job0[job0["metric"] == "accuracy"]["epoch"].tolist() == [0, 1]


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotARunFolder, match=f"'{empty}' is empty"):
        load_runs([empty])
    stray = tmp_path / "no_runs"
    (stray / "sub").mkdir(parents=True)
    (stray / "sub" / "notes.txt").write_text("x")
    with pytest.raises(NotARunFolder, match=f"'{stray}' holds no run folder"):
        load_runs([stray])
    with pytest.raises(NotARunFolder, match="does not exist"):
        load_runs([tmp_path / "missing"])
    with pytest.raises(NotARunFolder, match=r"pass runs=\[DIR"):
        load_runs([])

    old_format = tmp_path / "published.csv"
    old_format.write_text("model,metric,value,source\nvit,val_accuracy,0.992,abstract\n")
    with pytest.raises(PublishedFormatError) as error:
        read_published(old_format)
    assert str(old_format) in str(error.value)
    assert "lacks the column(s) recipe, note" in str(error.value)
    old_format.write_text("recipe,metric,value,source,note\nx/y,val_acc,0.9,text,l.1\n")
    with pytest.raises(PublishedFormatError, match=r"unknown metric\(s\) 'val_acc' \(line 2\)"):
        read_published(old_format)
    old_format.write_text("recipe,metric,value,source,note\nx/y,val_accuracy,90%,text,l.1\n")
    with pytest.raises(PublishedFormatError, match=r"non-numeric value\(s\) '90%' \(line 2\)"):
        read_published(old_format)
    with pytest.raises(PublishedFormatError, match="does not exist"):
        read_published(tmp_path / "absent.csv")


def test_published_files_of_the_three_studies() -> None:
    frames = {p.parent.name: read_published(p) for p in (SPORTS100_CSV, BALLS_CSV, WORKOUT_CSV)}
    for frame in frames.values():
        assert frame["note"].str.contains(r"l\.\d+").all()  # every value cites study lines
    balls = frames["sports_balls_001"].set_index(["recipe", "metric", "source"])["value"]
    assert balls[(MAX_ADAM, "test_accuracy", "text")] == 0.73
    assert balls[(MAX_ADAM, "test_accuracy", "notebook")] == 0.7874
    assert balls[(AVG_SGD, "test_accuracy", "text")] == 0.87
    assert balls[(AVG_SGD, "test_accuracy", "notebook")] == 0.8658
    assert balls[(MAX_ADAM, "test_loss", "text")] == 0.91
    assert balls[(AVG_SGD, "train_loss", "notebook")] == 0.4836
    workout = frames["workout_002"].set_index(["recipe", "metric"])["value"]
    assert workout[("workout/alexnet", "test_accuracy")] == 0.9539
    assert workout[("workout/lenet", "train_examples_per_sec")] == 1071.7
    sports100 = frames["sports100_000"].set_index(["recipe", "metric"])["value"]
    assert sports100[("sports100/vit", "val_accuracy")] == 0.992
    assert sports100[("sports100/convnext_tiny", "val_accuracy_lower_bound")] == 0.90
    assert METRICS["val_accuracy_lower_bound"].lower_bound


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "sports_rec.report", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # the real CLI, twice
def test_cli_prints_the_table_and_fails_cleanly_on_a_bad_folder(study: dict[str, Path]) -> None:
    root = study["root"]
    result = _cli(
        ["runs=[multirun/train,logs]", f"published=[{BALLS_CSV},{WORKOUT_CSV}]", "html=false"],
        root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| run " in result.stdout and "test_accuracy [notebook] (published)" in result.stdout
    assert "| model " in result.stdout  # the leaderboard: two datasets
    folder = next(line for line in result.stdout.splitlines() if line.startswith("Report folder"))
    out = Path(folder.split(": ", 1)[1])
    assert out.parent == root / "logs" / "report" / "runs"
    assert {p.name for p in out.iterdir()} >= {
        "report.md",
        "report.csv",
        "report.png",
        "curves.png",
        "leaderboard.md",
        "leaderboard.csv",
    }
    assert not (out / "report.html").exists()

    (root / "empty").mkdir()
    bad = _cli(["runs=[empty]"], root)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "Run folder 'empty' is empty" in bad.stdout + bad.stderr


def test_html_renders_in_chromium(study: dict[str, Path]) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"headless Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )
    from sports_rec.reporting.across_runs.report_files import write_report

    runs = load_runs([study["sweep"], study["old"]])
    published = read_published_files([BALLS_CSV, WORKOUT_CSV])
    _, files = write_report(runs, study["root"] / "report", published, html=True)
    html = files["report.html"]
    source = html.read_text()
    assert "http://" not in source and "https://" not in source

    requests: list[str] = []
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            sources = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.src)")
            rows = page.eval_on_selector_all("#report-table tbody tr", "rows => rows.length")
            board_rows = page.eval_on_selector_all("#leaderboard tbody tr", "r => r.length")
            first_cells = page.eval_on_selector_all(
                "#report-table tbody tr td:first-child", "cells => cells.map(c => c.textContent)"
            )
            headings = page.eval_on_selector_all(
                "section.run h2", "hs => hs.map(h => h.firstChild.textContent.trim())"
            )
            page.set_viewport_size({"width": 1280, "height": 900})
            page.screenshot(path=str(study["root"] / "report" / "report.html.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    # 2 report figures; per completed run: confusion matrix + per-class bars (+ gallery)
    assert len(widths) == 2 + 3 * 2 + 1
    assert all(w > 0 for w in widths), widths
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert rows == 5 and board_rows == 3
    # every run is called by what differs between the runs, not by its folder or job number
    labels = [run.label for run in runs]
    assert labels[0] == "experiment=sports_balls/resnet26d_max_adam seed=42"
    assert first_cells == labels and headings == labels
    with Image.open(study["root"] / "report" / "report.png") as figure:
        assert figure.width >= 600
    assert to_markdown(format_table(report_table(runs, published), published)).count("\n") == 6


def test_published_numbers_are_found_by_study_name_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sports_rec.reporting.across_runs.published import published_path, shipped_studies

    monkeypatch.chdir(tmp_path)  # not the checkout: relative paths no longer point into it
    assert shipped_studies() == [
        "exercise_video_004", "infiniteform_003", "sports100_000", "sports_balls_001",
        "workout_002",
    ]  # fmt: skip
    by_name = published_path("sports_balls_001")
    assert by_name.is_file() and by_name == published_path(
        "experiments/sports_balls_001/published.csv"
    )
    assert len(read_published("workout_002")) > 0
    with pytest.raises(PublishedFormatError, match="sports_balls_001"):
        read_published("no_such_study")


def test_the_chart_promises_published_values_only_where_a_run_has_one() -> None:
    from sports_rec.reporting.across_runs.figures import headline_sources
    from sports_rec.reporting.across_runs.report_table import HEADLINE

    published = pd.DataFrame(
        {"recipe": ["sports_balls/x"], "metric": [HEADLINE], "value": [0.9], "source": ["text"]}
    )
    column = published_column(HEADLINE, "text")
    none_matched = pd.DataFrame({column: [float("nan"), float("nan")]})
    assert headline_sources(none_matched, published) == []  # no "vs published" in the title
    one_matched = pd.DataFrame({column: [0.9, float("nan")]})
    assert headline_sources(one_matched, published) == ["text"]
    assert headline_sources(one_matched, None) == []
