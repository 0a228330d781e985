"""An installed sports_rec (a wheel, not a checkout) finds its configs and runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, run_cli, run_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install --target`` of a wheel built from a copy of the project."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    source.mkdir()
    shutil.copytree(
        PROJECT_ROOT / "sports_rec",
        source / "sports_rec",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return target


def test_the_wheel_ships_every_config(installed: Path) -> None:
    shipped = {p.relative_to(installed / "sports_rec" / "conf") for p in installed.rglob("*.yaml")}
    on_disk = {
        p.relative_to(PROJECT_ROOT / "conf") for p in (PROJECT_ROOT / "conf").rglob("*.yaml")
    }
    assert shipped == on_disk and len(shipped) > 40


def test_the_wheel_ships_the_published_numbers(installed: Path, tmp_path: Path) -> None:
    """report beside the published numbers works for a pip-installed user: the studies'
    published.csv files are package data, found by study name from any folder."""
    shipped = sorted(p.parent.name for p in installed.rglob("published.csv"))
    assert shipped == sorted(p.parent.name for p in (PROJECT_ROOT / "experiments").glob("*/*.csv"))
    assert len(shipped) == 5
    probe = subprocess.run(
        [sys.executable, "-c",
         "from sports_rec.reporting.across_runs.published import published_path, read_published;"
         "p = published_path('sports_balls_001'); print(p); print(len(read_published(p)))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    path, rows = probe.stdout.split()
    assert Path(path).is_relative_to(installed) and int(rows) > 0


def test_installed_package_runs_from_another_directory(installed: Path, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(installed)}
    probe = subprocess.run(
        [sys.executable, "-c", "import sports_rec; print(sports_rec.__file__)"],
        cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(installed)), "the checkout shadowed the install"

    help_text = run_cli("sports_rec.train", "--help", cwd=tmp_path, env=env).stdout
    assert "== Configuration groups ==" in help_text
    expected = (
        "model: alexnet, c3d, convnext_tiny",
        "sampler: balanced, downsample",
        "trainer: cpu",
    )
    for line in expected:
        assert line in help_text, line

    result = run_cli(
        "sports_rec.train",
        "debug=fdr",
        "data.synthetic.classes=3",
        "data.synthetic.per_class=4",
        "data.synthetic.eval_per_class=2",
        "data.synthetic.size=32",
        "data.image_size=32",
        "data.batch_size=4",
        cwd=tmp_path,
        env=env,
    )
    folder = run_folder(result.stdout)
    assert folder.is_relative_to(tmp_path.resolve() / "logs" / "train" / "runs")
    assert (folder / "test_metrics.json").is_file()
    assert (tmp_path / "data" / "synthetic").is_dir()  # generated beside the user, not the package


def test_every_console_script_points_at_a_callable() -> None:
    """The installed distribution's console scripts (what `pip install` puts on PATH)."""
    from importlib.metadata import entry_points

    scripts = [
        ep for ep in entry_points(group="console_scripts") if ep.value.startswith("sports_rec")
    ]
    assert {"sports-rec-train", "sports-rec-synthetic"} <= {ep.name for ep in scripts}
    for script in scripts:
        assert callable(script.load()), script.name
