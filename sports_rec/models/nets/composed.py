"""Nets composed of named parts: a backbone, optional extra input vectors, and an MLP head.

Studies add layers on top of a pretrained backbone ("a few additional layers" in study 000,
1-3 layer heads over image features and keypoints in study 003). :class:`FeatureClassifier`
builds exactly that: the backbone's pooled features (a timm model created with
``num_classes=0``), concatenated with any extra inputs (e.g. 51 keypoint values), into a
head built with ``torchvision.ops.MLP``. The parts are named ``backbone`` and ``head``, so
freeze policies act on them by name and never freeze the head or an extra input's path
with the backbone. :func:`init_head` re-draws a head's linear layers (``head_init``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
from torchvision.ops import MLP

from sports_rec.errors import ConfigError

HEAD_INITS = ("default", "he")


def check_head_init(head_init: str) -> str:
    """``head_init`` if it names a scheme of :data:`HEAD_INITS`, else a :class:`ConfigError`."""
    if head_init not in HEAD_INITS:
        raise ConfigError(
            f"model.net.head_init must be one of {', '.join(HEAD_INITS)}, got {head_init!r} "
            "(he: W ~ N(0, 2/fan_in) with zero biases; default: PyTorch's own init)"
        )
    return head_init


def init_head(head: nn.Module, head_init: str = "default") -> nn.Module:
    """Initialise every ``nn.Linear`` of ``head`` by the scheme ``head_init``.

    ``default`` leaves the layers as built (an MLP head: PyTorch's Kaiming-uniform with
    ``a=sqrt(5)``, weight variance 1/(3 fan_in); a timm classifier: timm's init) and draws
    nothing, so the weights are those of a net built without the option. ``he`` draws the
    weights from N(0, 2/fan_in), the He (Kaiming) normal init of study 000's eqs. (2) and
    (14), and sets the biases to zero (the study gives no bias init; zero is He et al.'s and
    Keras' ``Dense`` default).
    """
    check_head_init(head_init)
    if head_init == "he":
        for module in head.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
    return head


def mlp_head(
    in_features: int, widths: Sequence[int], num_classes: int, dropout: float = 0.0
) -> nn.Sequential:
    """``Linear -> ReLU -> Dropout`` per hidden width, then ``Linear(num_classes)``.

    torchvision's MLP also puts a Dropout after the last Linear, i.e. on the logits; no study
    does that, so it is removed. ``widths=()`` gives a single linear layer.
    """
    mlp = MLP(in_features, [*map(int, widths), int(num_classes)], dropout=float(dropout))
    if isinstance(mlp[-1], nn.Dropout):
        del mlp[-1]
    return mlp


class FeatureClassifier(nn.Module):
    """``head(concat(backbone(image), *extra inputs))``.

    Args:
        backbone: maps an image batch to pooled features; must have ``num_features`` (every
            timm model created with ``num_classes=0`` has).
        num_classes: outputs of the head.
        head: hidden widths of the MLP head (``()``: one linear layer).
        dropout: dropout after each hidden layer of the head.
        extra_inputs: ``{batch key: vector size}`` of inputs concatenated to the features,
            in this order (e.g. ``{"keypoints": 51}``); they become ``input_keys`` after
            ``image``.
        in_features: width of the backbone's output (default ``backbone.num_features``; a
            backbone that keeps its own classifier outputs ``num_classes`` values instead).
        extra_norm: standardise the extra inputs with a learned ``BatchNorm1d`` before the
            concatenation. Raw keypoints (pixels, or 0-1) sit beside image features of another
            scale, and a head trained for a few epochs may barely use them; study 003
            concatenated raw values (False).
        head_init: ``default`` (PyTorch's init) or ``he`` (N(0, 2/fan_in), zero biases) for
            the head's linear layers; see :func:`init_head`.
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        head: Sequence[int] = (),
        dropout: float = 0.0,
        extra_inputs: Mapping[str, int] | None = None,
        in_features: int | None = None,
        extra_norm: bool = False,
        head_init: str = "default",
    ) -> None:
        super().__init__()
        check_head_init(head_init)
        self.backbone = backbone
        self.extra_inputs = {str(k): int(v) for k, v in (extra_inputs or {}).items()}
        self.input_keys: tuple[str, ...] = ("image", *self.extra_inputs)
        self.num_classes = int(num_classes)
        width = int(in_features if in_features is not None else backbone.num_features)
        extra = sum(self.extra_inputs.values())
        self.extra_norm = nn.BatchNorm1d(extra) if extra_norm and extra else None
        self.head = init_head(mlp_head(width + extra, head, num_classes, dropout), head_init)

    def forward(self, image: torch.Tensor, *extras: torch.Tensor) -> torch.Tensor:
        features = self.backbone(image)
        if extras:
            extra = torch.cat([x.flatten(1).to(features.dtype) for x in extras], 1)
            if self.extra_norm is not None:
                extra = self.extra_norm(extra)
            features = torch.cat([features, extra], 1)
        return self.head(features)

    def get_classifier(self) -> nn.Module:
        return self.head

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """The backbone's stages, named from this module (for the freeze policies)."""
        info = getattr(self.backbone, "feature_info", None) or []
        return [{**dict(stage), "module": f"backbone.{stage['module']}"} for stage in info]

    def no_weight_decay(self) -> set[str]:
        inner = getattr(self.backbone, "no_weight_decay", None)
        return {f"backbone.{name}" for name in (inner() if callable(inner) else ())}
