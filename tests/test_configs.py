"""Every config in every group composes with the entry points and instantiates."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from torchvision import tv_tensors

from sports_rec.data.datamodule import SportsDataModule
from sports_rec.data.transforms import resolve_transforms
from sports_rec.models.schedulers import WarmupCosine
from tests.conftest import CONF_DIR, PROJECT_ROOT


def options(group: str) -> list[str]:
    """Config names of ``group`` (nested folders, e.g. experiment/sports_balls/x)."""
    folder = CONF_DIR / group
    return sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yaml"))


GROUPS = ("data", "transforms", "model", "loss", "sampler", "optimizer", "scheduler", "trainer",
          "logger", "callbacks", "debug", "experiment")  # fmt: skip


def test_readme_lists_every_option_of_every_group() -> None:
    """The README's configuration table is the user's map of the groups: an option added
    on disk but not documented (or documented but gone) fails here."""
    rows = {}
    for line in (PROJECT_ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)]
        if len(cells) > 3 and cells[1].startswith("`") and cells[1].strip("`") in GROUPS:
            rows[cells[1].strip("`")] = cells[2]
    assert set(rows) == set(GROUPS), set(GROUPS) - set(rows)
    for group in GROUPS:
        for name in options(group):
            assert f"`{name}`" in rows[group] or f"`{name.split('/')[-1]}`" in rows[group], (
                group,
                name,
            )


@pytest.mark.parametrize("name", options("data"))
def test_data_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"data={name}", tiny=name.startswith("synthetic"))
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, SportsDataModule)
    assert datamodule.root and datamodule.name == cfg.data.name
    assert callable(datamodule.reader)


@pytest.mark.parametrize("grayscale", [False, True])
@pytest.mark.parametrize("name", options("transforms"))
def test_transforms_configs(make_cfg, name: str, grayscale: bool) -> None:
    if name == "video" and grayscale:
        pytest.skip("clips are RGB: the video transforms have no grayscale variant")
    cfg = make_cfg(f"transforms={name}", f"data.dataset.grayscale={grayscale}")
    resolved = resolve_transforms(OmegaConf.to_container(cfg.transforms, resolve=True), {})
    pipelines = instantiate(resolved)
    if name == "video":  # what the clip dataset hands over: [T, C, H, W] uint8 frames
        sample = tv_tensors.Video(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))
        expected: tuple[int, ...] = (4, 3, 32, 32)
    else:  # what the image dataset decodes: single-channel L images for grayscale nets
        sample = Image.new("RGB", (50, 40), (200, 30, 30)).convert("L" if grayscale else "RGB")
        expected = (1 if grayscale else 3, 32, 32)
    for split in ("train", "eval"):
        out = pipelines[split](sample)
        assert tuple(out.shape) == expected, (split, out.shape)
        assert out.dtype == torch.float32


def _model_input(cfg, channels: int, batch: int) -> torch.Tensor:
    """A batch in the layout the model's net takes: clips [N, C, T, H, W] for video nets."""
    size = cfg.data.image_size
    if "clip_len" in cfg.data.get("dataset", {}):
        return torch.randn(batch, channels, cfg.data.dataset.clip_len, size, size)
    return torch.randn(batch, channels, size, size)


@pytest.mark.parametrize("name", options("model"))
def test_model_configs(make_cfg, name: str) -> None:
    extra = ["model.net.name=test_resnet"] if name == "timm" else []
    if name == "c3d":  # a clip model: composed with clip data, narrow for the CPU
        extra = ["data=synthetic_exercise_video", "model.net.width=4"]
    size = 72 if name == "alexnet" else 32
    cfg = make_cfg(f"model={name}", f"data.image_size={size}", *extra)
    net = instantiate(cfg.model.net, num_classes=3, in_chans=3)
    with torch.no_grad():
        logits = net.eval()(_model_input(cfg, 3, 2))
    assert logits.shape == (2, 3)


@pytest.mark.parametrize("name", options("loss"))
def test_loss_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"loss={name}", "loss.class_weights=auto")
    criterion = instantiate(cfg.loss, class_counts=[5, 3, 2])
    loss = criterion(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))
    assert loss.ndim == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("name", options("sampler"))
def test_sampler_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"sampler={name}")
    labels = [0] * 6 + [1] * 3 + [2] * 2
    sampler = instantiate(cfg.sampler)(labels=labels, seed=0)
    draws = list(sampler)
    expected = {"shuffle": 11, "weighted": 11, "downsample": 3 + 3 + 2, "balanced": 3 * 3}[name]
    assert len(draws) == len(sampler) == expected
    assert {i for i, _ in draws} <= set(range(11))
    assert len({seed for _, seed in draws}) == len(draws), "every draw has its own seed"


@pytest.mark.parametrize("name", options("optimizer"))
def test_optimizer_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"optimizer={name}")
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = instantiate(cfg.optimizer)(params=[param])
    param.sum().backward()
    optimizer.step()
    assert not torch.equal(param.detach(), torch.ones(3))


@pytest.mark.parametrize("name", options("scheduler"))
def test_scheduler_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"scheduler={name}", "trainer.max_epochs=4")
    if cfg.scheduler.scheduler is None:
        assert name == "none"
        return
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    scheduler = instantiate(cfg.scheduler.scheduler)(optimizer=optimizer)
    seen = []
    for _ in range(4):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(1.0)  # never improves: halved after `patience` epochs
        else:
            scheduler.step()
    expected = {
        # 1 warm-up epoch from 0.1x, then cosine over the remaining 3 epochs
        "cosine": [0.01, 0.1, 0.1 * (0.01 + 0.99 * 0.75), 0.1 * (0.01 + 0.99 * 0.25)],
        "step": [0.1] * 4,  # step_size 10
        "plateau": [0.1] * 4,  # patience 5 (seed 004): no reduction within 4 epochs
    }[name]
    assert seen == pytest.approx(expected)
    if name == "cosine":
        assert isinstance(scheduler, WarmupCosine)


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_configs(make_cfg, name: str) -> None:
    # GPU configs are instantiated on the CPU here (no GPU on the test machines).
    cfg = make_cfg(f"trainer={name}", "trainer.accelerator=cpu", "trainer.precision=32-true")
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert isinstance(trainer, L.Trainer)
    assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("name", options("logger"))
def test_logger_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"logger={name}")
    loggers = [instantiate(c) for c in cfg.logger.values()]
    expected = {"csv": 1, "tensorboard": 1, "wandb": 1, "many": 3, "none": 0}[name]
    assert len(loggers) == expected
    for logger in loggers:
        assert str(Path(cfg.paths.output_dir)) in str(logger.save_dir)


@pytest.mark.parametrize("name", options("callbacks"))
def test_callback_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"callbacks={name}", "ckpt_path=/tmp/x.ckpt")
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    assert all(isinstance(c, L.Callback) for c in callbacks)
    assert len(callbacks) == len(cfg.callbacks)


@pytest.mark.parametrize("name", options("debug"))
def test_debug_configs(make_cfg, name: str) -> None:
    cfg = make_cfg(f"debug={name}")
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert isinstance(trainer, L.Trainer)


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_configs(make_cfg, name: str) -> None:
    # Recipes ask for ImageNet weights where the study used them; none can be fetched here.
    # Video recipes train C3D from scratch; a narrow copy keeps the forward pass cheap.
    offline = {"workout": [], "exercise_video": ["model.net.width=8"]}.get(
        name.split("/")[0], ["model.net.pretrained=false"]
    )
    cfg = make_cfg(f"experiment={name}", *offline, tiny=False)
    if cfg.model.net.get("pretrained"):  # e.g. workout/resnet_kp: a timm net on LeNet's data
        cfg = make_cfg(f"experiment={name}", "model.net.pretrained=false", tiny=False)
    assert cfg.tags and cfg.trainer.max_epochs >= 5
    assert isinstance(instantiate(cfg.data), SportsDataModule)  # the recipe builds its data
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    extra = {name: 51 for name in net_cfg.get("extra_inputs") or []}  # keypoints: 17 x 3
    if extra:  # the classifier fills the sizes in from the data's input spec
        net_cfg["extra_inputs"] = extra
    channels = 1 if cfg.data.dataset.get("grayscale") else 3  # no data on disk here
    net = instantiate(net_cfg, num_classes=4, in_chans=channels)
    inputs = [_model_input(cfg, channels, 1)]
    inputs += [torch.randn(1, size) for size in extra.values()]
    with torch.no_grad():
        logits = net.eval()(*inputs)
    assert logits.shape == (1, 4)


def test_evaluate_config(make_cfg) -> None:
    cfg = make_cfg(
        "ckpt_path=/some/run/checkpoints/last.ckpt", "data.root=/elsewhere", name="evaluate"
    )
    assert cfg.task_name == "evaluate"
    assert cfg.data.root == "/elsewhere" and cfg.data.batch_size is None
    assert cfg.callbacks.test_artefacts.ckpt_path == cfg.ckpt_path


@pytest.mark.parametrize("name", ["export", "predict"])
def test_checkpoint_tool_configs(make_cfg, name: str) -> None:
    extra = ["input=photos/"] if name == "predict" else ["format=torchscript"]
    cfg = make_cfg("ckpt_path=/some/run/checkpoints/last.ckpt", *extra, name=name)
    assert cfg.task_name == name and cfg.ckpt_path.endswith("last.ckpt")
    assert cfg.paths.output_dir
