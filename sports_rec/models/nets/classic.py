"""LeNet and AlexNet exactly as the workout study (seed 002) describes them.

Layer for layer as printed in the study (kernel sizes, strides, padding, pooling, ReLU,
dropout), with two generalisations: any number of input channels (the study used 1 for
grayscale) and any input size. The first linear layer's width is derived from a dummy
forward pass instead of hard-coded: the study's 33,856 (LeNet) corresponds to 200 px
input and 6,400 (AlexNet) to 224 px; both are checked in the tests.

The nets follow timm's conventions (``num_classes``, ``in_chans``, ``get_classifier``,
``feature_info``) so the freeze policies and export treat them like any
timm model.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from sports_rec.errors import ConfigError
from sports_rec.models.freeze import apply_freeze


def _flat_features(
    features: nn.Module, in_chans: int, image_size: int, name: str, min_size: int
) -> int:
    if image_size < min_size:
        raise ConfigError(
            f"{name} needs inputs of at least {min_size} px, got data.image_size={image_size}"
        )
    with torch.no_grad():
        out = features(torch.zeros(1, in_chans, image_size, image_size))
    return int(out.flatten(1).shape[1])


class _ClassicNet(nn.Module):
    features: nn.Sequential
    classifier: nn.Sequential

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]


class LeNet(_ClassicNet):
    """The study's LeNet: 11x11 conv (6) + avg-pool, 5x5 conv (16) + avg-pool, FC 120-84,
    dropout 0.6, FC to the classes; ReLU activations."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        image_size: int = 200,
        dropout: float = 0.6,
        freeze: str = "none",
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, kernel_size=11, padding=2), nn.ReLU(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
            nn.AvgPool2d(kernel_size=2, stride=2),
        )  # fmt: skip
        width = _flat_features(self.features, in_chans, image_size, "LeNet", min_size=18)
        self.classifier = nn.Sequential(
            nn.Linear(width, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(84, num_classes),
        )  # fmt: skip
        self.feature_info = [
            {"module": "features.0", "num_chs": 6, "reduction": 2},
            {"module": "features.3", "num_chs": 16, "reduction": 4},
        ]
        apply_freeze(self, freeze)


class AlexNet(_ClassicNet):
    """The study's AlexNet: 11x11/4 conv (96) + max-pool, 5x5 conv (256) + max-pool, three
    3x3 convs (384, 384, 256) + max-pool, FC 4096-4096 with dropout 0.5, FC to the classes."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        image_size: int = 224,
        dropout: float = 0.5,
        freeze: str = "none",
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )  # fmt: skip
        width = _flat_features(self.features, in_chans, image_size, "AlexNet", min_size=65)
        self.classifier = nn.Sequential(
            nn.Linear(width, 4096), nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )  # fmt: skip
        self.feature_info = [
            {"module": "features.3", "num_chs": 256, "reduction": 8},
            {"module": "features.10", "num_chs": 256, "reduction": 32},
        ]
        apply_freeze(self, freeze)
