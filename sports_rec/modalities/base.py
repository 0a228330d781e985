"""A modality: everything the entry points do differently for one kind of input.

``train``, ``evaluate`` and ``export`` are generic over the checkpoint's ``input_spec``;
``predict`` (how raw user input becomes predictions) and ``explain`` (how an attribution
is drawn over an input, and a long-sample mode) are not. A :class:`Modality` holds those
parts for the checkpoints it :meth:`~Modality.serves` (by the net's ``input_keys``), and the
entry points ask :func:`sports_rec.modalities.modality_for` instead of branching on input
names. The dataset of a modality is a config node (``data.dataset``) bound by the
contract in :mod:`sports_rec.data.contract`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from omegaconf import DictConfig

from sports_rec.errors import ConfigError
from sports_rec.models.classifier import Classifier
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.models.runners import Runner


@dataclass
class PredictJob:
    """One ``predict`` call: the config, the checkpoint's model and what computes its logits
    (the model in PyTorch, or an exported file with the same inputs)."""

    cfg: DictConfig
    model: Classifier
    runner: Runner
    transform: Callable[[Any], Any] | None  # the checkpoint's eval transform
    source: str  # what computed the logits, for the summary line

    @property
    def metadata(self) -> CheckpointMetadata:
        return CheckpointMetadata.of(self.model)


@dataclass
class ExplainedSample:
    """One explained sample, for :meth:`Modality.draw_explanation` to draw."""

    folder: Path  # <run>/explanations
    stem: str  # a file-name stem for this sample
    inputs: dict[str, torch.Tensor]  # this sample's inputs (no batch dimension)
    attribution: np.ndarray  # the map over the spatial input
    joints: np.ndarray | None  # per-joint attribution (image + keypoints nets)
    keypoint_share: float | None
    row: dict[str, Any]  # the explanations.csv row so far (true, pred, prob, target ...)
    probs: np.ndarray  # class probabilities of the sample
    true_id: int
    display: tuple[list[float], list[float]]  # mean, std that undo the normalisation
    class_names: list[str]
    dataset: Any
    cfg: DictConfig


class Modality(ABC):
    """The modality-specific parts of predict and explain (see the module docstring)."""

    name: ClassVar[str]
    spatial_input: ClassVar[str] = "image"  # the input attribution maps are drawn over
    default_explain_method: ClassVar[str] = "saliency"

    @abstractmethod
    def serves(self, input_keys: Sequence[str]) -> bool:
        """Whether checkpoints whose net takes ``input_keys`` are of this modality."""

    @abstractmethod
    def predict(self, job: PredictJob) -> dict[str, Any]:
        """Turn ``job.cfg.input`` into samples, predict them, write and print the results."""

    def draw_explanation(self, item: ExplainedSample) -> dict[str, Any]:
        """Draw one explained sample; returns the fields it adds to its CSV row (``file``)."""
        raise ConfigError(
            f"explain cannot draw {self.name} inputs: this modality defines no draw_explanation"
        )

    def explain_long_sample(self, cfg: DictConfig, model: Classifier, dataset: Any, method: str):
        """``long_sample.enabled=true``: a long stretch of one input (clip models)."""
        raise ConfigError(
            f"long_sample.enabled=true explains a stretch of a video with a clip model; this "
            f"checkpoint takes {self.name} inputs"
        )


_REGISTRY: list[Modality] = []


def register_modality(modality: Modality) -> Modality:
    """Make ``modality`` serve the checkpoints it claims; later registrations are asked first,
    so a project can replace a built-in modality. Returns it (usable as a decorator's end)."""
    if modality not in _REGISTRY:
        _REGISTRY.insert(0, modality)
    return modality


def unregister_modality(modality: Modality) -> None:
    """Undo :func:`register_modality` (tests, plugins that clean up)."""
    if modality in _REGISTRY:
        _REGISTRY.remove(modality)


def registered_modalities() -> list[Modality]:
    return list(_REGISTRY)


def modality_for(input_keys: Sequence[str]) -> Modality:
    """The registered modality serving a net that takes ``input_keys``."""
    keys = tuple(input_keys)
    for modality in _REGISTRY:
        if modality.serves(keys):
            return modality
    names = ", ".join(m.name for m in _REGISTRY) or "none"
    raise ConfigError(
        f"no modality serves a net that takes {list(keys)} (registered: {names}); register "
        "one with sports_rec.modalities.register_modality"
    )
