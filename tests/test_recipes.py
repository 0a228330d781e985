"""Each study recipe (``experiment=...``) trains end to end on synthetic data in its layout."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from sports_rec.data.synthetic import SyntheticSpec, ensure_synthetic
from sports_rec.train import train

TINY_RUN = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "data.batch_size=8",
    "data.num_workers=0",
    "logger=none",
]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layouts")
    return {
        "sports_balls": ensure_synthetic(
            SyntheticSpec("sports_balls", classes=4, per_class=10, eval_per_class=4, size=48),
            root / "sports_balls",
        ),
        "workout": ensure_synthetic(
            SyntheticSpec("workout", classes=4, per_class=24, eval_per_class=1, size=48),
            root / "workout",
        ),
    }


@pytest.mark.parametrize(
    "recipe,size,expect",
    [
        ("sports_balls/resnet26d_max_adam", 64, {"global_pool": "max", "optimizer": "Adam"}),
        ("sports_balls/resnet26d_avg_sgd", 64, {"global_pool": "avg", "optimizer": "SGD"}),
        ("workout/lenet", 64, {"channels": 1, "optimizer": "SGD"}),
        ("workout/alexnet", 72, {"channels": 1, "optimizer": "SGD"}),
    ],
)
def test_recipe_runs_on_synthetic_layout(
    make_cfg, layouts, recipe: str, size: int, expect: dict
) -> None:
    dataset = recipe.split("/")[0]
    offline = [] if dataset == "workout" else ["model.net.pretrained=false"]
    cfg = make_cfg(
        f"experiment={recipe}",
        f"data.root={layouts[dataset]}",
        f"data.image_size={size}",
        *offline,
        *TINY_RUN,
        tiny=False,
    )
    metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    out = Path(cfg.paths.output_dir)
    result = json.loads((out / "test_metrics.json").read_text())
    splits = pd.read_csv(out / "splits.csv")
    tested = min(8, int((splits["split"] == "test").sum()))  # one test batch of up to 8
    correct = result["test/acc"] * tested
    assert correct == pytest.approx(round(correct), abs=1e-5)
    info = json.loads((out / "run_info.json").read_text())
    assert info["recipe"] == recipe and info["status"] == "completed"
    checkpoint = torch.load(
        next((out / "checkpoints").glob("best-val-acc-*.ckpt")), weights_only=True
    )
    hparams = checkpoint["hyper_parameters"]
    assert hparams["optimizer"]["_target_"].endswith(expect["optimizer"])
    if "global_pool" in expect:
        assert hparams["net"]["global_pool"] == expect["global_pool"]
    if "channels" in expect:
        assert hparams["metadata"]["channels"] == expect["channels"]
        splits = (out / "splits.csv").read_text()
        assert "valid" in splits and "test" in splits  # the random 80/10/10 split
    if dataset == "sports_balls":
        # no valid/ on disk: carved from train and recorded
        assert "valid" in (out / "splits.csv").read_text()
