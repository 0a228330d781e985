"""benchmarks/versus_timm.py and benchmarks/photo_set.py without running either program:
the photo set's size law, the flags that make timm's schedule the project's, and reading
both programs' results from their captured output and files."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import photo_set  # noqa: E402
import versus_timm  # noqa: E402

# What timm's train.py (timm 1.0.31) prints at the end of a 2-epoch run.
TIMM_OUTPUT = """\
Test: [   0/0]  Time: 0.225 (0.225)  Loss:   1.111 ( 1.111)  Acc@1:  26.667 ( 26.667)  \
Acc@5: 100.000 (100.000)
Current checkpoints:
 ('/tmp/out/r1_timm/checkpoint-0.pth.tar', 46.66666793823242)
 ('/tmp/out/r1_timm/checkpoint-1.pth.tar', 26.66666603088379)

*** Best metric: 46.66666793823242 (epoch 0)
--result
[
    {
        "epoch": 1,
        "train": {
            "loss": 1.0654874642690022
        },
        "validation": {
            "loss": 1.108743667602539,
            "top1": 26.66666603088379,
            "top5": 100.0
        }
    },
    {
        "epoch": 0,
        "train": {
            "loss": 1.1548463503519695
        },
        "validation": {
            "loss": 1.0974875688552856,
            "top1": 46.66666793823242,
            "top5": 100.0
        }
    }
]
"""
TIMM_SUMMARY = """\
epoch,train_loss,eval_loss,eval_top1,eval_top5,lr
0,1.1548463503519695,1.0974875688552856,46.66666793823242,100.0,0.0001
1,1.0654874642690022,1.108743667602539,26.66666603088379,100.0,0.001
"""


def test_photo_sizes_follow_the_real_sets_spread():
    rng = np.random.default_rng(0)
    sizes = [photo_set.photo_size(rng) for _ in range(20000)]
    summary = photo_set.size_summary(sizes)
    assert 370 <= summary["median_long_side"] <= 430
    assert 0.17 <= summary["share_over_1000"] <= 0.23
    longs = np.array([max(s) for s in sizes])
    assert longs.max() <= photo_set.MAX_SIDE and longs.min() >= photo_set.MIN_SIDE
    near_4000 = (longs >= photo_set.TAIL_FROM).mean()
    assert 0.01 <= near_4000 <= 0.04  # "a few" photos near 4,000 px
    portrait = np.mean([h > w for w, h in sizes])
    assert 0.1 <= portrait <= 0.3
    ratios = {round(max(w, h) / min(w, h), 1) for w, h in sizes if min(w, h) > 300}
    assert {1.0, 1.3, 1.5, 1.8} <= ratios


def test_class_cues_need_both_colour_and_pattern():
    cues = {photo_set._cues(label, 6)[:2] for label in range(6)}
    assert len(cues) == 6  # every class its own (colour family, pattern)
    assert len({c[0] for c in cues}) > 1 and len({c[1] for c in cues}) > 1


def test_photo_set_layout_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setattr(photo_set, "photo_size", lambda rng: (int(rng.integers(64, 160)), 96))
    root = photo_set.make_photo_set(tmp_path, 2, 2, 1, seed=3, workers=1, quiet=True)
    assert root.name == photo_set.set_name(2, 2, 1, 3)
    files = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*/*.jpg"))
    assert files == [
        "test/american_football/american_football_1.jpg",
        "test/baseball/baseball_1.jpg",
        "train/american_football/american_football_1.jpg",
        "train/american_football/american_football_2.jpg",
        "train/baseball/baseball_1.jpg",
        "train/baseball/baseball_2.jpg",
    ]
    rows = list(csv.DictReader((root / "photos.csv").open()))
    assert len(rows) == 6 and {r["split"] for r in rows} == {"train", "test"}
    assert photo_set.read_sizes(root) == [(int(r["width"]), int(r["height"])) for r in rows]
    stamp = (root / "photos.csv").stat().st_mtime_ns
    assert photo_set.make_photo_set(tmp_path, 2, 2, 1, seed=3, quiet=True) == root
    assert (root / "photos.csv").stat().st_mtime_ns == stamp  # reused, not rewritten
    again = photo_set.draw_photo((3, 0, 1, 0), 1, 2)
    assert np.array_equal(np.asarray(again), np.asarray(photo_set.draw_photo((3, 0, 1, 0), 1, 2)))


@pytest.mark.parametrize("epochs", [1, 2, 3, 5])
def test_timm_flags_give_the_projects_learning_rates(epochs):
    from timm.scheduler import create_scheduler_v2

    from sports_rec.models.schedulers import WarmupCosine

    lr = 1e-3
    schedule = versus_timm.project_schedule()
    flags = versus_timm.timm_schedule_flags(epochs, lr, schedule)
    value = {
        f: flags[i + 1] for i, f in enumerate(flags) if f.startswith("--") and i + 1 < len(flags)
    }

    def optimizer():
        return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)

    timm_sched, timm_epochs = create_scheduler_v2(
        optimizer(),
        sched="cosine",
        num_epochs=int(value["--epochs"]),
        warmup_epochs=int(value["--warmup-epochs"]),
        warmup_lr=float(value["--warmup-lr"]),
        min_lr=float(value["--min-lr"]),
        warmup_prefix="--warmup-prefix" in flags,
    )
    ours = WarmupCosine(
        optimizer(),
        epochs,
        schedule["warmup_epochs"],
        schedule["warmup_start_factor"],
        schedule["min_lr_ratio"],
    )
    assert timm_epochs == epochs
    for epoch in range(epochs):
        assert timm_sched._get_lr(epoch)[0] == pytest.approx(lr * ours.factor(epoch))


def test_top1_read_from_timm_files_and_output(tmp_path):
    assert versus_timm.timm_top1_from_output(TIMM_OUTPUT) == pytest.approx(26.66666603088379)
    assert versus_timm.timm_best(TIMM_OUTPUT) == pytest.approx(46.66666793823242)
    (tmp_path / "summary.csv").write_text(TIMM_SUMMARY)
    assert versus_timm.timm_top1(tmp_path) == pytest.approx(26.66666603088379)
    assert versus_timm.timm_top1(tmp_path / "absent", TIMM_OUTPUT) == pytest.approx(26.666666)
    assert versus_timm.timm_top1(None, "no result here") is None


def test_top1_read_from_the_projects_run_folder(tmp_path):
    output = "Testing ━━━━━ 1/1\nRun folder: /runs/r1_sports_rec\n"
    assert versus_timm.project_run_folder(output) == Path("/runs/r1_sports_rec")
    assert versus_timm.project_top1(tmp_path) is None
    record = {"test/acc": 0.4, "test/loss": 1.1, "ckpt_path": "/r/checkpoints/last.ckpt"}
    (tmp_path / "test_metrics.json").write_text(json.dumps(record))
    assert versus_timm.project_top1(tmp_path) == pytest.approx(40.0)


def test_phases_from_each_programs_lines():
    timeline = [
        (8.0, "Scheduled epochs: 3 (warmup_epochs + epochs + cooldown_epochs).\n"),
        (50.0, "Test: [  10/10] ...\n"),
        (61.0, "*** Best metric: 50.0 (epoch 2)\n"),
    ]
    assert versus_timm.phases(timeline, versus_timm.MARKS["timm"], 62.5) == (8.0, 53.0, 1.5)
    assert versus_timm.phases(timeline, versus_timm.MARKS["sports_rec"], 62.5) is None


def test_both_commands_carry_the_same_settings(tmp_path):
    setup = versus_timm.Setup(
        timm_train="/x/train.py", data=tmp_path, classes=6, check_classes=False, epochs=3
    )
    timm = versus_timm.timm_command(setup, tmp_path / "r1_timm")
    ours = versus_timm.project_command(setup, tmp_path / "r1_sports_rec")
    pairs = [
        (["--model", "resnet10t"], "model.net.name=resnet10t"),
        (["--img-size", "96"], "data.image_size=96"),
        (["-b", "64"], "data.batch_size=64"),
        (["-j", "2"], "data.num_workers=2"),
        (["--lr", "0.001"], "optimizer.lr=0.001"),
        (["--weight-decay", "0.05"], "optimizer.weight_decay=0.05"),
        (["--amp", "--amp-dtype", "bfloat16"], "trainer.precision=bf16-mixed"),
        (["--channels-last"], "model.channels_last=true"),
        (["--val-split", "test"], "data.val_split=test"),
        (["--scale", "0.6", "1"], "data.reader.check_classes=false"),
    ]
    for flags, override in pairs:
        at = timm.index(flags[0])
        assert timm[at : at + len(flags)] == flags
        assert override in ours
    assert "trainer.max_epochs=3" in ours and "test_ckpt=last" in ours
    assert ours[-1] == f"hydra.run.dir={tmp_path / 'r1_sports_rec'}"
    assert timm[timm.index("--experiment") + 1] == "r1_timm"
