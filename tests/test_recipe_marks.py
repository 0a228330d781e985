"""Study 000's He-initialised head (``model.net.head_init``) and the STATED/CHOSEN marks of
the 000 and 002 recipes.

Every value a recipe sets carries ``STATED`` (the study says it, with its line or equation)
or ``CHOSEN`` (with the reason) in a comment on its line or the comment lines right below
it. The marks checked here are those of values that were once implicit or unmarked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sports_rec.checkpoint import load_classifier
from sports_rec.errors import ConfigError
from sports_rec.models.classifier import Classifier
from sports_rec.models.nets.composed import FeatureClassifier, init_head
from sports_rec.models.nets.timm_net import create_timm_net
from sports_rec.utils.run import unwrap_user_error
from tests.conftest import CONF_DIR

RECIPES = CONF_DIR / "experiment"
_KEY = re.compile(r"^(?P<indent> *)(?:- override /)?(?P<key>[\w/]+):(?P<rest>.*)$")


def marks(path: Path) -> dict[str, str]:
    """``{dotted key: its comment}`` of a YAML file: the comment on the key's line plus the
    comment-only lines right below it (a ``- override /group: x`` default is ``defaults.group``).
    """
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    current: str | None = None
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            if current is not None:
                found[current] += " " + line.strip().lstrip("#").strip()
            continue
        match = _KEY.match(line)
        if not match:
            current = None
            continue
        indent = len(match["indent"]) + (2 if "- override" in line else 0)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match["key"].strip("/")
        stack.append((indent, key))
        current = ".".join(k for _, k in stack)
        _, _, comment = match["rest"].partition("#")
        found[current] = comment.strip()
    return found


# (recipe, key, mark, words the comment must hold: what the value is and why)
LISTED = [
    # 000: no frozen layers, training precision (shared by the four recipes)
    ("sports100/common", "model.net.freeze", "CHOSEN", ["frozen", "not stated"]),
    ("sports100/common", "trainer.precision", "CHOSEN", ["not stated", "32-true"]),
    # 000: He init of the head, eqs. (2) and (14); ViT / MobileNetV2 are not covered by them
    ("sports100/resnet50", "model.net.head_init", "STATED", ["eq. (2)", "biases CHOSEN"]),
    ("sports100/convnext_tiny", "model.net.head_init", "STATED", ["eq. (14)", "biases CHOSEN"]),
    ("sports100/convnext_tiny_v1", "model.net.head_init", "STATED", ["eq. (14)"]),
    ("sports100/mobilenetv2", "model.net.head_init", "CHOSEN", ["(2)", "(14)", "only"]),
    ("sports100/vit", "model.net.head_init", "CHOSEN", ["(2)", "(14)", "only"]),
    # 000: which parameters the elastic-net penalty covers
    *[
        (f"sports100/{name}", "regularization.l2", "CHOSEN", ["penalty covers", "not biases"])
        for name in ("resnet50", "convnext_tiny", "convnext_tiny_v1", "mobilenetv2")
    ],
    # 000-ViT: weight decay skips biases, norms, position embedding and class token
    ("sports100/vit", "optimizer.weight_decay", "CHOSEN", ["not biases", "norm", "not stated"]),
    # 002: grayscale ImageNet normalisation, class-stratified split, PyTorch's default init
    *[
        (f"workout/{name}", key, "CHOSEN", words)
        for name in ("lenet", "alexnet")
        for key, words in [
            ("transforms.train.mean", ["ImageNet", "averaged", "grayscale"]),
            ("transforms.train.std", ["ImageNet", "averaged"]),
            ("transforms.eval.mean", ["as train"]),
            ("transforms.eval.std", ["as train"]),
            ("data.split", ["stratified", "not stated"]),
            ("defaults.model", ["init CHOSEN", "default"]),
        ]
    ],
]


@pytest.mark.parametrize(
    ("recipe", "key", "mark", "words"), LISTED, ids=[f"{r}:{k}" for r, k, *_ in LISTED]
)
def test_listed_values_are_marked(recipe: str, key: str, mark: str, words: list[str]) -> None:
    found = marks(RECIPES / f"{recipe}.yaml")
    assert key in found, f"{recipe}.yaml sets no {key} (keys: {sorted(found)})"
    comment = found[key]
    assert mark in comment, f"{recipe}.yaml {key}: {mark} missing from {comment!r}"
    for word in words:
        assert word in comment, f"{recipe}.yaml {key}: {word!r} missing from {comment!r}"


def test_marks_parser_reads_keys_and_continuation_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "defaults:\n  - override /model: lenet   # STATED l.1\n"
        "a:\n  b: 1   # CHOSEN: x\n        #   more\n  c: 2\n"
    )
    assert marks(path) == {
        "defaults": "", "defaults.model": "STATED l.1", "a": "", "a.b": "CHOSEN: x more",
        "a.c": "",
    }  # fmt: skip


def test_explicit_values_are_the_defaults_they_replace(make_cfg) -> None:
    """The lines added to carry a mark change nothing: the recipe's value is the default."""
    trainer_default = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "trainer/default.yaml"))
    for name in ("resnet50", "vit"):
        cfg = make_cfg(f"experiment=sports100/{name}", tiny=False)
        assert cfg.model.net.freeze == "none"
        precision = OmegaConf.to_container(cfg.trainer)["precision"]  # unresolved
        assert precision == trainer_default["precision"] == "${auto_precision:${.accelerator}}"
    base = OmegaConf.load(CONF_DIR / "transforms" / "simple.yaml")
    for name in ("lenet", "alexnet"):
        cfg = make_cfg(f"experiment=workout/{name}", tiny=False)
        for stage in ("train", "eval"):
            for key in ("mean", "std"):
                assert cfg.transforms[stage][key] is None is base[stage][key]


# ----------------------------------------------------------------------- head init
class _Features(nn.Module):
    """A backbone stand-in: ``num_features`` pooled features, no parameters."""

    num_features = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _assert_he(linear: nn.Linear) -> None:
    """Weights ~ N(0, 2/fan_in) (eqs. (2), (14)), biases zero; layers of >= 100k weights, so
    the sample moments are within 1 % (1 sigma) of the true ones."""
    fan_in, w = linear.in_features, linear.weight.detach().double().flatten()
    assert w.numel() >= 100_000
    sigma = (2 / fan_in) ** 0.5
    assert w.mean().abs().item() < 5 * sigma / w.numel() ** 0.5
    assert w.var().item() == pytest.approx(2 / fan_in, rel=0.05)
    # a normal, not a uniform of the same variance: 68 % within one sigma (uniform: 58 %)
    assert (w.abs() < sigma).double().mean().item() == pytest.approx(0.683, abs=0.02)
    assert linear.bias is not None and torch.count_nonzero(linear.bias) == 0


def _assert_pytorch_default(linear: nn.Linear) -> None:
    # nn.Linear: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)), variance 1/(3 fan_in);
    # bias U(+-1/sqrt(fan_in))
    fan_in = linear.in_features
    bound = fan_in**-0.5
    assert linear.weight.detach().double().var().item() == pytest.approx(1 / (3 * fan_in), rel=0.05)
    assert linear.weight.abs().max() <= bound and linear.bias.abs().max() <= bound
    assert torch.count_nonzero(linear.bias) == linear.out_features


def test_he_head_has_variance_two_over_fan_in_and_zero_biases() -> None:
    torch.manual_seed(0)
    net = FeatureClassifier(_Features(), num_classes=256, head=[1024], head_init="he")
    layers = _linears(net.head)
    assert [(m.in_features, m.out_features) for m in layers] == [(512, 1024), (1024, 256)]
    for linear in layers:
        _assert_he(linear)


def test_default_head_keeps_pytorchs_init_and_random_stream() -> None:
    torch.manual_seed(0)
    plain = FeatureClassifier(_Features(), num_classes=256, head=[1024])
    torch.manual_seed(0)
    default = FeatureClassifier(_Features(), num_classes=256, head=[1024], head_init="default")
    for a, b in zip(plain.state_dict().values(), default.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for linear in _linears(plain.head):
        _assert_pytorch_default(linear)


def test_timm_net_he_init_of_the_mlp_head_or_timms_classifier() -> None:
    torch.manual_seed(0)
    composed = create_timm_net("test_resnet", num_classes=64, head=[2048], head_init="he")
    assert all(m.in_features in (96, 2048) for m in _linears(composed.head))
    for linear in _linears(composed.head):
        _assert_he(linear)
    own = create_timm_net("test_resnet", num_classes=1200, head_init="he")
    _assert_he(own.get_classifier())
    torch.manual_seed(1)
    plain = create_timm_net("test_resnet", num_classes=1000)
    torch.manual_seed(1)
    default = create_timm_net("test_resnet", num_classes=1000, head_init="default")
    assert torch.equal(plain.get_classifier().weight, default.get_classifier().weight)
    # features=logits: the backbone's own classifier is not the head, and is left alone
    torch.manual_seed(2)
    logits = create_timm_net("test_resnet", 5, head=[], features="logits", head_init="he")
    torch.manual_seed(2)
    reference = create_timm_net("test_resnet", 5, head=[], features="logits")
    fc = logits.backbone.get_classifier().weight
    assert torch.equal(fc, reference.backbone.get_classifier().weight)
    head = logits.head[0]  # the added Linear(1000, 5) is He-initialised
    assert head.weight.var().item() == pytest.approx(2 / 1000, rel=0.1)
    assert torch.count_nonzero(head.bias) == 0


def test_unknown_head_init_names_the_key_and_the_choices(make_cfg) -> None:
    expected = r"model\.net\.head_init must be one of default, he, got 'bogus'"
    with pytest.raises(ConfigError, match=expected):
        create_timm_net("test_resnet", num_classes=3, head_init="bogus")
    with pytest.raises(ConfigError, match=expected):
        init_head(nn.Linear(2, 2), "bogus")
    # as the CLI meets it: through Hydra's instantiate (the CLI prints the unwrapped error)
    cfg = make_cfg("model.net.head_init=bogus")
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg.model.net, num_classes=3, in_chans=3)
    error = unwrap_user_error(caught.value)
    assert isinstance(error, ConfigError) and re.search(expected, str(error))


def _checkpoint(net: dict, path: Path) -> tuple[Classifier, Path]:
    torch.manual_seed(0)
    model = Classifier(
        net=net,
        loss={"_target_": "sports_rec.models.losses.cross_entropy"},
        optimizer={"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.1},
        scheduler=None,
        metadata={
            "class_names": ["a", "b", "c"],
            "input_spec": [{"name": "image", "shape": [3, 32, 32], "dtype": "torch.float32"}],
        },
    )
    hparams = OmegaConf.to_container(OmegaConf.create(dict(model.hparams)))
    torch.save({"hyper_parameters": hparams, "state_dict": model.state_dict()}, path)
    return model, path


@pytest.mark.parametrize("head_init", [None, "he"])
def test_checkpoints_with_and_without_head_init_load(tmp_path: Path, head_init) -> None:
    """A checkpoint written before ``head_init`` existed has no such key in its net config:
    load_classifier rebuilds the net with the default and loads the stored weights."""
    net = {
        "_target_": "sports_rec.models.nets.timm_net.create_timm_net",
        "name": "test_resnet",
        "pretrained": False,
        "weights": None,
        "head": [16],
    }
    if head_init is not None:
        net["head_init"] = head_init
    model, path = _checkpoint(net, tmp_path / "model.ckpt")
    loaded = load_classifier(path)
    assert ("head_init" in loaded.hparams["net"]) == (head_init is not None)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    batch = {"image": torch.randn(2, 3, 32, 32)}
    with torch.no_grad():
        assert torch.allclose(model.eval()(batch), loaded(batch))
