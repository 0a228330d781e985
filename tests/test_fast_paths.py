"""Fast paths (channels_last, torch.compile, the mixed-precision choice): when each is on,
that it gives the plain path's numbers, and that compile falls back cleanly."""

from __future__ import annotations

import logging

import pytest
import timm
import torch
from omegaconf import OmegaConf

from sports_rec.errors import ConfigError
from sports_rec.models.classifier import Classifier
from sports_rec.models.fast_paths import CompiledForward, channels_last_format, compiled_forward
from sports_rec.models.nets.c3d import C3D
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


def classifier(size: int, **fast) -> Classifier:
    torch.manual_seed(0)
    return Classifier(
        net={"_target_": "timm.create_model", "model_name": "resnet10t"},
        loss={"_target_": "sports_rec.models.losses.cross_entropy"},
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
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
