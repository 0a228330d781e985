"""End to end: train, learn above chance, evaluate, resume, determinism, artefacts."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from sports_rec.evaluate import evaluate
from sports_rec.reporting.across_runs.report_files import write_report
from sports_rec.reporting.across_runs.runs import load_runs
from sports_rec.train import train
from tests.conftest import compose_config, screenshot

LEARN_DATA = [
    "data.synthetic.classes=4",
    "data.synthetic.per_class=32",
    "data.synthetic.eval_per_class=8",
    "data.synthetic.size=32",
    "data.image_size=32",
    "data.batch_size=16",
    "data.num_workers=0",
]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real (short) training run of the default small model, shared by several tests."""
    root = tmp_path_factory.mktemp("trained")
    out = root / "run"
    cfg = compose_config(
        "train",
        [
            f"paths.data_dir={root / 'data'}",
            *LEARN_DATA,
            "trainer.max_epochs=10",
            "trainer.accelerator=cpu",
            "print_config=true",
        ],
        out,
        root,
    )
    metrics = train(cfg)
    return {"cfg": cfg, "dir": out, "metrics": metrics, "root": root}


@pytest.mark.slow  # trained_run: ten epochs
def test_default_model_learns_well_above_chance(trained_run: dict) -> None:
    result = json.loads((trained_run["dir"] / "test_metrics.json").read_text())
    chance = 1 / 4
    assert result["test/acc"] >= 2 * chance, result
    history = pd.read_csv(trained_run["dir"] / "metrics.csv")
    assert history["train/loss"].iloc[-1] < history["train/loss"].iloc[0]


@pytest.mark.slow
def test_run_folder_holds_every_artefact(trained_run: dict) -> None:
    out: Path = trained_run["dir"]
    for name in (
        "metrics.csv",
        "test_metrics.json",
        "per_class.csv",
        "confusion_matrix.csv",
        "confusion_matrix.png",
        "splits.csv",
        "data_report.txt",
        "config_tree.log",
        "plots/loss.png",
        "plots/accuracy.png",
        "plots/lr.png",
        "plots/per_class_accuracy.png",  # per-class figures are part of every run
        "plots/per_class_accuracy_top10.png",
        "plots/per_class_heatmap.png",
        "plots/final_class_comparison.png",
        "csv/metrics.csv",
    ):
        assert (out / name).is_file(), name
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts
    assert any(n.startswith("best-val-acc") for n in ckpts)
    assert any(n.startswith("best-val-loss") for n in ckpts)

    result = json.loads((out / "test_metrics.json").read_text())
    for key in ("test/acc", "test/acc_top3", "test/mean_class_acc", "test/loss"):
        assert key in result
    if result["test/acc"] < 1.0:  # something was misclassified: the gallery shows it
        assert (out / "misclassified.png").is_file()
        # the run as a reader sees it: its report page, gallery included, in Chromium (the
        # config saved where the command line would have saved it)
        (out / ".hydra").mkdir(exist_ok=True)
        OmegaConf.save(trained_run["cfg"], out / ".hydra" / "config.yaml")
        _, files = write_report(load_runs([out]), trained_run["root"] / "report")
        html = files["report.html"].read_text()
        assert "misclassified test images" in html
        screenshot(files["report.html"], trained_run["root"] / "report" / "report.html.png")
    assert "best-val-acc" in result["ckpt_path"]
    # where the run's wall time went: every phase, summing to the whole
    phases = json.loads((out / "run_info.json").read_text())["phases"]
    assert list(phases) == ["start-up", "training", "test", "tear-down", "total"]
    assert all(v >= 0 for v in phases.values()) and phases["training"] > phases["test"]
    parts = sum(v for k, v in phases.items() if k != "total")
    assert parts == pytest.approx(phases["total"], abs=0.3)
    history = pd.read_csv(out / "metrics.csv")
    assert list(history["epoch"]) == list(range(10))
    for column in (
        "train/loss",
        "val/loss",
        "train/acc",
        "val/acc",
        "lr",
        "train/samples_per_sec",
        "val/samples_per_sec",
    ):
        assert history[column].notna().all(), column

    per_class = pd.read_csv(out / "per_class.csv")
    assert list(per_class.columns) == [
        "class_id",
        "class_name",
        "precision",
        "recall",
        "f1",
        "support",
        "accuracy",
        "no_support",
    ]
    assert per_class["support"].sum() == 4 * 8
    assert not per_class["no_support"].any()
    matrix = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    assert list(matrix.index) == list(matrix.columns) == list(per_class["class_name"])
    assert matrix.to_numpy().trace() / matrix.to_numpy().sum() == pytest.approx(result["test/acc"])

    # The tested checkpoint's epoch is recorded, and run_info.json describes the run.
    tested = int(re.search(r"epoch(\d+)", result["ckpt_path"]).group(1))
    assert result["epoch"] == tested
    info = json.loads((out / "run_info.json").read_text())
    assert info["status"] == "completed" and info["error"] is None
    assert (info["dataset"], info["model"], info["recipe"]) == (
        "synthetic_sports100",
        "resnet10t",
        None,
    )
    assert info["epochs"] == 10 and info["tested_epoch"] == tested
    assert info["params"] == info["trainable_params"] == 4_924_540  # resnet10t, 4 classes
    assert info["gmacs"] == pytest.approx(0.0224, rel=0.05)  # resnet10t at 32 px
    started, finished = (datetime.fromisoformat(info[k]) for k in ("started", "finished"))
    assert 0 < info["wall_time_s"] <= (finished - started).total_seconds() + 1


@pytest.mark.slow
def test_checkpoints_of_one_epoch_share_one_file(trained_run: dict) -> None:
    """best-val-acc, best-val-loss and last.ckpt of the same epoch are one file (hard links),
    and there is exactly one file per distinct epoch."""
    files = sorted((trained_run["dir"] / "checkpoints").glob("*.ckpt"))
    epochs = {p.name: torch.load(p, map_location="cpu", weights_only=True)["epoch"] for p in files}
    inodes = {p.name: p.stat().st_ino for p in files}
    for a in files:
        for b in files:
            same_epoch = epochs[a.name] == epochs[b.name]
            assert (inodes[a.name] == inodes[b.name]) == same_epoch, (a.name, b.name)
    assert len(set(inodes.values())) == len(set(epochs.values()))


@pytest.mark.slow
def test_checkpoint_carries_classes_and_data_config(trained_run: dict) -> None:
    ckpt = torch.load(trained_run["dir"] / "checkpoints" / "last.ckpt", weights_only=True)
    meta = ckpt["hyper_parameters"]["metadata"]
    assert meta["class_names"] == ["air hockey", "ampute football", "archery", "arm wrestling"]
    assert meta["data"]["_target_"].endswith("SportsDataModule")
    # The transforms are stored resolved: trained from scratch, so ImageNet statistics, and
    # no eval crop (the sports100 layout's images are generated at the input size).
    evaluation = meta["transforms"]["eval"]
    assert evaluation["size"] == 32 and evaluation["crop_pct"] == 1.0
    assert evaluation["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert evaluation["interpolation"] == "bilinear"


@pytest.mark.slow
def test_evaluate_reproduces_test_metrics(trained_run: dict, tmp_path: Path) -> None:
    reference = json.loads((trained_run["dir"] / "test_metrics.json").read_text())
    cfg = compose_config(
        "evaluate",
        [f"ckpt_path={reference['ckpt_path']}", "trainer.accelerator=cpu"],
        tmp_path / "eval",
        tmp_path,
    )
    metrics = evaluate(cfg)
    for key in ("test/acc", "test/acc_top3", "test/mean_class_acc", "test/loss"):
        assert metrics[key] == pytest.approx(reference[key], abs=1e-4), key
    written = json.loads((tmp_path / "eval" / "test_metrics.json").read_text())
    assert written["test/acc"] == pytest.approx(reference["test/acc"], abs=1e-4)
    assert written["ckpt_path"] == reference["ckpt_path"]
    for name in ("per_class.csv", "confusion_matrix.csv", "confusion_matrix.png"):
        assert (tmp_path / "eval" / name).is_file()


@pytest.mark.slow
def test_evaluate_refuses_data_with_other_classes(trained_run: dict, tmp_path: Path) -> None:
    from sports_rec.checkpoint import CheckpointDataMismatch
    from sports_rec.data.synthetic import SyntheticSpec, generate

    other = generate(
        SyntheticSpec("sports100", classes=3, per_class=2, eval_per_class=2, size=32),
        tmp_path / "other",
    )
    ckpt = trained_run["dir"] / "checkpoints" / "last.ckpt"
    cfg = compose_config(
        "evaluate",
        [f"ckpt_path={ckpt}", f"data.root={other}"],
        tmp_path / "eval",
        tmp_path,
    )
    with pytest.raises(CheckpointDataMismatch, match="trained on 'synthetic_sports100'"):
        evaluate(cfg)


@pytest.mark.slow
def test_resume_with_more_epochs_continues_the_run_and_follows_the_new_horizon(
    trained_run: dict, tmp_path: Path
) -> None:
    last = trained_run["dir"] / "checkpoints" / "last.ckpt"
    cfg = compose_config(
        "train",
        [
            f"paths.data_dir={trained_run['root'] / 'data'}",
            *LEARN_DATA,
            "trainer.max_epochs=12",
            "trainer.accelerator=cpu",
            f"ckpt_path={last}",
            "print_config=false",
        ],
        tmp_path / "resumed",
        tmp_path,
    )
    train(cfg)
    out = tmp_path / "resumed"
    history = pd.read_csv(out / "metrics.csv")
    before = pd.read_csv(trained_run["dir"] / "metrics.csv")
    # The new run folder holds the whole history: the 10 earlier epochs, then 2 new ones.
    assert list(history["epoch"]) == list(range(12))
    pd.testing.assert_frame_equal(history.iloc[:10], before, check_dtype=False)
    resumed = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["epoch"] == 11
    # The cosine schedule follows the new 12-epoch horizon (warm-up 1 epoch, min 1 %),
    # instead of climbing back up past the old one.
    base = 1e-3
    for epoch in (10, 11):
        progress = (epoch - 1) / (12 - 1)
        expected = base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))
        assert history.loc[epoch, "lr"] == pytest.approx(expected, rel=1e-6), epoch
    assert history.loc[11, "lr"] < history.loc[10, "lr"]
    # "best" still means the best of the whole run: the earlier best checkpoints were
    # carried into the new folder (hard links; the old folder is untouched).
    result = json.loads((out / "test_metrics.json").read_text())
    best_epoch = int(history["val/acc"].idxmax())
    assert result["epoch"] == best_epoch
    assert Path(result["ckpt_path"]).parent == (out / "checkpoints").resolve()
    assert (trained_run["dir"] / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow  # two runs of two epochs
def test_same_seed_gives_identical_metrics(make_cfg) -> None:
    runs = []
    for name in ("a", "b"):
        cfg = make_cfg("trainer.max_epochs=2", "seed=7", "test=false", run=name)
        train(cfg)
        runs.append(pd.read_csv(Path(cfg.paths.output_dir) / "metrics.csv"))
    columns = [c for c in runs[0].columns if "samples_per_sec" not in c]
    pd.testing.assert_frame_equal(runs[0][columns], runs[1][columns])


def test_fast_dev_run_tests_current_weights(make_cfg) -> None:
    cfg = make_cfg("debug=fdr")
    metrics = train(cfg)
    assert "test/acc" in metrics
    result = json.loads((Path(cfg.paths.output_dir) / "test_metrics.json").read_text())
    assert result["ckpt_path"] is None


def test_elastic_net_penalty_is_logged(make_cfg) -> None:
    cfg = make_cfg(
        "regularization.l1=1e-5",
        "regularization.l2=1e-4",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "test=false",
        "logger=none",
    )
    metrics = train(cfg)
    # The logged penalty is l1 * sum|w| + l2 * sum w^2 over the weights (not biases or norm
    # scales); two small steps barely move them, so the final weights give it to ~1 %.
    weights = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True
    )["state_dict"]
    matrices = [w for name, w in weights.items() if name.startswith("net.") and w.ndim > 1]
    expected = sum(1e-5 * w.abs().sum() + 1e-4 * w.pow(2).sum() for w in matrices)
    assert metrics["train/penalty"] == pytest.approx(float(expected), rel=0.01)


@pytest.mark.slow  # two epochs each
@pytest.mark.parametrize("choice", ["last", "none"])
def test_test_ckpt_last_and_none(make_cfg, choice: str) -> None:
    cfg = make_cfg("trainer.max_epochs=2", f"test_ckpt={choice}", "logger=none")
    train(cfg)
    result = json.loads((Path(cfg.paths.output_dir) / "test_metrics.json").read_text())
    assert result["epoch"] == 1  # the last epoch's weights, from the file or in memory
    if choice == "last":
        assert result["ckpt_path"].endswith("checkpoints/last.ckpt")
    else:
        assert result["ckpt_path"] is None


def test_auto_class_weights_follow_the_training_split(make_cfg) -> None:
    """class_weights=auto weights the loss by inverse frequency in *this* run's training
    split (w_c = N / (K n_c)), and the trained checkpoint carries exactly those weights."""
    from sports_rec.checkpoint import load_classifier

    cfg = make_cfg(
        "data=synthetic_workout",
        "loss=focal",
        "loss.class_weights=auto",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "logger=none",
    )
    train(cfg)
    out = Path(cfg.paths.output_dir)
    splits = pd.read_csv(out / "splits.csv")
    counts = splits[splits["split"] == "train"]["label"].value_counts().sort_index()
    assert counts.nunique() > 1, "the synthetic workout classes are uneven"
    expected = counts.sum() / (len(counts) * counts)
    model = load_classifier(out / "checkpoints" / "last.ckpt")
    assert model.criterion.weight.tolist() == pytest.approx(expected.to_list(), rel=1e-5)


def test_randaugment_feeds_a_grayscale_net_one_channel(make_cfg) -> None:
    cfg = make_cfg(
        "model=lenet", "data.dataset.grayscale=true", "transforms=randaugment", "debug=fdr"
    )
    metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none here")
def test_gpu_run_with_mixed_precision(make_cfg) -> None:
    cfg = make_cfg("trainer=gpu", "trainer.max_epochs=1", "logger=none")
    expected = (
        "bf16-mixed" if torch.cuda.is_bf16_supported(including_emulation=False) else "16-mixed"
    )
    assert cfg.trainer.precision == expected  # chosen by the ${mixed_precision:} resolver
    metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["test/loss"]))
