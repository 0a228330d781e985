"""What a checkpoint knows about its data, as one typed object.

A sports_rec checkpoint stores ``metadata`` in its ``hyper_parameters`` as plain
containers (safe loading accepts nothing else): the dataset's name, the class names and
counts, the input channels and size, every input's spec, and the data and transform
configs the run was built with. :class:`CheckpointMetadata` is that dict read once, with
the defaults of older checkpoints in one place (``channels`` 3, ``image_size`` 224, an
input spec derived from them), so evaluate, predict, explain and export read fields, not
``metadata.get("channels", 3)`` scattered over the entry points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_CHANNELS = 3
DEFAULT_IMAGE_SIZE = 224


@dataclass(frozen=True)
class CheckpointMetadata:
    """A checkpoint's data metadata (see the module docstring)."""

    class_names: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    transforms: dict[str, Any] = field(default_factory=dict)
    dataset: str = "?"
    class_counts: list[int] | None = None
    channels: int = DEFAULT_CHANNELS
    image_size: int = DEFAULT_IMAGE_SIZE
    input_spec: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, metadata: Mapping[str, Any]) -> CheckpointMetadata:
        """Read the stored dict; keys a checkpoint of an older version lacks get defaults."""
        channels = int(metadata.get("channels") or DEFAULT_CHANNELS)
        image_size = int(metadata.get("image_size") or DEFAULT_IMAGE_SIZE)
        spec = [dict(entry) for entry in metadata.get("input_spec") or []] or [
            {"name": "image", "shape": [channels, image_size, image_size], "dtype": "torch.float32"}
        ]
        counts = metadata.get("class_counts")
        return cls(
            class_names=[str(name) for name in metadata["class_names"]],
            data=dict(metadata.get("data") or {}),
            transforms=dict(metadata.get("transforms") or {}),
            dataset=str(metadata.get("dataset") or "?"),
            class_counts=None if counts is None else [int(c) for c in counts],
            channels=channels,
            image_size=image_size,
            input_spec=spec,
        )

    @classmethod
    def of(cls, model: Any) -> CheckpointMetadata:
        """The metadata of a loaded :class:`~sports_rec.models.classifier.Classifier`."""
        return cls.from_dict(model.hparams.metadata)

    def to_dict(self) -> dict[str, Any]:
        """Plain containers, as the checkpoint stores them."""
        return asdict(self)

    @property
    def eval_transform(self) -> Any:
        """The config of the deterministic evaluation transform (None if there is none)."""
        return self.transforms.get("eval")
