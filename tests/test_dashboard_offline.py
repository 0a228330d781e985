"""The dashboard where W&B cannot be used: it still fails fast with the same message, but
first writes the workspace it would save and the same comparison as a local report.

The run folders are made by hand in the shape ``train`` writes (helpers of test_report),
with the Hydra choices the model label comes from: a sweep of one timm model (two seeds),
a LeNet run of the same study, and runs of another study and another dataset that the
comparison must leave out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.test_report import BALL_CLASSES, CHROMIUM, CHROMIUM_FLAGS, _epoch_rows, _test_metrics
from tests.test_report import make_run as make_report_run
from tests.test_wandb import DEAD_PROXY, FAST_FAIL_S, PROJECT_ROOT

SAVE = "python -m sports_rec.dashboard project=sports_rec"


def make_run(
    folder: Path,
    *,
    dataset: str,
    model_choice: str,
    net: str,
    acc: float | None,
    study: str | None = None,
    offline_wandb: bool = False,
) -> Path:
    """A training run folder with its Hydra choices (``hydra.yaml``), test metrics (none
    when ``acc`` is None: a crashed run) and, optionally, W&B data logged offline."""
    config = {
        "task_name": "train",
        "study": study,
        "seed": 42,
        "test": True,
        "data": {"name": dataset},
        "model": {"net": {"name": net}},
    }
    make_report_run(
        folder,
        config=config,
        overrides=[f"data={dataset}", f"model={model_choice}"],
        info=None if acc is None else {"status": "completed", "dataset": dataset, "model": net},
        test_metrics=None if acc is None else _test_metrics(acc, 6, None),
        epochs=_epoch_rows(2, [0.5, 0.7], [0.55, 0.65]),
        classes=BALL_CLASSES,
    )
    choices = {"data": dataset, "model": model_choice, "loss": "cross_entropy"}
    hydra = {"hydra": {"runtime": {"choices": choices}}}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    if offline_wandb:
        (folder / "wandb" / "offline-run-20260101_100000-abc123").mkdir(parents=True)
    return folder


@pytest.fixture
def local_runs(tmp_path: Path) -> Path:
    """Runs of study ``sports_balls`` (null study, dataset sports_balls) in the default
    folders, plus one of study ``other`` on the same dataset and one of ``workout``."""
    sweep = tmp_path / "multirun" / "train" / "2026-01-01_10-00-00_ab12cd"
    make_run(sweep / "0", dataset="sports_balls", model_choice="timm", net="resnet26d", acc=0.80)
    make_run(sweep / "1", dataset="sports_balls", model_choice="timm", net="resnet26d", acc=0.86)
    runs = tmp_path / "logs" / "train" / "runs"
    make_run(
        runs / "lenet",
        dataset="sports_balls",
        model_choice="lenet",
        net="lenet",
        acc=0.60,
        offline_wandb=True,
    )
    make_run(runs / "crashed", dataset="sports_balls", model_choice="lenet", net="lenet", acc=None)
    make_run(
        runs / "other_study",
        dataset="sports_balls",
        model_choice="timm",
        net="vit_small",
        acc=0.99,
        study="other",
    )
    make_run(runs / "workout", dataset="workout", model_choice="alexnet", net="alexnet", acc=0.9)
    return tmp_path


def _dashboard(cwd: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """The command as a user runs it offline: no key or proxy unless given, HOME in tmp."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"WANDB_API_KEY", "WANDB_ENTITY", "NETRC", "WANDB_BASE_URL"}
        and "proxy" not in k.lower()
    }
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sports_rec.dashboard", "project=sports_rec", *args],
        capture_output=True,
        text=True,
        env={**base, "HOME": str(cwd), "PYTHONPATH": str(PROJECT_ROOT), **env},
        cwd=cwd,
        timeout=120,
    )
    return result, time.monotonic() - start


class _Tables(HTMLParser):
    """The cell texts of each ``<table id=...>`` of a page, row by row (body rows only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(path: Path) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(path.read_text())
    return parser.tables


def _spec(out: Path) -> dict[str, Any]:
    return json.loads((out / "workspace.json").read_text())


def test_offline_dashboard_writes_the_workspace_and_the_same_comparison(
    local_runs: Path,
) -> None:
    result, elapsed = _dashboard(
        local_runs,
        "study=Sports_Balls",
        "entity=team",
        WANDB_API_KEY="0" * 40,
        HTTPS_PROXY=DEAD_PROXY,
    )
    # The failure itself is unchanged: status 1, fast, the same first line on stderr.
    assert result.returncode == 1, result.stderr[-3000:]
    assert elapsed < FAST_FAIL_S
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"error: cannot reach W&B at https://api.wandb.ai through the proxy {DEAD_PROXY}"
    )
    out = local_runs / "dashboard_offline" / "Sports_Balls"

    # The workspace it would save: the study's tag (lower case) as filter, grouped by model.
    spec = _spec(out)
    assert spec["arguments"] == {
        "project": "sports_rec",
        "study": "Sports_Balls",
        "entity": "team",
        "name": "Sports_Balls: models compared",
    }
    assert spec["notes"] == []
    view = spec["view"]
    assert (view["entity"], view["project"]) == ("team", "sports_rec")
    (runset,) = view["spec"]["section"]["runSets"]
    (tag_filter,) = runset["filters"]["filters"]
    assert tag_filter["value"] == ["study:sports_balls"]
    assert runset["grouping"] == [{"section": "config", "name": "choices.value.model"}]

    # The same comparison, locally: exactly the study's runs (the crashed one included).
    expected = [
        "logs/train/runs/crashed",
        "logs/train/runs/lenet",
        "multirun/train/2026-01-01_10-00-00_ab12cd/0",
        "multirun/train/2026-01-01_10-00-00_ab12cd/1",
    ]
    assert sorted(pd.read_csv(out / "report.csv")["folder"]) == expected
    tables = html_tables(out / "report.html")
    assert sorted(row[1] for row in tables["report-table"]) == expected  # run, folder
    assert "other_study" not in (out / "report.html").read_text()

    # Grouped as the workspace groups them: mean and sample std over a model's tested runs.
    by_model = pd.read_csv(out / "by_model.csv")
    assert list(by_model["model"]) == ["resnet26d", "lenet"]
    assert list(by_model["runs"]) == [2, 2] and list(by_model["tested"]) == [2, 1]
    assert by_model["test/acc mean"].tolist() == pytest.approx([0.83, 0.60])
    assert by_model["test/acc std"][0] == pytest.approx(0.0424264, abs=1e-6)
    assert pd.isna(by_model["test/acc std"][1])
    assert by_model["test/mean_class_acc mean"].tolist() == pytest.approx([0.82, 0.59])
    assert tables["table-1"] == [
        ["resnet26d", "2", "2", "0.8300", "0.0424", "0.8200", "0.0424"],
        ["lenet", "2", "1", "0.6000", "-", "0.5900", "-"],
    ]
    report_md = (out / "report.md").read_text()
    assert "## Models compared (grouped as in the W&B workspace)" in report_md
    assert "| resnet26d | 2      | 2        | 0.8300" in report_md

    # What was written, the upload the workspace needs first, and the one command to save it.
    lines = result.stdout.splitlines()
    assert "dashboard_offline/Sports_Balls/" in lines[0]
    assert {"  workspace.json", "  report.html", "  by_model.csv"} <= set(lines)
    sync = next(line for line in lines if "wandb sync" in line)
    assert sync.endswith(
        "wandb sync logs/train/runs/lenet/wandb/offline-run-20260101_100000-abc123"
    )
    assert lines[-1] == f"{SAVE} study=Sports_Balls entity=team"
    assert spec["save_command"] == lines[-1]


def test_offline_dashboard_without_key_writes_the_spec_when_no_run_matches(
    local_runs: Path,
) -> None:
    out = local_runs / "elsewhere"
    result, elapsed = _dashboard(
        local_runs, "study=no_such_study", "runs=logs/train,missing", f"out={out}"
    )
    assert result.returncode == 1 and elapsed < FAST_FAIL_S
    assert result.stderr.startswith("error: no W&B API key for api.wandb.ai")
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["workspace.json"]

    spec = _spec(out)
    assert spec["arguments"]["entity"] is None
    assert spec["view"]["entity"] == "<your W&B entity>"
    assert "placeholder" in spec["notes"][0]
    assert spec["local_runs"] == []

    stdout = result.stdout
    assert "No local run of study 'no_such_study'" in stdout
    assert "logs/train: 4 run(s); missing: does not exist" in stdout
    assert "studies found: other, sports_balls, workout" in stdout
    assert "placeholder '<your W&B entity>'" in stdout
    assert "wandb sync" not in stdout
    assert stdout.splitlines()[-1] == f"{SAVE} study=no_such_study"


def test_runs_and_the_save_command_are_one_line_each() -> None:
    from sports_rec.dashboard import run_folders, save_command

    assert run_folders(None) is None
    assert run_folders("[logs/train, multirun/train/x]") == [
        Path("logs/train"),
        Path("multirun/train/x"),
    ]
    values = {"project": "p", "study": "s", "name": "My view", "runs": "a", "out": "b"}
    assert save_command(values) == "python -m sports_rec.dashboard project=p study=s 'name=My view'"


def test_offline_report_renders_in_chromium(local_runs: Path, monkeypatch) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"headless Chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed"
    )
    from sports_rec.dashboard import TEST_METRICS
    from sports_rec.reporting.across_runs.offline_dashboard import (
        BY_MODEL_HEADING,
        write_offline_dashboard,
    )

    monkeypatch.chdir(local_runs)
    result = write_offline_dashboard(
        view={},
        arguments={"name": "sports_balls: models compared"},
        notes=[],
        save_command=f"{SAVE} study=sports_balls",
        study="sports_balls",
        metrics=[metric for metric, _ in TEST_METRICS],
        roots=None,
        out=local_runs / "offline",
    )
    assert len(result.runs) == 4
    html = result.out / "report.html"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.goto(html.as_uri())
            page.wait_for_load_state("load")
            headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
            models = page.eval_on_selector_all(
                "#table-1 tbody tr td:first-child", "cells => cells.map(c => c.textContent)"
            )
            runs = page.eval_on_selector_all("#report-table tbody tr", "rows => rows.length")
            page.screenshot(path=str(local_runs / "offline.png"), full_page=True)
        finally:
            browser.close()
    assert headings[:2] == [BY_MODEL_HEADING, "Runs"]
    assert models == ["resnet26d", "lenet"] and runs == 4
    assert (local_runs / "offline.png").stat().st_size > 0
