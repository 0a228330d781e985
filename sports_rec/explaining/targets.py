"""Which layer GradCAM reads, and how its activations become a spatial map.

GradCAM weights a layer's activation maps by their pooled gradients, so it needs a layer
whose output is still spatial: the last feature stage of a CNN (timm's ``feature_info``,
the same list the freeze policies use), the last convolution of LeNet/AlexNet, a chosen
``block3|4|5`` of C3D (``[N, C, T, H, W]`` activations: the map is a video), or, for a
Vision Transformer, the last block's first LayerNorm with its tokens folded back into the
patch grid (the class and register tokens dropped), pytorch-grad-cam's recipe for ViTs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from sports_rec.errors import ConfigError, SportsRecError


class MethodNotApplicable(SportsRecError, ValueError):
    """The chosen explanation method cannot be used with this net."""


@dataclass
class CamTarget:
    """The layer GradCAM hooks and the transform of its output into ``[N, C, (T,) H, W]``."""

    name: str
    layer: nn.Module
    reshape: Callable[[torch.Tensor], torch.Tensor] | None = None


def find_vit(net: nn.Module) -> nn.Module | None:
    """The timm VisionTransformer inside ``net`` (itself, or a composed net's backbone)."""
    from timm.models.vision_transformer import VisionTransformer

    for module in (net, getattr(net, "backbone", None)):
        if isinstance(module, VisionTransformer):
            return module
    return None


def vit_reshape(vit: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Tokens ``[N, prefix + h*w, C]`` -> ``[N, C, h, w]`` on ``vit``'s patch grid."""
    height, width = (int(s) for s in vit.patch_embed.grid_size)
    prefix = int(getattr(vit, "num_prefix_tokens", 1))

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        grid = tokens[:, prefix:, :].reshape(tokens.size(0), height, width, tokens.size(2))
        return grid.permute(0, 3, 1, 2)

    return reshape


def cam_target(net: nn.Module, layer: str | None = None) -> CamTarget:
    """The GradCAM target of ``net``: ``layer`` (a module name such as ``block4`` or
    ``backbone.layer3``) or the default described in the module docstring."""
    vit = find_vit(net)
    if layer:
        try:
            module = net.get_submodule(layer)
        except AttributeError as error:
            stages = [str(s["module"]) for s in getattr(net, "feature_info", []) or []]
            raise ConfigError(
                f"layer={layer!r} is not a module of this net; its feature stages are "
                f"{stages or 'unnamed'} (any name of net.named_modules() works)"
            ) from error
        return CamTarget(layer, module, vit_reshape(vit) if vit is not None else None)
    if vit is not None:
        prefix = "backbone." if vit is not net else ""
        return CamTarget(f"{prefix}blocks.{len(vit.blocks) - 1}.norm1", vit.blocks[-1].norm1,
                         vit_reshape(vit))  # fmt: skip
    stages = list(getattr(net, "feature_info", None) or [])
    if hasattr(stages, "get_dicts"):  # timm's FeatureInfo
        stages = stages.get_dicts()
    if not stages:
        raise MethodNotApplicable(
            f"GradCAM needs a convolutional or attention stage, and {type(net).__name__} "
            "declares none (no feature_info): use method=saliency or integrated_gradients"
        )
    name = "block4" if hasattr(net, "block4") and isinstance(net.block4, nn.Module) else None
    name = name or str(stages[-1]["module"])
    return CamTarget(name, net.get_submodule(name))
