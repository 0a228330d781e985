"""Fast paths (channels_last, torch.compile, the fused optimizer step, the mixed-precision
choice): when each is on, that it gives the plain path's numbers, and that compile falls
back cleanly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import timm
import torch
from omegaconf import OmegaConf

from sports_rec.errors import ConfigError
from sports_rec.models.classifier import Classifier
from sports_rec.models.fast_paths import (
    CompiledForward,
    channels_last_format,
    compiled_forward,
    resolve_fused,
)
from sports_rec.models.nets.c3d import C3D
from sports_rec.train import train
from sports_rec.utils.hardware import cpu_computes_bf16 as real_cpu_computes_bf16
from sports_rec.utils.resolvers import register_resolvers


def spec(*shape: int) -> list[dict]:
    return [{"name": "image", "shape": list(shape), "dtype": "torch.float32"}]


@pytest.mark.parametrize(
    ("net", "shape", "setting", "expected"),
    [
        ("resnet10t", (3, 64, 64), "auto", None),  # measured slower at 64 px
        ("resnet10t", (3, 112, 112), "auto", torch.channels_last),
        ("resnet10t", (3, 64, 64), True, torch.channels_last),
        ("resnet10t", (3, 112, 112), False, None),
        ("test_vit", (3, 112, 112), "auto", None),  # one convolution (the patch embedding)
    ],
)
def test_channels_last_rule(net: str, shape: tuple, setting, expected) -> None:
    model = timm.create_model(net, num_classes=3, **({"img_size": 112} if "vit" in net else {}))
    assert channels_last_format(model, setting, spec(*shape)) == expected


def test_clip_nets_use_channels_last_3d_and_bad_settings_are_refused() -> None:
    clip_spec = [{"name": "video", "shape": [3, 16, 32, 32], "dtype": "torch.float32"}]
    assert channels_last_format(C3D(3, width=4), "auto", clip_spec) == torch.channels_last_3d
    with pytest.raises(ConfigError, match="channels_last must be auto, true or false"):
        channels_last_format(C3D(3, width=4), "sometimes", clip_spec)


def classifier(size: int, optimizer: dict | None = None, **fast) -> Classifier:
    torch.manual_seed(0)
    return Classifier(
        net={"_target_": "timm.create_model", "model_name": "resnet10t"},
        loss={"_target_": "sports_rec.models.losses.cross_entropy"},
        optimizer=optimizer or {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
        scheduler=None,
        metadata={"class_names": ["a", "b", "c"], "input_spec": spec(3, size, size)},
        fast_paths=fast,
    )


def test_channels_last_gives_the_plain_paths_logits_and_gradients() -> None:
    plain, fast = classifier(112), classifier(112, channels_last="auto")
    fast.load_state_dict(plain.state_dict())
    assert plain.memory_format is None and fast.memory_format == torch.channels_last
    assert fast.net.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    batch = {"image": torch.randn(4, 3, 112, 112), "label": torch.tensor([0, 1, 2, 0])}
    logits = [m.train()(batch) for m in (plain, fast)]
    assert torch.allclose(logits[0], logits[1], atol=1e-4, rtol=1e-4)
    for out in logits:
        torch.nn.functional.cross_entropy(out, batch["label"]).backward()
    grads = [m.net.fc.weight.grad for m in (plain, fast)]
    assert torch.allclose(grads[0], grads[1], atol=1e-4, rtol=1e-3)


def test_compile_failure_falls_back_to_eager_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args, **kwargs):
        def call(*inputs):
            raise RuntimeError("backend compiler failed\nlong trace")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    x = torch.randn(2, 3, 8, 8)
    forward = compiled_forward(net, enabled=True)
    assert isinstance(forward, CompiledForward)
    with caplog.at_level(logging.WARNING):
        out = forward(x)
    assert torch.equal(out, net(x)) and forward.compiled is None
    assert "torch.compile failed (RuntimeError: backend compiler failed)" in caplog.text
    monkeypatch.setattr("shutil.which", lambda name: None)
    with caplog.at_level(logging.WARNING):
        assert compiled_forward(net, enabled=True) is None
    assert "no C++ compiler" in caplog.text


@pytest.mark.slow
def test_compiled_net_matches_eager() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 3),
    ).eval()
    x = torch.randn(2, 3, 16, 16)
    forward = compiled_forward(net, enabled=True)
    with torch.no_grad():
        assert torch.allclose(forward(x), net(x), atol=1e-5)
    assert forward.failed is None and forward.compiled is not None


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16-mixed"), (False, "16-mixed")])
def test_gpu_trainers_choose_bf16_where_the_gpu_has_it(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: str
) -> None:
    register_resolvers()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    cfg = OmegaConf.create({"precision": "${mixed_precision:}"})
    assert cfg.precision == expected


CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("optimizer", "setting", "expected"),
    [
        ("torch.optim.AdamW", "auto", True),
        ("torch.optim.SGD", "auto", True),
        ("torch.optim.Adam", False, None),
        ("torch.optim.AdamW", "true", True),
    ],
)
def test_fused_step_rule(optimizer: str, setting, expected) -> None:
    cfg = {"_target_": optimizer, "_partial_": True, "lr": 0.1, "fused": setting}
    assert resolve_fused(cfg, CPU)["fused"] is expected


def test_fused_auto_leaves_optimizers_without_it_and_explicit_foreach_alone() -> None:
    rmsprop = {"_target_": "torch.optim.RMSprop", "_partial_": True, "fused": "auto"}
    assert resolve_fused(rmsprop, CPU) == {"_target_": "torch.optim.RMSprop", "_partial_": True}
    foreach = {"_target_": "torch.optim.AdamW", "foreach": True, "fused": "auto"}
    assert resolve_fused(foreach, CPU)["fused"] is None
    plain = {"_target_": "torch.optim.AdamW"}
    assert resolve_fused(plain, CPU) == plain  # no key: torch's default
    assert resolve_fused({**plain, "fused": "auto"}, torch.device("meta"))["fused"] is None
    with pytest.raises(ConfigError, match=r"RMSprop has no fused step: set optimizer\.fused=auto"):
        resolve_fused({**rmsprop, "fused": True}, CPU)
    clipped = {"_target_": "torch.optim.AdamW", "fused": "auto"}
    assert resolve_fused(clipped, CPU, clips_mixed_precision=True)["fused"] is None
    with pytest.raises(ConfigError, match=r"cannot be combined with trainer\.gradient_clip_val"):
        resolve_fused({**clipped, "fused": True}, CPU, clips_mixed_precision=True)
    with pytest.raises(ConfigError, match=r"optimizer\.fused must be auto, true or false"):
        resolve_fused({**foreach, "fused": "always"}, CPU)


@pytest.mark.parametrize("name", ["AdamW", "Adam", "SGD"])
def test_fused_optimizer_step_gives_the_loops_weights(name: str) -> None:
    """Three steps through ``configure_optimizers`` on the same gradients: fused (``auto``
    on CPU) and torch's default loop end at the same weights. (The same gradients each time:
    with a forward pass in between, BatchNorm and Adam's normalisation of near-zero
    gradients amplify float rounding into visible differences for any two implementations.)
    """
    base = {"_target_": f"torch.optim.{name}", "_partial_": True, "lr": 0.01, "weight_decay": 0.05}
    if name == "SGD":
        base["momentum"] = 0.9
    initial = torch.cat([p.detach().flatten() for p in classifier(32).parameters()])
    weights, fused_flags = [], []
    for setting in ("auto", False):
        model = classifier(32, {**base, "fused": setting})
        optimizer = model.configure_optimizers()
        fused_flags.append(optimizer.defaults["fused"])
        generator = torch.Generator().manual_seed(1)
        for _ in range(3):
            for parameter in model.parameters():
                parameter.grad = torch.randn(parameter.shape, generator=generator)
            optimizer.step()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert fused_flags == [True, None]
    assert torch.allclose(weights[0], weights[1], atol=1e-6, rtol=1e-5)
    assert (weights[0] - initial).abs().max() > 1e-3  # the steps did move the weights


@pytest.mark.parametrize(
    ("accelerator", "cuda", "native_bf16", "expected"),
    [
        ("auto", False, True, "bf16-mixed"),  # an AMX / AVX512-BF16 CPU
        ("cpu", False, True, "bf16-mixed"),
        ("auto", False, False, "32-true"),  # an AVX2 CPU: emulated bf16 would be slower
        ("cpu", True, True, "bf16-mixed"),
        ("auto", True, False, "bf16-mixed"),  # a GPU: ${mixed_precision:}
        ("mps", False, True, "32-true"),
    ],
)
def test_default_trainer_precision_follows_the_hardware(
    monkeypatch: pytest.MonkeyPatch, accelerator: str, cuda: bool, native_bf16: bool, expected
) -> None:
    register_resolvers()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr("sports_rec.utils.hardware.cpu_computes_bf16", lambda: native_bf16)
    cfg = OmegaConf.create(
        {"trainer": {"accelerator": accelerator, "precision": "${auto_precision:${.accelerator}}"}}
    )
    assert cfg.trainer.precision == expected


def test_this_cpu_is_detected() -> None:
    """On x86 the answer follows the CPU's flags (AMX tiles or AVX512-BF16)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    if "flags" not in flags:
        pytest.skip("no /proc/cpuinfo flags on this machine")
    native = any(f in flags.split() for f in ("amx_tile", "avx512_bf16"))
    assert real_cpu_computes_bf16() == native


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_default_trainer_config_resolves_its_precision(
    make_cfg, monkeypatch: pytest.MonkeyPatch, native_bf16: bool, expected: str
) -> None:
    monkeypatch.setattr("sports_rec.utils.hardware.cpu_computes_bf16", lambda: native_bf16)
    assert make_cfg().trainer.precision == expected
    assert make_cfg("trainer.precision=32-true").trainer.precision == "32-true"


@pytest.mark.slow  # twenty epochs of LeNet in (emulated) bf16
@pytest.mark.filterwarnings("ignore:.*does not have many workers")
def test_a_run_on_a_bf16_cpu_trains_tests_and_checkpoints_in_bf16_mixed(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole stack (metrics, callbacks, checkpoint, test) under the precision AMX CPUs
    get by default: it learns, and the checkpoint holds fp32 weights.

    LeNet, not the default ResNet10-T: on CPUs without bf16 instructions (CI's) bf16 convs
    are emulated, ~10x slower than fp32, and the ResNet's 10 epochs took ~140 s; LeNet's 20
    take ~50 s. Batch norm under bf16 is covered by the next test's ResNet."""
    monkeypatch.setattr("sports_rec.utils.hardware.cpu_computes_bf16", lambda: True)
    cfg = make_cfg(
        "model=lenet",
        "data.synthetic.per_class=32",
        "data.synthetic.eval_per_class=8",
        "data.batch_size=16",
        "trainer.max_epochs=20",
        "trainer.gradient_clip_val=5.0",  # as the video recipes: no fused step then
    )
    assert cfg.trainer.precision == "bf16-mixed"
    metrics = train(cfg)
    assert metrics["test/acc"] >= 0.5  # twice chance (4 classes)
    state = torch.load(
        Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", map_location="cpu"
    )["state_dict"]
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())


@pytest.mark.slow  # eight epochs of training in bf16
@pytest.mark.filterwarnings("ignore:You defined a `validation_step`")
def test_bf16_mixed_training_on_a_cpu_keeps_the_fp32_predictions(tmp_path) -> None:
    """The same weights evaluated by Lightning in ``32-true`` and in ``bf16-mixed`` (what the
    default trainer picks on AMX CPUs): class probabilities within bf16 rounding, the same
    predicted classes; and a few bf16 training steps keep fp32 weights and lower the loss."""
    import lightning as L
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    images = torch.randn(32, 3, 32, 32)
    labels = torch.arange(32) % 3
    images[labels == 1, 0] += 1.5  # a learnable signal in the red channel
    images[labels == 2, 2] += 1.5
    rows = [{"image": images[i], "label": labels[i]} for i in range(32)]
    loader = DataLoader(rows, batch_size=8)

    def trainer(precision: str, **kwargs) -> L.Trainer:
        return L.Trainer(
            accelerator="cpu",
            precision=precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
            **kwargs,
        )

    model = classifier(32, channels_last="auto")
    probs = {p: torch.cat(trainer(p).predict(model, loader)) for p in ("32-true", "bf16-mixed")}
    assert torch.allclose(probs["32-true"], probs["bf16-mixed"], atol=0.03)
    agree = (probs["32-true"].argmax(1) == probs["bf16-mixed"].argmax(1)).float().mean()
    assert agree >= 0.9

    before = torch.nn.functional.cross_entropy(probs["32-true"].log(), labels)
    trainer("bf16-mixed", max_epochs=8).fit(model, train_dataloaders=loader)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    after = torch.cat(trainer("32-true").predict(model, loader))
    assert torch.nn.functional.cross_entropy(after.log(), labels) < before - 0.1
