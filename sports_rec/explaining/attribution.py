"""Attribution methods: which input values a prediction depends on.

Every method explains one class score per sample (the *target*: the predicted class by
default) and returns a map over the image (``[H, W]``) or the clip (``[T, H, W]``) scaled
to 0-1 per sample for display, plus, for nets that also take keypoints, each joint's
attribution and the keypoints' share of the total:

* ``saliency`` - vanilla gradients, ``|d score / d input|`` (the study's definition, seed
  003), reduced over colour channels by the maximum (Simonyan et al.'s choice: a pixel
  matters if any of its channels does). The keypoints' share compares the summed absolute
  gradients of the two inputs.
* ``gradcam``, ``gradcam++`` - pytorch-grad-cam on the layer :mod:`.targets` picks (an
  image net's last stage, a ViT's last block, a C3D block: a map over time as well). Only
  the image or clip is explained; the keypoints' share is not defined.
* ``integrated_gradients`` - captum's, from an all-zero baseline of every input (in the
  normalised input space: the dataset's mean colour, and keypoints at the origin with zero
  visibility), ``steps`` Riemann steps. Attributions over all inputs add up to
  ``score(x) - score(baseline)`` up to the reported convergence delta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sports_rec.data.keypoints import NUM_KEYPOINTS
from sports_rec.errors import ConfigError
from sports_rec.explaining.targets import CamTarget, cam_target
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

METHODS = ("saliency", "gradcam", "gradcam++", "integrated_gradients")
#: The input whose values are drawn as a map; any other input (keypoints) is a vector.
SPATIAL_INPUTS = ("image", "video")


@dataclass
class Attribution:
    """Attributions of a batch (see the module docstring).

    Attributes:
        maps: ``[N, H, W]`` or ``[N, T, H, W]`` float in 0-1 (per-sample maximum 1).
        raw: the unscaled attribution of each input (``{name: tensor like the input}``;
            GradCAM: only the map).
        joints: ``[N, J]`` per-joint absolute attribution (keypoint nets), else None.
        keypoint_share: ``[N]`` keypoints' share of the total absolute attribution.
        delta: ``[N]`` integrated gradients' convergence delta, else None.
        layer: the GradCAM layer's name, else None.
    """

    maps: np.ndarray
    raw: dict[str, torch.Tensor]
    joints: np.ndarray | None = None
    keypoint_share: np.ndarray | None = None
    delta: np.ndarray | None = None
    layer: str | None = None


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is unknown; choose one of {', '.join(METHODS)}")
    return method


def _spatial_key(keys: Sequence[str]) -> str:
    for key in keys:
        if key in SPATIAL_INPUTS:
            return key
    raise ConfigError(f"this net takes {list(keys)}: no image or video input to explain")


def _unit_scale(values: np.ndarray) -> np.ndarray:
    """Each sample divided by its maximum (all-zero samples stay zero)."""
    flat = values.reshape(len(values), -1)
    peak = flat.max(axis=1).reshape(-1, *([1] * (values.ndim - 1)))
    return np.where(peak > 0, values / np.where(peak > 0, peak, 1), 0.0).astype(np.float32)


def _channel_max(attribution: torch.Tensor) -> np.ndarray:
    """``[N, C, (T,) H, W]`` -> ``[N, (T,) H, W]``: maximum of the absolute values over C."""
    return attribution.detach().abs().amax(dim=1).cpu().numpy()


def _keypoint_summary(
    raw: dict[str, torch.Tensor], spatial: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-joint attribution (``|a|`` summed over x, y, visibility) and the keypoints'
    share of the total absolute attribution, when the net takes keypoints."""
    if "keypoints" not in raw:
        return None, None
    values = raw["keypoints"].detach().abs()
    points = values.reshape(len(values), NUM_KEYPOINTS, -1).sum(dim=2)  # (x, y[, v]) per joint
    image = raw[spatial].detach().abs().reshape(len(points), -1).sum(dim=1)
    share = points.sum(dim=1) / (points.sum(dim=1) + image).clamp_min(1e-12)
    return points.cpu().numpy(), share.cpu().numpy()


def _score(net: nn.Module, inputs: Sequence[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    logits = net(*inputs)
    return logits.gather(1, targets.view(-1, 1)).sum()


def saliency(
    net: nn.Module, inputs: dict[str, torch.Tensor], keys: Sequence[str], targets: torch.Tensor
) -> Attribution:
    """Vanilla gradients of the target scores with respect to every input."""
    leaves = [inputs[k].detach().clone().requires_grad_(True) for k in keys]
    with torch.enable_grad():
        grads = torch.autograd.grad(_score(net, leaves, targets), leaves)
    raw = dict(zip(keys, grads, strict=True))
    spatial = _spatial_key(keys)
    joints, share = _keypoint_summary(raw, spatial)
    return Attribution(_unit_scale(_channel_max(raw[spatial])), raw, joints, share)


class _ExtrasFixed(nn.Module):
    """``net`` as a one-input module (pytorch-grad-cam's interface): the image or clip is
    the argument, the sample's other inputs (keypoints) are held fixed."""

    def __init__(self, net: nn.Module, extras: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self.extras = list(extras)

    def forward(self, spatial: torch.Tensor) -> torch.Tensor:
        return self.net(spatial, *self.extras)


def gradcam(
    net: nn.Module,
    inputs: dict[str, torch.Tensor],
    keys: Sequence[str],
    targets: torch.Tensor,
    plus_plus: bool = False,
    layer: str | None = None,
) -> Attribution:
    """GradCAM (or GradCAM++) maps of the target classes, upsampled to the input size."""
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    spatial = _spatial_key(keys)
    if keys[0] != spatial:
        raise ConfigError(f"GradCAM needs the {spatial} as the net's first input; it takes {keys}")
    target: CamTarget = cam_target(net, layer)
    wrapped = _ExtrasFixed(net, [inputs[k] for k in keys[1:]])
    method = GradCAMPlusPlus if plus_plus else GradCAM
    cam = method(model=wrapped, target_layers=[target.layer], reshape_transform=target.reshape)
    # Frozen layers have no parameter gradients; a gradient on the input keeps the graph
    # (and so the hooked activations' gradients) alive whatever the freeze policy.
    cam.compute_input_gradient = True
    try:
        with torch.enable_grad():
            maps = cam(
                input_tensor=inputs[spatial].detach().clone(),
                targets=[ClassifierOutputTarget(int(t)) for t in targets],
            )
    finally:
        cam.activations_and_grads.release()
    maps = np.nan_to_num(np.asarray(maps, np.float32))
    if not maps.any():
        log.warning(
            "The %s maps of layer %s are flat: its output is probably 1 pixel wide at this "
            "input size. Choose an earlier layer with layer=<module name>.",
            "GradCAM++" if plus_plus else "GradCAM",
            target.name,
        )
    return Attribution(_unit_scale(maps), {spatial: torch.from_numpy(maps)}, layer=target.name)


def integrated_gradients(
    net: nn.Module,
    inputs: dict[str, torch.Tensor],
    keys: Sequence[str],
    targets: torch.Tensor,
    steps: int = 32,
) -> Attribution:
    """captum's integrated gradients over every input at once (zero baselines)."""
    from captum.attr import IntegratedGradients

    explainer = IntegratedGradients(lambda *xs: net(*xs))
    tensors = tuple(inputs[k].detach() for k in keys)
    with torch.enable_grad():
        attributions, delta = explainer.attribute(
            tensors,
            baselines=tuple(torch.zeros_like(t) for t in tensors),
            target=targets,
            n_steps=int(steps),
            internal_batch_size=max(1, int(steps)),
            return_convergence_delta=True,
        )
    if isinstance(attributions, torch.Tensor):
        attributions = (attributions,)
    raw = dict(zip(keys, attributions, strict=True))
    spatial = _spatial_key(keys)
    joints, share = _keypoint_summary(raw, spatial)
    return Attribution(
        _unit_scale(_channel_max(raw[spatial])),
        raw,
        joints,
        share,
        delta=delta.detach().cpu().numpy(),
    )


def attribute(
    net: nn.Module,
    inputs: dict[str, torch.Tensor],
    keys: Sequence[str],
    targets: torch.Tensor,
    method: str,
    layer: str | None = None,
    steps: int = 32,
) -> Attribution:
    """Explain ``targets`` (class ids, one per sample) of a batch with ``method``."""
    check_method(method)
    net.eval()
    if method == "saliency":
        return saliency(net, inputs, keys, targets)
    if method in ("gradcam", "gradcam++"):
        return gradcam(net, inputs, keys, targets, plus_plus=method == "gradcam++", layer=layer)
    return integrated_gradients(net, inputs, keys, targets, steps=steps)
