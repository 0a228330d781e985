"""Freeze policies for transfer learning (``model.net.freeze``).

* ``none``               - everything trains;
* ``backbone``           - only the classifier (``get_classifier()``) trains: a linear probe;
* ``all_but_last_stage`` - the last feature stage (``feature_info[-1]``, e.g. ``layer4`` of a
  ResNet, the last ViT block) and everything registered after it (final norm, head) train.

The stage boundary comes from timm's ``feature_info``, so the policy works for any timm
model and for our own nets that declare ``feature_info``. BatchNorm layers whose
parameters are all frozen become ``FrozenBatchNorm2d``: a frozen layer must not keep
updating its running statistics in train mode.
"""

from __future__ import annotations

import torch.nn as nn
from timm.layers import freeze_batch_norm_2d

from sports_rec.errors import ConfigError

POLICIES = ("none", "backbone", "all_but_last_stage")


def _last_stage_name(model: nn.Module) -> str:
    info = getattr(model, "feature_info", None)
    if not info:
        raise ConfigError(
            f"{type(model).__name__} has no feature_info, so 'all_but_last_stage' cannot "
            "find its stages; use model.net.freeze=none or model.net.freeze=backbone"
        )
    last = info[-1]
    return last["module"] if isinstance(last, dict) else info.module_name()[-1]


def _freeze_batch_norms(model: nn.Module) -> None:
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.BatchNorm2d) and not any(
            p.requires_grad for p in module.parameters()
        ):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, freeze_batch_norm_2d(module))


def apply_freeze(model: nn.Module, policy: str = "none") -> nn.Module:
    """Set ``requires_grad`` according to ``policy`` (in place) and return ``model``."""
    if policy not in POLICIES:
        raise ConfigError(f"model.net.freeze must be one of {POLICIES}, got {policy!r}")
    if policy == "none":
        return model
    if policy == "backbone":
        if not hasattr(model, "get_classifier"):
            raise ConfigError(
                f"{type(model).__name__} has no get_classifier(), so freeze=backbone cannot find "
                "its classifier; use model.net.freeze=none"
            )
        keep = {id(p) for p in model.get_classifier().parameters()}
        for param in model.parameters():
            param.requires_grad = id(param) in keep
    else:
        stage = _last_stage_name(model)
        trainable = False
        for name, param in model.named_parameters():
            if name.startswith(stage + "."):
                trainable = True
            param.requires_grad = trainable
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(
            f"model.net.freeze={policy} left no trainable parameter in {type(model).__name__}"
        )
    _freeze_batch_norms(model)
    return model
