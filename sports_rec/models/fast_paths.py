"""Speed-ups that keep the numbers (or, for mixed precision, the accuracy): the memory
format, ``torch.compile``, the fused optimizer step and bfloat16 on CPUs that compute it.

**channels_last.** Convolutions in NHWC (``channels_last``; ``channels_last_3d`` for clip
nets) let oneDNN on CPUs and cuDNN on GPUs skip layout conversions. Measured on this
project's CPU machines (one train step, 2 threads; ``benchmarks/overhead.py``): resnet10t
0.88x at 64 px (slower), 1.11x at 96, 1.23x at 112; mobilenetv2 1.23x at 64, 1.57x at 160;
resnet26d 1.16x at 96; resnet50 1.15x at 160; C3D 1.17-1.19x; ViT 1.06x (its only
convolution is the patch embedding). ``model.channels_last=auto`` (the default) therefore
turns it on for clip nets, and for image nets with at least :data:`MIN_CONVS` convolutions
at inputs of at least :data:`MIN_SIDE` pixels; ``true`` forces it for any convolutional
net, ``false`` keeps NCHW. The weights and the batches' spatial input are converted;
results match NCHW to float rounding.

**compile.** ``model.compile=true`` compiles the net's forward with ``torch.compile``
(Inductor; on a CPU it needs a C++ compiler). Compilation happens at the first batch; if
it fails there, or any later call fails inside the compiled code, the run warns once and
goes on with the eager net, which also re-raises any genuine error. The state dict is the
eager net's, so checkpoints do not depend on it.

**fused optimizer step.** On a CPU torch's Adam, AdamW and SGD default to a Python loop
over the parameter tensors (a dozen small kernels each); ``fused=True`` updates them in one
kernel per tensor group. Measured here (2 threads): AdamW's step 34 -> 2.4 ms for
resnet10t, 119 -> 16 ms for resnet50, about 7 % of a resnet10t train step at 112 px.
``optimizer.fused: auto`` (the project's optimizer configs) turns it on when the optimizer
class has the option, the parameters sit on a device with fused kernels, the config does
not pick ``foreach`` itself and the trainer does not clip gradients under mixed precision
(Lightning refuses that combination); ``true`` requires it, ``false`` keeps torch's loop. The
update is the same arithmetic: weights match the loop to float rounding.

**bfloat16 on CPUs.** CPUs with AMX or AVX512-BF16 (Intel Sapphire Rapids and later, AMD
Zen 4 and later) multiply bfloat16 natively through oneDNN. The default trainer's
``precision: ${auto_precision:...}`` therefore trains such CPUs in ``bf16-mixed`` (autocast:
convolutions and matmuls in bf16, weights, optimizer state, losses and metrics in fp32), and
every other CPU in ``32-true``, where emulated bf16 would be slower. Measured on a 2-core
AMX machine, one train step with channels_last, fp32 -> bf16-mixed: resnet10t 112 px
284 -> 138 ms, resnet50 224 px 972 -> 467 ms, mobilenetv2 160 px 632 -> 563 ms,
convnext_tiny 224 px 1178 -> 807 ms. ``trainer.precision=32-true`` keeps full fp32.
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from hydra.utils import get_class
from torch import nn

from sports_rec.errors import ConfigError
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)

#: Device types with torch's fused optimizer kernels (torch >= 2.4).
FUSED_DEVICES = ("cpu", "cuda", "xpu", "mps", "hpu")
MIN_CONVS = 4
MIN_SIDE = 96
SETTINGS = ("auto", True, False)


def _setting(value: Any, name: str = "model.channels_last") -> str | bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if value is None:
        value = False
    if value not in SETTINGS:
        raise ConfigError(f"{name} must be auto, true or false, got {value!r}")
    return value


def count_convs(net: nn.Module) -> tuple[int, int]:
    """Numbers of ``Conv2d`` and ``Conv3d`` layers in ``net``."""
    modules = list(net.modules())
    return (
        sum(isinstance(m, nn.Conv2d) for m in modules),
        sum(isinstance(m, nn.Conv3d) for m in modules),
    )


def channels_last_format(
    net: nn.Module, setting: Any, input_spec: Sequence[Mapping[str, Any]]
) -> torch.memory_format | None:
    """The memory format to train ``net`` in (None: the default NCHW); rule: module doc."""
    chosen = _setting(setting)
    if chosen is False:
        return None
    convs_2d, convs_3d = count_convs(net)
    if convs_3d:
        return torch.channels_last_3d
    if not convs_2d:
        if chosen is True:
            log.warning("model.channels_last=true, but the net has no convolution: ignored")
        return None
    if chosen == "auto":
        shape = list(input_spec[0]["shape"]) if input_spec else []
        side = min(shape[-2:]) if len(shape) >= 3 else 0
        if convs_2d < MIN_CONVS or side < MIN_SIDE:
            return None
    return torch.channels_last


def to_memory_format(tensor: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """``tensor`` in ``memory_format`` when it has the rank the format is for."""
    rank = 5 if memory_format == torch.channels_last_3d else 4
    return tensor.contiguous(memory_format=memory_format) if tensor.ndim == rank else tensor


def compiler_missing() -> str | None:
    """Why ``torch.compile`` cannot work on this machine's CPU, or None."""
    if torch.cuda.is_available():
        return None
    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        return "no C++ compiler on the PATH (Inductor needs one on CPU)"
    return None


class CompiledForward:
    """``net``'s forward through ``torch.compile``, falling back to eager (module doc)."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.compiled: Callable[..., torch.Tensor] | None = torch.compile(net)
        self.failed: str | None = None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(*inputs)
            except Exception as error:  # a compiler failure: the eager net decides
                self.failed = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
                self.compiled = None
                log.warning("torch.compile failed (%s); running the eager net", self.failed)
        return self.net(*inputs)


def compiled_forward(net: nn.Module, enabled: bool) -> CompiledForward | None:
    """A :class:`CompiledForward` of ``net`` when ``enabled`` and possible here."""
    if not enabled:
        return None
    reason = compiler_missing()
    if reason is not None:
        log.warning("model.compile=true ignored: %s; running the eager net", reason)
        return None
    return CompiledForward(net)


def resolve_fused(
    optimizer: Mapping[str, Any], device: torch.device, clips_mixed_precision: bool = False
) -> dict[str, Any]:
    """``optimizer`` (a Hydra partial config) with ``fused: auto|true|false`` made concrete
    for parameters on ``device`` (rule: module doc). Without a ``fused`` key it is returned
    unchanged: torch's default.

    ``clips_mixed_precision``: the trainer clips gradients under a mixed precision. Lightning
    then refuses fused optimizers (it assumes they unscale gradients inside the step, after
    its clipping), so ``auto`` keeps torch's loop and ``true`` is an error.
    """
    resolved = dict(optimizer)
    if "fused" not in resolved:
        return resolved
    chosen = _setting(resolved.pop("fused"), "optimizer.fused")
    target = resolved.get("_target_", "?")
    try:
        accepts = "fused" in inspect.signature(get_class(target)).parameters
    except Exception:  # an unimportable target fails at instantiate with Hydra's message
        return resolved
    if chosen is True and not accepts:
        raise ConfigError(
            f"optimizer.fused=true, but {target} has no fused step: set optimizer.fused=auto "
            "or false"
        )
    if chosen is True and device.type not in FUSED_DEVICES:
        raise ConfigError(
            f"optimizer.fused=true, but torch has no fused optimizer kernels on {device.type}: "
            "set optimizer.fused=auto or false"
        )
    if chosen is True and clips_mixed_precision:
        raise ConfigError(
            "optimizer.fused=true cannot be combined with trainer.gradient_clip_val under a "
            "mixed precision (Lightning refuses it): set optimizer.fused=auto or false"
        )
    if chosen == "auto":
        chosen = (
            accepts
            and device.type in FUSED_DEVICES
            and resolved.get("foreach") is None
            and not clips_mixed_precision
        )
    if accepts:
        resolved["fused"] = bool(chosen) or None  # None: torch's default (foreach or loop)
    return resolved
