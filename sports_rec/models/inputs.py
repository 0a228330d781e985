"""The inputs a trained net takes, as a checkpoint records them (``metadata["input_spec"]``).

Each input is ``{"name", "shape" (one sample, no batch), "dtype"}``, e.g. ``image``
``[3, 224, 224]`` and ``keypoints`` ``[51]``: evaluate, predict, explain and export build
their inputs from it and need no dataset. Checkpoints written before the spec existed held
only ``channels`` and ``image_size``: :class:`~sports_rec.models.metadata.CheckpointMetadata`
derives their spec from those (one image input).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch


def spec_by_name(spec: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(entry["name"]): dict(entry) for entry in spec}


def input_sizes(spec: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, int]:
    """``{name: number of values per sample}`` of the named inputs (for extra-input nets)."""
    entries = spec_by_name(spec)
    missing = [n for n in names if n not in entries]
    if missing:
        from sports_rec.errors import ConfigError

        raise ConfigError(
            f"the net takes {missing}, but the data provides only {sorted(entries)}: use a "
            "data.dataset that yields them (e.g. KeypointImageDataset for keypoints)"
        )
    return {name: math.prod(entries[name]["shape"]) for name in names}


def example_inputs(
    spec: Sequence[Mapping[str, Any]], names: Sequence[str], batch: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Random float inputs of the spec's shapes (export traces and checks with them)."""
    entries = spec_by_name(spec)
    return [torch.randn(batch, *entries[name]["shape"], generator=generator) for name in names]
