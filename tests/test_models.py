"""Nets, freeze policies, pretrained weights (local and offline) and losses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import timm
import torch
import torch.nn as nn
from torchvision.ops.misc import FrozenBatchNorm2d

from sports_rec.models.freeze import apply_freeze
from sports_rec.models.losses import FocalLoss, cross_entropy, resolve_class_weights
from sports_rec.models.nets.classic import AlexNet, LeNet
from sports_rec.models.nets.timm_net import PretrainedWeightsUnavailable, create_timm_net

# ------------------------------------------------------------------ classic nets


def test_lenet_and_alexnet_match_the_study_widths() -> None:
    """The study hard-coded Linear(33856, 120) for LeNet and Linear(6400, 4096) for AlexNet;
    our derived widths reproduce them at 200 px and 224 px."""
    assert LeNet(22, in_chans=1, image_size=200).classifier[0].in_features == 33856
    assert AlexNet(22, in_chans=1, image_size=224).classifier[0].in_features == 6400


def test_lenet_layers_are_the_studys() -> None:
    net = LeNet(22, in_chans=1, image_size=200)
    conv1, conv2 = net.features[0], net.features[3]
    assert (conv1.kernel_size, conv1.padding, conv1.out_channels) == ((11, 11), (2, 2), 6)
    assert (conv2.kernel_size, conv2.out_channels) == ((5, 5), 16)
    assert isinstance(net.features[2], nn.AvgPool2d) and isinstance(net.features[5], nn.AvgPool2d)
    widths = [m.out_features for m in net.classifier if isinstance(m, nn.Linear)]
    assert widths == [120, 84, 22]
    assert [m.p for m in net.classifier if isinstance(m, nn.Dropout)] == [0.6]


def test_alexnet_layers_are_the_studys() -> None:
    net = AlexNet(22, in_chans=1, image_size=224)
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0], c.padding[0], c.out_channels) for c in convs] == [
        (11, 4, 1, 96), (5, 1, 2, 256), (3, 1, 1, 384), (3, 1, 1, 384), (3, 1, 1, 256)
    ]  # fmt: skip
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.features) == 3
    widths = [m.out_features for m in net.classifier if isinstance(m, nn.Linear)]
    assert widths == [4096, 4096, 22]
    assert [m.p for m in net.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.5]


@pytest.mark.parametrize("cls,sizes", [(LeNet, [18, 32, 64, 97, 200]), (AlexNet, [65, 96, 128])])
@pytest.mark.parametrize("channels", [1, 3])
def test_classic_nets_accept_any_size_and_channels(cls, sizes, channels) -> None:
    for size in sizes:
        net = cls(5, in_chans=channels, image_size=size).eval()
        with torch.no_grad():
            assert net(torch.randn(2, channels, size, size)).shape == (2, 5)


def test_classic_nets_refuse_too_small_inputs() -> None:
    with pytest.raises(ValueError, match="at least 65 px"):
        AlexNet(5, image_size=64)


# ------------------------------------------------------------------ freezing


def _trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_backbone_trains_only_the_classifier() -> None:
    model = apply_freeze(timm.create_model("resnet10t", num_classes=4), "backbone")
    assert _trainable(model) == {"fc.weight", "fc.bias"}
    assert isinstance(model.bn1, FrozenBatchNorm2d)


def test_freeze_all_but_last_stage_for_resnet_and_vit() -> None:
    resnet = apply_freeze(timm.create_model("resnet10t", num_classes=4), "all_but_last_stage")
    assert _trainable(resnet) and all(n.startswith(("layer4.", "fc.")) for n in _trainable(resnet))
    assert not isinstance(resnet.layer4[0].bn1, FrozenBatchNorm2d)
    vit = apply_freeze(timm.create_model("test_vit", num_classes=4), "all_but_last_stage")
    last = f"blocks.{len(vit.blocks) - 1}."
    assert all(n.startswith((last, "norm", "fc_norm", "head")) for n in _trainable(vit))
    assert any(n.startswith(last) for n in _trainable(vit))


def test_freeze_classic_net_and_unknown_policy() -> None:
    net = LeNet(3, in_chans=1, image_size=32, freeze="all_but_last_stage")
    assert "features.0.weight" not in _trainable(net)
    assert {"features.3.weight", "classifier.5.weight"} <= _trainable(net)
    with pytest.raises(ValueError, match="freeze must be one of"):
        apply_freeze(net, "half")


# ------------------------------------------------------------------ pretrained weights


def test_local_weights_file_is_loaded(tmp_path: Path) -> None:
    source = timm.create_model("resnet10t")  # 1000 ImageNet classes, random weights
    path = tmp_path / "resnet10t.pth"
    torch.save(source.state_dict(), path)
    net = create_timm_net("resnet10t", num_classes=5, weights=str(path), freeze="none")
    assert torch.equal(net.conv1[0].weight, source.conv1[0].weight)
    assert net.fc.out_features == 5  # the head is re-initialised for the new classes


def test_missing_local_weights_file() -> None:
    with pytest.raises(FileNotFoundError, match=r"model\.net\.weights"):
        create_timm_net("resnet10t", num_classes=5, weights="/no/such/file.safetensors")


def test_pretrained_offline_fails_with_a_pointer_to_local_weights() -> None:
    with pytest.raises(PretrainedWeightsUnavailable, match=r"model\.net\.weights=PATH"):
        create_timm_net("resnet18", num_classes=3, pretrained=True)


def test_pretrained_without_network_fails_even_without_offline_flag(monkeypatch) -> None:
    """Without HF_HUB_OFFLINE the hub probe notices the dead network (here: an endpoint
    that cannot resolve) and goes to the cache only, instead of huggingface_hub's retries."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    with pytest.raises(PretrainedWeightsUnavailable, match="cannot reach the Hugging Face hub"):
        create_timm_net("resnet18", num_classes=3, pretrained=True)


# ------------------------------------------------------------------ losses


def test_focal_loss_matches_a_hand_calculation() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    target = torch.tensor([0, 2])
    gamma = 2.0
    expected = 0.0
    for row, t in zip(logits.tolist(), target.tolist(), strict=True):
        p = math.exp(row[t]) / sum(math.exp(v) for v in row)
        expected += -((1 - p) ** gamma) * math.log(p)
    expected /= 2
    assert FocalLoss(gamma=gamma)(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_focal_loss_with_weights_and_gamma_zero_is_weighted_cross_entropy() -> None:
    logits, target = torch.randn(16, 4), torch.randint(0, 4, (16,))
    weights = [1.0, 2.0, 0.5, 3.0]
    focal = FocalLoss(gamma=0.0, class_weights=weights)(logits, target)
    ce = nn.CrossEntropyLoss(weight=torch.tensor(weights))(logits, target)
    assert focal.item() == pytest.approx(ce.item(), rel=1e-5)


def test_focal_loss_down_weights_easy_examples() -> None:
    easy = torch.tensor([[6.0, 0.0, 0.0]])
    target = torch.tensor([0])
    assert FocalLoss(gamma=2.0)(easy, target) < 0.01 * cross_entropy()(easy, target)


def test_auto_class_weights_are_inverse_frequency() -> None:
    weights = resolve_class_weights("auto", [10, 30, 60, 0])
    present = torch.tensor([100 / (3 * 10), 100 / (3 * 30), 100 / (3 * 60)])
    assert torch.allclose(weights[:3], present)
    assert weights[3] == 0  # a class absent from training gets no weight
    assert torch.allclose(cross_entropy("auto", 0.1, [10, 30, 60, 0]).weight, weights)
    with pytest.raises(ValueError, match="needs the training class counts"):
        resolve_class_weights("auto", None)
    with pytest.raises(ValueError, match="3 class weights given for 2 classes"):
        resolve_class_weights([1.0, 2.0, 3.0], [5, 5])


# ------------------------------------------------------------------ composed heads


def test_mlp_head_layers_and_no_dropout_on_the_logits() -> None:
    from sports_rec.models.nets.composed import mlp_head

    head = mlp_head(2048, [512, 256], 15, dropout=0.5)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [m.out_features for m in head if isinstance(m, nn.Linear)] == [512, 256, 15]
    assert [type(m).__name__ for m in mlp_head(2048, [], 15, dropout=0.5)] == ["Linear"]


def test_timm_net_with_a_head_freezes_only_the_backbone() -> None:
    net = create_timm_net(
        "resnet10t", num_classes=4, head=[32], head_dropout=0.2, freeze="backbone"
    )
    assert _trainable(net) == {"head.0.weight", "head.0.bias", "head.3.weight", "head.3.bias"}
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    stage = create_timm_net("resnet10t", num_classes=4, head=[], freeze="all_but_last_stage")
    assert all(n.startswith(("backbone.layer4.", "head.")) for n in _trainable(stage))
    assert {"head.0.weight", "backbone.layer4.0.conv1.weight"} <= _trainable(stage)


def test_weight_norms_per_layer() -> None:
    from sports_rec.callbacks.weight_norms import weight_norms

    net = nn.Sequential(nn.Linear(3, 2, bias=True), nn.BatchNorm1d(2), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0, 2.0], [0.0, 0.0, 0.0]]))
    rows = {row["layer"]: row for row in weight_norms(net)}
    assert set(rows) == {"0", "2"}  # weights only: no biases, no norm scales
    assert rows["0"]["l1"] == pytest.approx(5.0) and rows["0"]["l2"] == pytest.approx(3.0)
    assert rows["0"]["numel"] == 6 and rows["0"]["head"] is False
