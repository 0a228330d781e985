"""Freeze policies for transfer learning (``model.net.freeze``), on named parts of a net.

A net has a *backbone* and a *classifier* (``get_classifier()``); a composed net
(:class:`~sports_rec.models.nets.composed.FeatureClassifier`) also has the path of its extra
inputs (e.g. keypoints) straight into its ``head``. Policies freeze parts of the backbone
only, so the head and the keypoint path always train:

* ``none``                - everything trains;
* ``backbone``            - the backbone is frozen, only the classifier/head trains: a probe;
* ``all_but_last_stage``  - the backbone's last stage (a ResNet's ``layer4``, the last ViT
  block) and everything after it train, the earlier stages are frozen;
* ``all_but_classifier``  - for a composed net whose backbone keeps its own pretrained
  classifier (``features: logits``): only that classifier of the backbone and the head
  train (the InfiniteForm study's "unfrozen final fully-connected layer of ResNet-50").

Stages come from timm's ``group_matcher`` (the groups timm uses for layer-wise learning
rates), the last one being the group holding the backbone's last ``feature_info`` stage;
nets without a ``group_matcher`` (the classic nets, C3D) use their ``feature_info``
declaration order. Freezing goes through ``timm.utils.model.freeze`` on the frozen
sub-modules: with ``freeze_bn_stats=True`` (default) their BatchNorm layers become
``FrozenBatchNorm2d`` and stop updating running statistics in train mode; ``False`` keeps
them updating (a study that sets the whole model to train mode, as study 003 describes).
"""

from __future__ import annotations

import torch.nn as nn
from timm.models import group_parameters
from timm.utils.model import freeze as timm_freeze

from sports_rec.errors import ConfigError

POLICIES = ("none", "backbone", "all_but_last_stage", "all_but_classifier")


def _parameter_names(module: nn.Module, prefix: str = "") -> list[str]:
    return [f"{prefix}{name}" for name, _ in module.named_parameters()]


def _parts(model: nn.Module) -> tuple[nn.Module, str]:
    """(backbone, its prefix in ``model``): a composed net's ``backbone``, else the net."""
    backbone = getattr(model, "backbone", None)
    return (backbone, "backbone.") if isinstance(backbone, nn.Module) else (model, "")


def _classifier_names(module: nn.Module, prefix: str) -> set[str]:
    classifier = module.get_classifier() if hasattr(module, "get_classifier") else None
    if not isinstance(classifier, nn.Module):
        return set()
    ids = {id(p) for p in classifier.parameters()}
    return {f"{prefix}{n}" for n, p in module.named_parameters() if id(p) in ids}


def _last_stage_onward(backbone: nn.Module, prefix: str) -> set[str]:
    """Names of the backbone's last stage and of every parameter after it."""
    info = getattr(backbone, "feature_info", None)
    if not info:
        raise ConfigError(
            f"{type(backbone).__name__} declares no stages (feature_info), so "
            "'all_but_last_stage' cannot find its last one; use model.net.freeze=none or "
            "model.net.freeze=backbone"
        )
    last = info[-1]
    stage = str(last["module"] if isinstance(last, dict) else info.module_name()[-1])
    names = _parameter_names(backbone)
    matcher = getattr(backbone, "group_matcher", None)
    if callable(matcher):
        groups = list(group_parameters(backbone, matcher(coarse=True)).values())
        first = next(
            (i for i, group in enumerate(groups) if any(n.startswith(stage + ".") for n in group)),
            len(groups) - 1,
        )
        return {f"{prefix}{n}" for group in groups[first:] for n in group}
    start = next((i for i, n in enumerate(names) if n.startswith(stage + ".")), len(names))
    return {f"{prefix}{n}" for n in names[start:]}


def frozen_parameter_names(model: nn.Module, policy: str) -> set[str]:
    """The parameters ``policy`` freezes in ``model``."""
    if policy not in POLICIES:
        raise ConfigError(f"model.net.freeze must be one of {POLICIES}, got {policy!r}")
    if policy == "none":
        return set()
    backbone, prefix = _parts(model)
    backbone_names = set(_parameter_names(backbone, prefix))
    if policy == "all_but_classifier":
        if not prefix:
            raise ConfigError(
                "model.net.freeze=all_but_classifier needs a composed net whose backbone keeps "
                "its classifier (model.net.head=[...] with model.net.features=logits); for a "
                "plain net it is model.net.freeze=backbone"
            )
        keep = _classifier_names(backbone, prefix)
        if not keep:
            raise ConfigError(
                "model.net.freeze=all_but_classifier: the backbone has no classifier of its "
                "own; set model.net.features=logits"
            )
        return backbone_names - keep
    if policy == "backbone":
        # a plain net is its own backbone: everything but its classifier
        return backbone_names - (_classifier_names(model, "") if not prefix else set())
    return backbone_names - _last_stage_onward(backbone, prefix)


def _outermost_frozen_modules(model: nn.Module, frozen: set[str]) -> list[str]:
    """Names of the largest sub-modules all of whose parameters are frozen."""
    chosen: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(c + ".") for c in chosen):
            continue
        params = _parameter_names(module, f"{name}.")
        if params and all(p in frozen for p in params):
            chosen.append(name)
    return chosen


def apply_freeze(model: nn.Module, policy: str = "none", freeze_bn_stats: bool = True) -> nn.Module:
    """Freeze ``model`` by ``policy`` (in place) and return it."""
    frozen = frozen_parameter_names(model, policy)
    if not frozen:
        return model
    for name, param in model.named_parameters():
        if name in frozen:
            param.requires_grad = False
    modules = _outermost_frozen_modules(model, frozen)
    if modules:  # (timm freezes the whole model when given no sub-module at all)
        timm_freeze(model, modules, freeze_bn_stats)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(
            f"model.net.freeze={policy} left no trainable parameter in {type(model).__name__}"
        )
    return model
