"""The app's models: each checkpoint loaded once (safe loading, :mod:`sports_rec.checkpoint`),
moved to the chosen device and paired with what serves it (:mod:`.kinds`, by modality).

A checkpoint that cannot be loaded (missing, not a checkpoint, asking to run code, of a
modality the app has no view for) becomes a :class:`FailedModel` whose message the page
shows; only when none loads does the command stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate

from sports_rec.checkpoint import load_classifier
from sports_rec.errors import ConfigError, SportsRecError
from sports_rec.modalities import (
    ImageModality,
    KeypointImageModality,
    Modality,
    VideoClipModality,
    modality_for,
)
from sports_rec.models.classifier import Classifier
from sports_rec.models.metadata import CheckpointMetadata
from sports_rec.serving.clips import ClipKind
from sports_rec.serving.images import ImageKind, KeypointImageKind
from sports_rec.serving.kinds import Kind, kind_for, register_kind
from sports_rec.serving.sources import CheckpointSource

for _modality, _kind in (
    (ImageModality, ImageKind()),
    (KeypointImageModality, KeypointImageKind()),
    (VideoClipModality, ClipKind()),
):
    register_kind(_modality, _kind)


class NoModelLoaded(SportsRecError):
    """Not one of the checkpoints could be loaded: there is nothing to serve."""


def check_device(name: str) -> torch.device:
    """``cpu`` (the default), ``cuda`` / ``cuda:N`` where there is such a GPU, else an error."""
    text = str(name or "cpu").strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text.startswith("cuda"):
        try:
            device = torch.device(text)
        except RuntimeError as error:
            raise ConfigError(f"device={name!r} is not a device name ({error})") from None
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name!r}, but no CUDA GPU is visible here: use device=cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device={name!r}, but only {torch.cuda.device_count()} CUDA GPU(s) are visible"
            )
        return device
    raise ConfigError(f"device={name!r} is not supported: use cpu or cuda (cuda:N)")


@dataclass(eq=False)
class ServedModel:
    """One loaded checkpoint and what the page needs to run it."""

    name: str
    source: CheckpointSource
    model: Classifier
    modality: Modality
    kind: Kind
    metadata: CheckpointMetadata
    transform: Any  # the checkpoint's eval transform
    device: torch.device

    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_names)

    @property
    def takes(self) -> str:
        """``image`` or ``video``: what a user gives this model (its tab)."""
        return self.kind.takes

    def runner(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Logits (on the CPU) of float inputs in ``input_keys`` order, run on the device:
        the checkpoint's net as ``predict`` runs it (:func:`~sports_rec.models.runners.
        pytorch_runner`), wherever the model lives."""
        with torch.inference_mode():
            batch = {
                key: tensor.to(self.device)
                for key, tensor in zip(self.model.input_keys, inputs, strict=True)
            }
            return self.model(batch).float().cpu()

    def describe(self) -> str:
        """One line: name, modality, classes, checkpoint."""
        classes = len(self.class_names)
        return (
            f"{self.name}: {self.modality.name} model, {classes} classes "
            f"({self.metadata.dataset}), {self.source.path}"
        )


@dataclass
class FailedModel:
    """A checkpoint that could not be served, and why."""

    name: str
    source: CheckpointSource
    message: str


def error_message(error: BaseException) -> str:
    """An expected error's message; anything else as ``Type: first line``."""
    if isinstance(error, SportsRecError):
        return str(error)
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def load_model(source: CheckpointSource, device: torch.device) -> ServedModel:
    """Load one checkpoint (raises the loading error: see :func:`load_models`)."""
    if source.path is None:
        raise ConfigError(source.problem or "no checkpoint")
    model = load_classifier(source.path).to(device).eval()
    modality = modality_for(model.input_keys)
    metadata = CheckpointMetadata.of(model)
    return ServedModel(
        name=source.name or source.path.name,
        source=source,
        model=model,
        modality=modality,
        kind=kind_for(modality),
        metadata=metadata,
        transform=instantiate(metadata.eval_transform),
        device=device,
    )


def load_models(
    sources: list[CheckpointSource], device: torch.device
) -> tuple[list[ServedModel], list[FailedModel]]:
    """Every source loaded once; the ones that fail are returned with their message (an
    unexpected error, a net whose weights do not fit its config, with its type and first
    line). Raises :class:`NoModelLoaded` when none loads."""
    served: list[ServedModel] = []
    failed: list[FailedModel] = []
    for source in sources:
        try:
            served.append(load_model(source, device))
        except Exception as error:
            failed.append(FailedModel(source.name, source, error_message(error)))
    if not served:
        details = "\n".join(f"  {f.name}: {f.message}" for f in failed)
        raise NoModelLoaded(f"no checkpoint could be loaded, nothing to serve:\n{details}")
    return served, failed
