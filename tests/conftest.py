"""Shared fixtures: offline environment, tiny synthetic datasets and config composition.

Tests compose the real configs from ``conf/`` (the same files the CLI uses) with overrides
that shrink everything: 32 px images, a handful of images per class, no worker processes.
"""

from __future__ import annotations

import os

# Nothing can be downloaded where the tests run: fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

import atexit
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

import sports_rec  # registers resolvers

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = sports_rec.CONF_DIR
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Tiny synthetic data in the sports100 layout, shared by the whole session.
TINY_DATA = [
    "data.synthetic.classes=4",
    "data.synthetic.per_class=16",
    "data.synthetic.eval_per_class=6",
    "data.synthetic.size=32",
    "data.image_size=32",
    "data.batch_size=8",
    "data.num_workers=0",
]
# Training figures cost ~1.5 s a run; test_train_e2e, test_run_plots and the tables draw and
# check them, other tests leave them out (make_cfg does so unless told otherwise).
NO_FIGURES = "callbacks.epoch_metrics.plots=false"


def shared_sample(name: str) -> Path:
    """A folder of real samples from ../shared/data, or skip when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real samples not available: {path} is absent on this machine")
    return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session-wide data folder: synthetic datasets are generated once per session."""
    return tmp_path_factory.mktemp("data")


def compose_config(
    config_name: str, overrides: Sequence[str], output_dir: Path, root_dir: Path
) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` as the CLI would, with ``output_dir`` as the run
    folder (normally set by Hydra at launch)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name,
            overrides=[f"paths.root_dir={root_dir}", *overrides],
            return_hydra_config=True,
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # the CLI hands tasks the config without the hydra node too
    output_dir.mkdir(parents=True, exist_ok=True)
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path, data_dir: Path) -> Callable[..., DictConfig]:
    """``make_cfg(*overrides, name="train", run="run", tiny=True)`` -> composed config.

    ``tiny`` shrinks the default synthetic dataset (pass False when selecting another
    ``data=`` or ``experiment=``, whose configs have no synthetic section).
    """

    def factory(
        *overrides: str, name: str = "train", run: str = "run", tiny: bool = True
    ) -> DictConfig:
        base = [f"paths.data_dir={data_dir}"] if name == "train" else []
        if name == "train":
            base += [*(TINY_DATA if tiny else []), "trainer.accelerator=cpu", "print_config=false"]
        cfg = compose_config(name, [*base, *overrides], tmp_path / run, tmp_path)
        figures = OmegaConf.select(cfg, "callbacks.epoch_metrics", default=None)
        if figures is not None and not any("epoch_metrics.plots" in o for o in overrides):
            figures.plots = False
        return cfg

    return factory


class _Zygote:
    """The session's fork server (``tests/cli_zygote.py``), started on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.socket_path = ""
        self.failed = os.environ.get("SPORTS_REC_TEST_NO_ZYGOTE") == "1"
        self.env = dict(os.environ)

    def ready(self) -> bool:
        with self.lock:
            if self.process is None and not self.failed:
                folder = tempfile.mkdtemp(prefix="sr-zygote-")
                self.socket_path = os.path.join(folder, "socket")
                server = PROJECT_ROOT / "tests" / "cli_zygote.py"
                self.process = subprocess.Popen(
                    [sys.executable, str(server), self.socket_path],
                    stdout=subprocess.PIPE, cwd=PROJECT_ROOT, env=self.env, text=True,
                )  # fmt: skip
                atexit.register(self.process.kill)
                self.failed = self.process.stdout.readline().strip() != "ready"
            return not self.failed

    def run(
        self, module: str, args: Sequence[str], cwd: Path, env: dict, timeout: int
    ) -> subprocess.CompletedProcess:
        folder = Path(tempfile.mkdtemp(prefix="sr-cli-"))
        request = {
            "module": module, "args": list(args), "cwd": str(Path(cwd).resolve()), "env": env,
            "stdout": str(folder / "stdout"), "stderr": str(folder / "stderr"),
        }  # fmt: skip
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(self.socket_path)
            conn.sendall(json.dumps(request).encode() + b"\n")
            replies = conn.makefile("r")
            pid = json.loads(replies.readline())["pid"]
            conn.settimeout(timeout)
            try:
                line = replies.readline()
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired([module, *args], timeout) from None
        status = json.loads(line)["status"]
        result = subprocess.CompletedProcess(
            [sys.executable, "-m", module, *args],
            os.waitstatus_to_exitcode(status),
            (folder / "stdout").read_text(errors="backslashreplace"),
            (folder / "stderr").read_text(errors="backslashreplace"),
        )
        shutil.rmtree(folder, ignore_errors=True)
        return result


_ZYGOTE = _Zygote()
#: Environment variables that libraries read at import time (Hugging Face hub offline mode
#: and caches, torch/CUDA devices and threads, matplotlib): a command needing other values
#: than the session's runs as a plain subprocess.
_READ_AT_IMPORT = frozenset(
    {
        "HF_HUB_OFFLINE",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_ENDPOINT",
        "HUGGINGFACE_HUB_CACHE",
        "TRANSFORMERS_OFFLINE",
        "TORCH_HOME",
        "CUDA_VISIBLE_DEVICES",
        "MKL_NUM_THREADS",
        "MPLBACKEND",
        "MPLCONFIGDIR",
        "HOME",
        "XDG_CACHE_HOME",
        "PYTHONHASHSEED",
    }
)
#: Commands that start processes of their own from ``sys.argv`` run as real subprocesses.
_OWN_PROCESSES = ("ddp", "submitit", "hydra/launcher")


def run_cli(
    module: str,
    *args: str,
    cwd: Path,
    timeout: int = 600,
    env: dict | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args`` like a user would; with ``check`` (the default) fail
    with its output unless it succeeded.

    A real process either way; where nothing in it depends on a fresh interpreter it is
    forked from the session's fork server (``tests/cli_zygote.py``), which has the
    libraries imported already (``SPORTS_REC_TEST_NO_ZYGOTE=1`` turns that off)."""
    from tests.cli_zygote import SETTABLE

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    # Libraries read these while being imported (the server imported them under the
    # session's values); everything else a command reads when it runs, from its own copy.
    changed = {
        k
        for k in full_env.keys() | _ZYGOTE.env.keys()
        if k in _READ_AT_IMPORT and full_env.get(k) != _ZYGOTE.env.get(k)
    } | ((env or {}).keys() - SETTABLE)
    forkable = (
        changed <= SETTABLE
        and not any(word in arg for arg in args for word in _OWN_PROCESSES)
        and _ZYGOTE.ready()
    )
    if os.environ.get("SPORTS_REC_TEST_ZYGOTE_LOG"):
        with open(os.environ["SPORTS_REC_TEST_ZYGOTE_LOG"], "a") as record:
            record.write(f"{forkable}\t{module}\t{sorted(changed)}\t{' '.join(args)[:200]}\n")
    if forkable:
        result = _ZYGOTE.run(module, args, cwd, full_env, timeout)
    else:
        result = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{module} {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def expect_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Assert a command ended as an expected error does: status 1, its message (holding every
    fragment), no traceback. Returns everything it printed."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"status {result.returncode}:\n{output[-6000:]}"
    assert "Traceback" not in output, output[-6000:]
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output[-6000:]}"
    return output


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> Path | None:
    """A headless-Chromium screenshot of a local HTML page (a record of what a reader sees,
    kept in the test's folder); None where Chromium is not installed (``.ci/run`` installs
    it). Fails when Chromium runs but writes no image."""
    if not CHROMIUM.is_file():
        return None
    subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--screenshot={png}", f"--window-size={width},{height}",
         "--hide-scrollbars", page.resolve().as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert png.is_file() and png.stat().st_size > 0, f"Chromium wrote no screenshot of {page}"
    return png


def run_folder(output: str) -> Path:
    """The ``Run folder: <path>`` a command printed (exactly one such line)."""
    lines = [line for line in output.splitlines() if line.startswith("Run folder: ")]
    assert len(lines) == 1, f"expected one 'Run folder:' line, got {lines}"
    return Path(lines[0].removeprefix("Run folder: "))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(autouse=True, scope="session")
def _fp32_on_every_cpu() -> Iterator[None]:
    """The default trainer trains in bf16-mixed on CPUs with native bf16 (AMX) and in fp32
    elsewhere; in-process tests run fp32 everywhere so their numbers do not depend on the
    CI machine's CPU. The bf16 path has its own tests (test_fast_paths), which patch this
    back."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sports_rec.utils.hardware.cpu_computes_bf16", lambda: False)
        yield


@pytest.fixture(autouse=True)
def _clear_hydra() -> Iterator[None]:
    yield
    GlobalHydra.instance().clear()


# The exercise-video stand-in at its default size with a narrow C3D (width 8, 32 px frames).
VIDEO_DATA = [
    "data=synthetic_exercise_video",
    "model=c3d",
    "model.net.width=8",
    "transforms=video",
    "data.num_workers=0",
]


@pytest.fixture(scope="session")
def trained_video_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One short real training run of a narrow C3D on the synthetic exercise videos, shared
    by the video tests (pipeline, timeline, explain): ``{"cfg", "dir", "metrics", "root"}``.
    Twelve epochs: the tests that use it are marked ``slow``."""
    from sports_rec.train import train

    root = tmp_path_factory.mktemp("video_run")
    out = root / "run"
    cfg = compose_config(
        "train",
        [
            f"paths.data_dir={root / 'data'}",
            *VIDEO_DATA,
            # 12 epochs: at 8 the mean class accuracy ranged 0.38-0.80 over seeds and
            # optimizer implementations (above 2x chance at 12: 0.58-0.75)
            "trainer.max_epochs=12",
            "optimizer.lr=0.002",
            "sampler=weighted",
            "trainer.accelerator=cpu",
            "print_config=false",
            "logger=csv",
        ],
        out,
        root,
    )
    metrics = train(cfg)
    return {"cfg": cfg, "dir": out, "metrics": metrics, "root": root}


# One epoch on 3 synthetic classes at 32 px, never tested: a checkpoint to read, not a model.
TINY_CHECKPOINT = [
    "data.synthetic.classes=3",
    "data.synthetic.per_class=8",
    "data.synthetic.eval_per_class=3",
    "data.synthetic.size=32",
    "data.image_size=32",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "print_config=false",
    "test=false",
]
TINY_CHECKPOINT_NETS = {"rgb": [], "gray": ["model=lenet", "data.dataset.grayscale=true"]}


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"rgb": last.ckpt of the default net, "gray": last.ckpt of a 1-channel LeNet}``,
    trained once per session and shared by the tests that need any image checkpoint (export,
    predict, checkpoint conversion, refusals). Tests read these files and write elsewhere."""
    from sports_rec.train import train

    root = tmp_path_factory.mktemp("tiny_checkpoints")
    found = {}
    for name, extra in TINY_CHECKPOINT_NETS.items():
        overrides = [f"paths.data_dir={root / 'data'}", *TINY_CHECKPOINT, *extra]
        train(compose_config("train", overrides, root / name, root))
        found[name] = root / name / "checkpoints" / "last.ckpt"
    return found
