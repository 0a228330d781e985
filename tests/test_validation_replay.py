"""Never test twice (issue 19): with validation = test, the test reuses the last validation
pass when it scored the tested weights, and writes what a real test pass writes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import StochasticWeightAveraging
from PIL import Image

from sports_rec.callbacks.validation_replay import ValidationRecord, why_not_reused
from sports_rec.data.datamodule import SportsDataModule
from sports_rec.train import train
from tests.conftest import VIDEO_DATA, compose_config

# validation = test (in full: 3 batches); a small net, 2 training batches, a small gallery
VAL_IS_TEST = [
    "data.val_split=test",
    "model=lenet",
    "trainer.limit_train_batches=2",
    "callbacks.test_artefacts.gallery_size=6",
    "seed=11",
]
TIMING = "samples_per_sec"


@pytest.fixture
def test_loaders(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every test dataloader a run asks its datamodule for (a real test pass asks once)."""
    made: list[Any] = []
    original = SportsDataModule.test_dataloader

    def counted(self: SportsDataModule) -> Any:
        made.append(original(self))
        return made[-1]

    monkeypatch.setattr(SportsDataModule, "test_dataloader", counted)
    return made


@pytest.fixture
def wandb_payloads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the W&B test logger logs at test end, with a stand-in for the W&B logger."""
    payloads: list[dict[str, Any]] = []
    fake = SimpleNamespace(experiment=SimpleNamespace(log=payloads.append))
    monkeypatch.setattr(
        "sports_rec.callbacks.wandb_test_logs.find_wandb_logger", lambda trainer: fake
    )
    return payloads


def comparable(value: Any) -> Any:
    """A logged W&B item as plain data: a chart's or table's rows, an image's pixels."""
    import wandb

    if isinstance(value, wandb.Image):
        return np.asarray(value.image).tolist()
    table = getattr(value, "table", value)
    return table.data if isinstance(table, wandb.Table) else value


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_reused_validation_writes_every_artefact_of_a_real_test_pass(
    make_cfg, test_loaders: list[Any], wandb_payloads: list[dict[str, Any]]
) -> None:
    runs: dict[str, dict[str, Any]] = {}
    for name, reuse in (("reused", "true"), ("real", "false")):
        test_loaders.clear()
        wandb_payloads.clear()
        cfg = make_cfg(
            *VAL_IS_TEST, "trainer.max_epochs=2", "test_ckpt=last", f"test_reuse_val={reuse}",
            run=name,
        )  # fmt: skip
        train(cfg)
        out = Path(cfg.paths.output_dir)
        runs[name] = {
            "dir": out,
            "loaders": len(test_loaders),
            "wandb": {k: comparable(v) for k, v in wandb_payloads[-1].items()},
            "info": json.loads((out / "run_info.json").read_text()),
            "weights": torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)[
                "state_dict"
            ],
        }
    reused, real = runs["reused"], runs["real"]
    # the same training (else nothing below could match)
    assert reused["weights"].keys() == real["weights"].keys()
    assert all(torch.equal(reused["weights"][k], real["weights"][k]) for k in real["weights"])
    # the real run tested for real, the other asked for no test data at all
    assert real["loaders"] == 1 and real["info"]["test_reused_validation"] is False
    assert reused["loaders"] == 0 and reused["info"]["test_reused_validation"] is True
    assert reused["info"]["tested_epoch"] == real["info"]["tested_epoch"] == 1
    assert Path(reused["info"]["tested_ckpt"]).name == Path(real["info"]["tested_ckpt"]).name

    a, b = (json.loads((r["dir"] / "test_metrics.json").read_text()) for r in (reused, real))
    assert a.keys() == b.keys()
    assert {k for k in a if k.startswith("test/")} >= {"test/acc", "test/loss", "test/f1_macro"}
    for key in a:
        if key == "ckpt_path":
            assert Path(a[key]).relative_to(reused["dir"].resolve()) == Path(b[key]).relative_to(
                real["dir"].resolve()
            )
        elif TIMING not in key:
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-6), key
    for table in ("per_class.csv", "confusion_matrix.csv", "misclassified.csv"):
        mine, theirs = (pd.read_csv(r["dir"] / table) for r in (reused, real))
        assert len(theirs) > 0, table
        pd.testing.assert_frame_equal(mine, theirs, rtol=1e-6, obj=table)  # rows in order
    for figure in ("confusion_matrix.png", "misclassified.png"):
        assert np.array_equal(pixels(reused["dir"] / figure), pixels(real["dir"] / figure))
    assert (
        reused["wandb"].keys()
        == real["wandb"].keys()
        >= {
            "test/confusion_matrix",
            "test/per_class",
            "test/misclassified",
        }
    )
    assert reused["wandb"] == real["wandb"]
    # the logger's test row too (the CSV logger), and a test rate: the validation pass's
    logged = [pd.read_csv(r["dir"] / "csv" / "metrics.csv").iloc[-1] for r in (reused, real)]
    tested = [c for c in logged[1].index if c.startswith("test/") and TIMING not in c]
    pd.testing.assert_series_equal(logged[0][tested], logged[1][tested], rtol=1e-6)
    assert a["test/samples_per_sec"] > 0


@pytest.mark.slow  # generates the synthetic exercise videos; two runs of a narrow C3D
def test_a_clip_models_predictions_and_segments_are_those_of_a_real_test_pass(
    data_dir: Path, tmp_path: Path, test_loaders: list[Any]
) -> None:
    """Clips: the replay stands in for the test dataset's clip table, so the per-clip
    predictions and the multi-clip segments are written from the recorded logits."""
    outs = {}
    for name, reuse in (("reused", "true"), ("real", "false")):
        test_loaders.clear()
        overrides = [
            f"paths.data_dir={data_dir}", *VIDEO_DATA, "trainer.accelerator=cpu",
            "print_config=false", "logger=none", "callbacks.epoch_metrics.plots=false",
            "callbacks.multi_clip.enabled=true", "callbacks.test_artefacts.gallery_size=4",
            "data.val_split=test", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
            f"test_reuse_val={reuse}",
        ]  # fmt: skip
        train(compose_config("train", overrides, tmp_path / name, tmp_path))
        assert len(test_loaders) == (reuse == "false")
        outs[name] = tmp_path / name
    for table in ("test_predictions.csv", "test_segments.csv", "per_class.csv"):
        mine, theirs = (pd.read_csv(outs[r] / table) for r in ("reused", "real"))
        pd.testing.assert_frame_equal(mine, theirs, rtol=1e-6, obj=table)
    a, b = (json.loads((outs[r] / "test_metrics.json").read_text()) for r in ("reused", "real"))
    assert "test/segment_acc" in a
    for key in (k for k in b if k.startswith("test/") and TIMING not in k):
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-6), key


def test_a_best_checkpoint_older_than_the_last_validation_is_tested_for_real(
    make_cfg, test_loaders: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The best-accuracy checkpoint saved only every 2nd epoch: after 3 epochs it holds
    epoch 1's weights while the last validation pass scored epoch 2's."""
    cfg = make_cfg(
        *VAL_IS_TEST,
        "trainer.max_epochs=3",
        "test_ckpt=best",
        "+callbacks.model_checkpoint_acc.every_n_epochs=2",
        "logger=none",
    )
    with caplog.at_level("INFO", logger="sports_rec.callbacks.validation_replay"):
        train(cfg)
    out = Path(cfg.paths.output_dir)
    info = json.loads((out / "run_info.json").read_text())
    assert info["test_reused_validation"] is False and info["tested_epoch"] == 1
    assert len(test_loaders) == 1
    assert "test: a real pass (best-val-acc-epoch001.ckpt is from epoch 1" in caplog.text


# ------------------------------------------------------------------ the rules, one by one
class Trainer(SimpleNamespace):
    """What :func:`why_not_reused` reads of a trainer: one device, a full test, no
    weight-changing callback, still at the step the recorded pass scored."""

    def __init__(self, **changes: Any) -> None:
        fields = {"world_size": 1, "callbacks": [], "limit_test_batches": 1.0, "global_step": 8}
        super().__init__(**{**fields, **changes})


def recorded(samples: int = 6, epoch: int = 1, step: int = 8) -> ValidationRecord:
    """A validation pass over ``samples`` test samples, in batches of 4, at epoch/step."""
    record = ValidationRecord()
    for start in range(0, samples, 4):
        index = torch.arange(start, min(start + 4, samples))
        record.batches.append({"index": index, "label": index % 2})
    record.epoch, record.global_step = epoch, step
    return record


def unusable() -> ValidationRecord:
    """A record of a run that validates on a second dataloader too."""
    record = recorded()
    batch = record.batches[0]
    outputs = {"logits": torch.zeros(len(batch["index"]), 2), "labels": batch["label"]}
    trainer = SimpleNamespace(sanity_checking=False)
    record.on_validation_batch_end(trainer, None, outputs, batch, 0, dataloader_idx=1)  # type: ignore[arg-type]
    return record


def saved_at(tmp_path: Path, epoch: int, step: int) -> str:
    path = tmp_path / f"epoch{epoch}.ckpt"
    torch.save({"epoch": epoch, "global_step": step, "state_dict": {}}, path)
    return str(path)


@pytest.mark.parametrize(
    ("trainer", "record", "ckpt", "reason"),
    [
        (Trainer(), recorded(), None, None),
        (Trainer(), recorded(), (1, 8), None),
        (Trainer(), recorded(), (0, 4), "epoch0.ckpt is from epoch 0 (step 4), the last"),
        (Trainer(), recorded(), (1, 7), "is from epoch 1 (step 7)"),  # mid-epoch validation
        (Trainer(global_step=9), recorded(), None, "the current weights are from step 9"),
        (Trainer(), None, None, "no validation pass"),
        (Trainer(), ValidationRecord(enabled=False), None, "test_reuse_val=false"),
        (Trainer(world_size=2), recorded(), None, "2 devices"),
        (Trainer(limit_test_batches=1), recorded(), None, "limit_test_batches=1 limits"),
        (Trainer(limit_test_batches=0.5), recorded(), None, "limit_test_batches=0.5"),
        (Trainer(limit_test_batches=2), recorded(), None, None),  # 2 batches: all of them
        (Trainer(), recorded(samples=4), None, "scored 4 of the 6 test samples"),
        (Trainer(), ValidationRecord(), None, "no complete validation pass"),
        (Trainer(), unusable(), None, "several validation dataloaders"),
        (
            Trainer(callbacks=[StochasticWeightAveraging(swa_lrs=0.1)]),
            recorded(),
            None,
            "StochasticWeightAveraging changes the weights",
        ),
    ],
)
def test_reuse_only_where_the_replay_is_the_test_pass(
    tmp_path: Path,
    trainer: Trainer,
    record: ValidationRecord | None,
    ckpt: tuple[int, int] | None,
    reason: str | None,
) -> None:
    path = saved_at(tmp_path, *ckpt) if ckpt else None
    found = why_not_reused(trainer, record, range(6), path)  # type: ignore[arg-type]
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found
