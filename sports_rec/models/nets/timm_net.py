"""Image backbones from timm, with local weights, fast offline failure and freezing.

``create_timm_net`` is the ``_target_`` of every timm model config. It adds three things
timm leaves to the caller:

* ``weights=PATH`` loads a local checkpoint through ``pretrained_cfg_overlay`` (the head is
  re-initialised when the class count differs, as timm does for hub weights);
* ``pretrained=true`` without network fails in seconds with a message naming
  ``model.net.weights=PATH`` (huggingface_hub would otherwise retry for ~50 s). Whether the
  hub answers is asked through huggingface_hub's own HTTP client, so ``HF_ENDPOINT``,
  ``HF_HUB_OFFLINE`` and the proxy variables (``HTTPS_PROXY`` ...) mean what they mean for
  every other download on the machine;
* ``head=[widths]`` replaces timm's classifier by an MLP head on the pooled features
  (:class:`~sports_rec.models.nets.composed.FeatureClassifier`), as studies that add "a few
  layers" to a pretrained backbone do; ``head=null`` keeps timm's own classifier;
* ``head_init=he`` draws the head's linear weights from N(0, 2/fan_in) with zero biases
  (study 000's eqs. (2) and (14)); ``default`` keeps PyTorch's (timm's) init;
* ``freeze`` applies a freeze policy (see :mod:`sports_rec.models.freeze`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import timm
import torch.nn as nn

from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.models.freeze import apply_freeze
from sports_rec.models.nets.composed import FeatureClassifier, check_head_init, init_head


class PretrainedWeightsUnavailable(SportsRecError, RuntimeError):
    """ImageNet weights were requested but cannot be fetched or found in the cache."""


class WeightsFileNotFound(SportsRecError, FileNotFoundError):
    """``model.net.weights`` names no file."""


def hub_offline_requested() -> bool:
    """``HF_HUB_OFFLINE`` is set (read now, also when set after huggingface_hub's import)."""
    import huggingface_hub

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return flag or huggingface_hub.is_offline_mode()


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face endpoint answers an HTTP request within ``timeout`` s.

    Uses huggingface_hub's shared client (the one timm's downloads go through), so the
    endpoint, proxies and certificates are exactly those of a real download; any HTTP
    answer, even an error status, means the hub can be reached.
    """
    if hub_offline_requested():
        return False
    from huggingface_hub import constants, get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # any transport, proxy, TLS or offline-mode error: not reachable
        return False
    return True


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Make huggingface_hub use its local cache only (no retries against a dead network)."""
    import huggingface_hub.constants as hub_constants

    previous = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = previous


def create_timm_net(
    name: str,
    num_classes: int,
    in_chans: int = 3,
    pretrained: bool = False,
    weights: str | None = None,
    freeze: str = "none",
    freeze_bn_stats: bool = True,
    head: Sequence[int] | None = None,
    head_dropout: float = 0.0,
    features: str = "pooled",
    extra_inputs: dict[str, int] | None = None,
    extra_norm: bool = False,
    head_init: str = "default",
    **kwargs: Any,
) -> nn.Module:
    """Create ``timm.create_model(name)`` for ``num_classes`` classes.

    Args:
        name: any timm model name (``timm.list_models()``).
        num_classes: classifier outputs (set from the datamodule).
        in_chans: input channels (1 for grayscale; timm adapts pretrained stems).
        pretrained: load timm's default pretrained weights (network or HF cache).
        weights: local weights file (``.safetensors``/``.pth``/``.bin``); implies pretrained.
        freeze: a policy of :mod:`sports_rec.models.freeze` (``none``, ``backbone``,
            ``all_but_last_stage``, ``all_but_classifier``).
        freeze_bn_stats: frozen BatchNorm layers stop updating their running statistics
            (False: they keep updating in train mode).
        head: hidden widths of an MLP head on the backbone's features (``[]``: one linear
            layer); None keeps timm's classifier. Needed for ``extra_inputs``.
        head_dropout: dropout after each hidden layer of ``head``.
        features: what the head sees: ``pooled`` features (timm ``num_classes=0``) or the
            backbone's own pretrained ``logits`` (its classifier kept, e.g. ImageNet's 1000).
        extra_inputs: ``{name: size}`` of inputs concatenated to the features (filled in
            from the data's input spec when the config lists their names).
        extra_norm: standardise those inputs with a learned BatchNorm1d first.
        head_init: ``default`` keeps the init of PyTorch (the MLP head) or timm (its own
            classifier); ``he`` re-draws the linear layers of the head (``head``), or of timm's
            classifier (``head=null``), from N(0, 2/fan_in) with zero biases. A backbone's
            pretrained classifier under ``features=logits`` is left alone.
        **kwargs: forwarded to ``timm.create_model`` (``global_pool``, ``drop_rate`` ...).
    """
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        raise ConfigError(
            f"model.net.name={name} is not a timm model. Similar names: {close or 'none'}; "
            "list them all with: python -c \"import timm; print(timm.list_models('*resnet*'))\""
        )
    check_head_init(head_init)  # before the (slow) model creation
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsFileNotFound(
                f"model.net.weights={weights}: no such file. Give the path of a local "
                "weights file (.safetensors, .pth or .bin), or model.net.weights=null."
            )
        kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
        pretrained = True
        context: contextlib.AbstractContextManager = contextlib.nullcontext()
    elif pretrained and not hub_reachable():
        context = _hub_offline()
    else:
        context = contextlib.nullcontext()
    if features not in ("pooled", "logits"):
        raise ConfigError(f"model.net.features must be pooled or logits, got {features!r}")
    if head is None and (extra_inputs or features == "logits"):
        raise ConfigError(
            "model.net.extra_inputs and model.net.features=logits need a composed net: set "
            "model.net.head=[] (one linear layer) or a list of hidden widths"
        )
    if head is None:
        outputs: int | None = num_classes
    else:  # 0: pooled features; None: timm's default classifier (the pretrained one)
        outputs = 0 if features == "pooled" else None
    if outputs is not None:
        kwargs["num_classes"] = outputs
    try:
        with context:
            model = timm.create_model(name, pretrained=pretrained, in_chans=in_chans, **kwargs)
    except Exception as error:
        if not pretrained or weights:
            raise
        raise PretrainedWeightsUnavailable(
            f"could not load pretrained weights for timm model '{name}' "
            f"({type(error).__name__}: {error}).\n"
            "This machine cannot reach the Hugging Face hub and the weights are not cached. "
            "Download them elsewhere (e.g. the model.safetensors of the model's hub page) and "
            f"pass model.net.weights=PATH, or train from scratch with model.net.pretrained=false."
        ) from error
    if head is not None:
        width = model.num_features if features == "pooled" else model.num_classes
        model = FeatureClassifier(
            model,
            num_classes,
            head=list(head),
            dropout=head_dropout,
            extra_inputs=extra_inputs,
            in_features=int(width),
            extra_norm=extra_norm,
            head_init=head_init,
        )
    else:  # distilled timm models return (head, head_dist)
        classifier = model.get_classifier()
        for part in classifier if isinstance(classifier, tuple) else (classifier,):
            init_head(part, head_init)
    apply_freeze(model, freeze, freeze_bn_stats)
    return model
