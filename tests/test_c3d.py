"""The study's C3D: published parameter count, GradCAM feature sizes, a narrow net trains."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from sports_rec.errors import ConfigError
from sports_rec.models.nets.c3d import C3D


def test_parameter_count_matches_the_study() -> None:
    net = C3D(num_classes=17)
    assert sum(p.numel() for p in net.parameters()) == 27_797_137
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 27_797_137


def test_layers_as_published() -> None:
    net = C3D(num_classes=17)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert all(c.kernel_size == (3, 3, 3) and c.padding == (1, 1, 1) for c in convs)
    assert all(c.bias is not None for c in convs)
    assert sum(isinstance(m, nn.BatchNorm3d) for m in net.modules()) == 8
    pools = [m.kernel_size for m in net.modules() if isinstance(m, nn.MaxPool3d)]
    assert pools == [(1, 2, 2)] + [(2, 2, 2)] * 4
    dropouts = [m.p for m in net.head if isinstance(m, nn.Dropout)]
    linears = [(m.in_features, m.out_features) for m in net.head if isinstance(m, nn.Linear)]
    assert dropouts == [0.5, 0.3]
    assert linears == [(512, 256), (256, 17)]
    assert net.get_classifier() is net.head[-1]
    assert net.input_keys == ("video",)
    assert net.num_classes == 17


def test_block_sizes_for_a_study_clip() -> None:
    """16x112x112 gives block3 14x14, block4 7x7, block5 3x3 (the study's GradCAM maps)."""
    with torch.device("meta"):  # shapes only: no memory, no compute
        net = C3D(num_classes=17)
        x = torch.empty(1, 3, 16, 112, 112)
    shapes = []
    for block in net.blocks():
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [
        (64, 16, 56, 56),
        (128, 8, 28, 28),
        (256, 4, 14, 14),
        (512, 2, 7, 7),
        (512, 1, 3, 3),
    ]
    assert [(i["module"], i["num_chs"], i["reduction"]) for i in net.feature_info] == [
        ("block1", 64, 2),
        ("block2", 128, 4),
        ("block3", 256, 8),
        ("block4", 512, 16),
        ("block5", 512, 32),
    ]
    # Each stage ends with its pool, so GradCAM on "blockN" sees the sizes above.
    assert all(
        isinstance(net.get_submodule(i["module"])[-1], nn.MaxPool3d) for i in net.feature_info
    )


def test_narrow_net_trains_on_a_tiny_clip() -> None:
    torch.manual_seed(0)
    # No dropout, so the loss before and after one step are computed by the same function.
    net = C3D(num_classes=5, width=4, head_hidden=16, dropout=0.0, head_dropout=0.0)
    assert [i["num_chs"] for i in net.feature_info] == [4, 8, 16, 32, 32]
    clips = torch.randn(2, 3, 16, 32, 32)
    labels = torch.tensor([1, 4])
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    logits = net(clips)
    assert logits.shape == (2, 5)
    loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    optimizer.step()
    with torch.no_grad():
        assert nn.functional.cross_entropy(net(clips), labels) < loss


def test_grayscale_input_channels() -> None:
    net = C3D(num_classes=3, in_chans=1, width=4, head_hidden=8)
    assert net.block1[0].in_channels == 1
    with torch.no_grad():
        assert net.eval()(torch.zeros(1, 1, 16, 32, 32)).shape == (1, 3)


def test_too_short_or_small_clips_are_named() -> None:
    net = C3D(num_classes=3, width=4, head_hidden=8)
    with pytest.raises(ConfigError, match=r"at least 16 frames.*got 8 frames of 32x32"):
        net(torch.zeros(1, 3, 8, 32, 32))
    with pytest.raises(ConfigError, match="got 16 frames of 24x40"):
        net(torch.zeros(1, 3, 16, 24, 40))
    with pytest.raises(ValueError, match=r"\[N, C, T, H, W\]"):
        net(torch.zeros(3, 16, 32, 32))


def test_bad_widths_are_rejected() -> None:
    with pytest.raises(ConfigError, match="width=0"):
        C3D(num_classes=3, width=0)
