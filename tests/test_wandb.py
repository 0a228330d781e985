"""W&B for comparison: run identity, test artefacts in an offline run, the dashboard.

The offline run is read back from its ``.wandb`` transaction log with wandb's own record
definitions (``wandb.proto.wandb_internal_pb2.Record``); wandb >= 0.2x ships no Python
reader for the file's framing (LevelDB log blocks), so :func:`read_records` unpacks it.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from sports_rec.callbacks.wandb_test_logs import (
    WandbTestLogger,
    confusion_pairs,
    logged_config,
)
from sports_rec.dashboard import (
    DashboardError,
    build_workspace,
    parse_arguments,
)
from sports_rec.utils.run_identity import comparison_keys, run_group, run_tags, study_tag

FAST_FAIL_S = 20.0
DEAD_PROXY = "http://127.0.0.1:9"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- .wandb reader
_BLOCK = 32768
_HEADER = 7  # file header ':W&B' + magic + version; record header crc32, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: Path) -> list:
    """Every record of a ``.wandb`` file (LevelDB log framing, wandb protobuf payloads)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    payloads, pending, pos = [], b"", _HEADER
    while pos + _HEADER <= len(data):
        if _BLOCK - pos % _BLOCK < _HEADER:  # block trailer padding
            pos += _BLOCK - pos % _BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            payloads.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            payloads.append(pending + chunk)
    records = []
    for payload in payloads:
        record = pb.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def finished_records(path: Path, timeout: float = 30.0) -> list:
    """The records once the run's ``exit`` record is on disk (wandb-core writes the log
    asynchronously, after ``wandb.finish()`` returns)."""
    deadline = time.monotonic() + timeout
    while True:
        records = read_records(path)
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: no exit record within {timeout} s")
        time.sleep(0.2)


def _items(records: list, kind: str, field: str) -> dict[tuple[str, ...], object]:
    """Latest value of every (nested) key across the ``kind`` records."""
    values: dict[tuple[str, ...], object] = {}
    for record in records:
        if record.WhichOneof("record_type") == kind:
            for item in getattr(getattr(record, kind), field):
                key = tuple(item.nested_key) or (item.key,)
                values[key] = json.loads(item.value_json)
    return values


# ----------------------------------------------------------------------------- identity helpers
def test_run_group_is_the_sweep_folder_for_jobs_and_the_run_folder_otherwise() -> None:
    assert run_group("/x/multirun/train/2026-01-02_03-04-05_ab12cd/3", multirun=True) == (
        "2026-01-02_03-04-05_ab12cd"
    )
    assert run_group("/x/logs/train/runs/2026-01-02_03-04-05_ef34ab", multirun=False) == (
        "2026-01-02_03-04-05_ef34ab"
    )
    assert run_group("/x/logs/train/runs/r1") == "r1"  # outside Hydra: a single run


def test_run_tags_add_study_model_loss_sampler_once_in_lower_case() -> None:
    choices = {"model": "resnet26d", "loss": "Focal", "sampler": "balanced", "optimizer": "adam"}
    tags = run_tags(["seed001", "resnet26d", "seed001"], "001_Sports_Balls", "sports_balls",
                    choices=choices)  # fmt: skip
    assert tags == [
        "seed001",
        "resnet26d",
        "study:001_sports_balls",
        "model:resnet26d",
        "loss:focal",
        "sampler:balanced",
    ]
    # No study: the dataset is the study; model=timm is labelled by the timm name.
    assert run_tags(None, None, "workout", "efficientnet_b0", {"model": "timm"}) == [
        "study:workout",
        "model:efficientnet_b0",
    ]
    assert len(run_tags(["x" * 80], "s", "d", choices={})[0]) == 64
    assert study_tag("Seed 000") == "study:seed 000"


def test_comparison_keys_and_logged_config(make_cfg) -> None:
    cfg = make_cfg("loss=focal", "study=unit_study")
    keys = comparison_keys("unit_study", "synthetic_sports100", "resnet10t")  # Hydra's choices
    assert keys["study"] == "unit_study" and keys["dataset"] == "synthetic_sports100"
    assert (keys["model"], keys["loss"], keys["sampler"]) == ("small", "focal", "shuffle")
    assert "experiment" not in keys  # experiment=null is no choice
    config = logged_config(cfg)
    assert "hydra" not in config
    assert config["choices"] == keys
    assert config["loss"]["gamma"] == cfg.loss.gamma
    assert config["paths"]["output_dir"] == cfg.paths.output_dir  # resolved, not '${...}'


def test_confusion_pairs_reproduce_the_counts() -> None:
    true, pred = confusion_pairs(torch.tensor([[2, 1], [0, 3]]).numpy())
    assert true == [0, 0, 0, 1, 1, 1] and pred == [0, 0, 1, 1, 1, 1]


def test_callback_falls_back_to_collected_predictions() -> None:
    """A module without ``test_results``: the confusion matrix comes from test_step outputs."""
    callback = WandbTestLogger()
    callback._active = True
    batches = [
        {"preds": torch.tensor([1, 0]), "labels": torch.tensor([1, 1]), "index": torch.arange(2)},
        {"preds": torch.tensor([2]), "labels": torch.tensor([0]), "index": torch.tensor([2])},
    ]
    for batch_idx, outputs in enumerate(batches):
        callback.on_test_batch_end(None, None, outputs, None, batch_idx)  # type: ignore[arg-type]
    assert callback._label_pairs({}) == ([1, 1, 0], [1, 0, 2])


# ----------------------------------------------------------------------------- offline run
def test_offline_wandb_run_has_identity_tables_and_gallery(make_cfg) -> None:
    import wandb

    from sports_rec.train import train

    cfg = make_cfg(
        "logger=wandb",
        "study=unit_study",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
    )
    callbacks = list(cfg.callbacks)
    assert callbacks.index("wandb_test_logs") > callbacks.index("test_artefacts")
    train(cfg)
    assert wandb.run is None
    out = Path(cfg.paths.output_dir)
    (log_file,) = out.glob("wandb/offline-run-*/run-*.wandb")
    records = finished_records(log_file)

    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.run_group == "run"  # the run folder's name (a single run)
    assert run.job_type == "synthetic_sports100"
    assert list(run.tags) == [
        "dev",
        "study:unit_study",
        "model:small",
        "loss:ce",
        "sampler:shuffle",
    ]

    summary = _items(records, "summary", "update")
    metrics = json.loads((out / "test_metrics.json").read_text())
    assert summary[("test/acc",)] == pytest.approx(metrics["test/acc"])
    assert summary[("test/mean_class_acc",)] == pytest.approx(metrics["test/mean_class_acc"])
    assert ("val/acc",) in summary and ("train/loss",) in summary

    history = _items(records, "history", "item")
    files = log_file.parent / "files"
    assert history[("test/per_class", "_type")] == "table-file"
    per_class = json.loads((files / history[("test/per_class", "path")]).read_text())
    expected = pd.read_csv(out / "per_class.csv")
    assert per_class["columns"] == list(expected.columns)
    assert [row[1] for row in per_class["data"]] == list(expected["class_name"])
    assert [row[5] for row in per_class["data"]] == list(expected["support"])

    assert history[("test/confusion_matrix_table", "_type")] == "table-file"
    cm_table = json.loads((files / history[("test/confusion_matrix_table", "path")]).read_text())
    assert cm_table["columns"] == ["Actual", "Predicted", "nPredictions"]
    counts = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    logged = {(a, p): n for a, p, n in cm_table["data"]}
    assert logged == {(a, p): counts.loc[a, p] for a in counts.index for p in counts.columns}
    config = _items(records, "config", "update")
    chart = config[("_wandb", "visualize", "test/confusion_matrix")]
    assert chart["panel_config"]["panelDefId"] == "wandb/confusion_matrix/v1"

    assert (out / "misclassified.png").is_file()
    assert history[("test/misclassified", "_type")] == "image-file"
    assert (files / history[("test/misclassified", "path")]).is_file()


@pytest.mark.slow  # a fresh Python process that imports Lightning
def test_callback_without_wandb_logger_does_nothing_and_imports_no_wandb(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        import lightning as L
        import torch
        from torch.utils.data import DataLoader
        from sports_rec.callbacks.wandb_test_logs import WandbTestLogger

        class Tiny(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(2, 2)
            def test_step(self, batch, batch_idx):
                preds = self.layer(batch["x"]).argmax(1)
                return {"preds": preds, "labels": batch["y"], "index": batch["y"]}

        data = [{"x": torch.randn(2), "y": torch.tensor(i % 2)} for i in range(4)]
        callback = WandbTestLogger()
        trainer = L.Trainer(logger=L.pytorch.loggers.CSVLogger(sys.argv[1]), callbacks=[callback],
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.test(Tiny(), DataLoader(data, batch_size=2), verbose=False)
        print("wandb imported:", "wandb" in sys.modules, "collected:", len(callback._preds))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wandb imported: False collected: 0" in result.stdout


# ----------------------------------------------------------------------------- dashboard
def test_workspace_compares_the_study_grouped_by_model() -> None:
    workspace = build_workspace("sports_rec", "team", "001_Sports_Balls")
    assert (workspace.entity, workspace.project) == ("team", "sports_rec")
    assert workspace.name == "001_Sports_Balls: models compared"
    sections = {s.name: s for s in workspace.sections}
    assert list(sections) == ["Test", "Training curves"]
    bars = sections["Test"].panels
    assert [(type(p).__name__, p.metrics) for p in bars] == [
        ("BarPlot", ["test/acc"]),
        ("BarPlot", ["test/mean_class_acc"]),
    ]
    curves = sections["Training curves"].panels
    assert [(type(p).__name__, p.x, p.y) for p in curves] == [
        ("LinePlot", "epoch", ["train/acc", "val/acc"]),
        ("LinePlot", "epoch", ["train/loss", "val/loss"]),
        ("LinePlot", "epoch", ["train/mean_class_acc", "val/mean_class_acc"]),
    ]
    # What would be sent to W&B: the study's tag as filter, runs grouped by the model key.
    spec = json.loads(workspace._to_model().spec.model_dump_json(by_alias=True, exclude_none=True))
    (runset,) = spec["section"]["runSets"]
    (tag_filter,) = runset["filters"]["filters"]
    assert tag_filter["key"] == {"section": "run", "name": "tags"}
    assert tag_filter["value"] == ["study:001_sports_balls"]
    assert runset["grouping"] == [{"section": "config", "name": "choices.value.model"}]


def test_dashboard_arguments_are_checked() -> None:
    assert parse_arguments(["project=p", "study=s", "entity=e"]) == {
        "project": "p",
        "study": "s",
        "entity": "e",
    }
    with pytest.raises(DashboardError, match=r"missing study=\.\.\."):
        parse_arguments(["project=p"])
    with pytest.raises(DashboardError, match="unknown argument 'projet'"):
        parse_arguments(["projet=p", "study=s"])
    with pytest.raises(DashboardError, match="is not key=value"):
        parse_arguments(["project", "study=s"])
    with pytest.raises(DashboardError, match="timeout='soon' is not a number"):
        parse_arguments(["project=p", "study=s", "timeout=soon"])


def _dashboard(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"WANDB_API_KEY", "NETRC", "WANDB_BASE_URL"} and "proxy" not in k.lower()
    }
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sports_rec.dashboard", "project=sports_rec", "study=unit"],
        capture_output=True,
        text=True,
        env={**base, "HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT), **env},
        cwd=tmp_path,
        timeout=120,
    )
    return result, time.monotonic() - start


def test_dashboard_without_api_key_fails_fast(tmp_path: Path) -> None:
    result, elapsed = _dashboard(tmp_path)
    assert result.returncode == 1 and elapsed < FAST_FAIL_S
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: no W&B API key for api.wandb.ai")
    assert "WANDB_API_KEY" in result.stderr and "wandb login" in result.stderr


def test_dashboard_offline_fails_fast(tmp_path: Path) -> None:
    result, elapsed = _dashboard(tmp_path, WANDB_API_KEY="0" * 40, HTTPS_PROXY=DEAD_PROXY)
    assert result.returncode == 1 and elapsed < FAST_FAIL_S
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"error: cannot reach W&B at https://api.wandb.ai through the proxy {DEAD_PROXY}"
    )
    assert "wandb sync" in result.stderr
