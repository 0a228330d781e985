"""Image backbones from timm, with local weights, fast offline failure and freezing.

``create_timm_net`` is the ``_target_`` of every timm model config. It adds three things
timm leaves to the caller:

* ``weights=PATH`` loads a local checkpoint through ``pretrained_cfg_overlay`` (the head is
  re-initialised when the class count differs, as timm does for hub weights);
* ``pretrained=true`` without network fails in seconds with a message naming
  ``model.net.weights=PATH`` (huggingface_hub would otherwise retry for ~50 s);
* ``freeze`` applies a freeze policy (see :mod:`sports_rec.models.freeze`).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch.nn as nn

from sports_rec.errors import SportsRecError
from sports_rec.models.freeze import apply_freeze


class PretrainedWeightsUnavailable(SportsRecError, RuntimeError):
    """ImageNet weights were requested but cannot be fetched or found in the cache."""


def _hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub answers a TCP connect within ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


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
    **kwargs: Any,
) -> nn.Module:
    """Create ``timm.create_model(name)`` for ``num_classes`` classes.

    Args:
        name: any timm model name (``timm.list_models()``).
        num_classes: classifier outputs (set from the datamodule).
        in_chans: input channels (1 for grayscale; timm adapts pretrained stems).
        pretrained: load timm's default pretrained weights (network or HF cache).
        weights: local weights file (``.safetensors``/``.pth``/``.bin``); implies pretrained.
        freeze: ``none``, ``backbone`` (only the classifier trains) or ``all_but_last_stage``.
        **kwargs: forwarded to ``timm.create_model`` (``global_pool``, ``drop_rate`` ...).
    """
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model.net.weights={weights}: no such file")
        kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
        pretrained = True
        context: contextlib.AbstractContextManager = contextlib.nullcontext()
    elif pretrained and not _hub_reachable():
        context = _hub_offline()
    else:
        context = contextlib.nullcontext()
    try:
        with context:
            model = timm.create_model(
                name, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs
            )
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
    apply_freeze(model, freeze)
    return model
