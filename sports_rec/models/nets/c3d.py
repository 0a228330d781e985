"""The exercise-video study's C3D (seed 004), layer for layer as its README prints it.

Five blocks of 3x3x3 convolutions (padding 1, with bias), each convolution followed by
BatchNorm3d and ReLU; blocks 3-5 hold two convolutions. Max pooling (1,2,2) after block 1
keeps the 16 frames while halving the picture, then (2,2,2) after blocks 2-5. Global average
pooling feeds Dropout(0.5) -> Linear(512, 256) -> ReLU -> Dropout(0.3) -> Linear(256, classes).

Why these exact choices: with bias and one BatchNorm per convolution the parameter count is
the published 27,797,137 for 17 classes (BatchNorm once per block or bias-free convs give
different totals, see the study checklist), and floor-mode pools without padding give the
feature sizes the study's GradCAM shows for a 112 px clip (block3 14x14, block4 7x7,
block5 3x3; time 16 -> 16 -> 8 -> 4 -> 2 -> 1).

``width`` scales every channel count (64 = the study; 8 makes a net small enough for tests
on a CPU). The net follows timm's conventions (``num_classes``, ``in_chans``,
``get_classifier``, ``feature_info``) and consumes the batch's ``video`` entry
(``[N, C, T, H, W]``); the blocks are ``block1`` ... ``block5`` so GradCAM can target them.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from sports_rec.errors import ConfigError

MIN_FRAMES = 16  # four temporal halvings
MIN_SIDE = 32  # five spatial halvings
# (convolutions in the block, channel multiple of width, pool kernel = stride)
_BLOCKS: tuple[tuple[int, int, tuple[int, int, int]], ...] = (
    (1, 1, (1, 2, 2)),
    (1, 2, (2, 2, 2)),
    (2, 4, (2, 2, 2)),
    (2, 8, (2, 2, 2)),
    (2, 8, (2, 2, 2)),
)


def _block(in_chs: int, out_chs: int, convs: int, pool: tuple[int, int, int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            nn.Conv3d(in_chs if i == 0 else out_chs, out_chs, kernel_size=3, padding=1),
            nn.BatchNorm3d(out_chs),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.MaxPool3d(kernel_size=pool, stride=pool))
    return nn.Sequential(*layers)


class C3D(nn.Module):
    """The study's C3D for ``[N, in_chans, T, H, W]`` clips (16 x 112 x 112 in the study).

    Args:
        num_classes: outputs of the last linear layer (17 in the study).
        in_chans: input channels (3 for RGB).
        width: channels of block 1; blocks use 1, 2, 4, 8, 8 times this (64 = the study).
        dropout: dropout before the first head layer (0.5 in the study).
        head_dropout: dropout before the last head layer (0.3 in the study).
        head_hidden: width of the hidden head layer (256 in the study).
    """

    input_keys = ("video",)

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        width: int = 64,
        dropout: float = 0.5,
        head_dropout: float = 0.3,
        head_hidden: int = 256,
    ) -> None:
        super().__init__()
        if width < 1 or head_hidden < 1 or num_classes < 1:
            raise ConfigError(
                f"C3D needs width, head_hidden and num_classes >= 1, got width={width}, "
                f"head_hidden={head_hidden}, num_classes={num_classes}"
            )
        self.num_classes = num_classes
        self.in_chans = in_chans
        chs = in_chans
        self.feature_info: list[dict[str, int | str]] = []
        spatial = 1
        for index, (convs, multiple, pool) in enumerate(_BLOCKS, start=1):
            out_chs = width * multiple
            self.add_module(f"block{index}", _block(chs, out_chs, convs, pool))
            spatial *= pool[-1]
            self.feature_info.append(
                {"module": f"block{index}", "num_chs": out_chs, "reduction": spatial}
            )
            chs = out_chs
        self.num_features = chs
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(chs, head_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(p=head_dropout),
            nn.Linear(head_hidden, num_classes),
        )

    def blocks(self) -> list[nn.Module]:
        """``block1`` ... ``block5`` in order."""
        return [getattr(self, f"block{i}") for i in range(1, len(_BLOCKS) + 1)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Block 5's feature map ``[N, 8 * width, T/16, H/32, W/32]`` (floor sizes)."""
        if x.ndim != 5:
            raise ValueError(f"C3D expects clips [N, C, T, H, W], got shape {tuple(x.shape)}")
        frames, height, width = x.shape[-3:]
        if frames < MIN_FRAMES or min(height, width) < MIN_SIDE:
            # Four (2,2,2) pools and five spatial halvings need at least this much input;
            # below it PyTorch fails deep inside a pooling layer with no hint at the cause.
            raise ConfigError(
                f"C3D needs clips of at least {MIN_FRAMES} frames and {MIN_SIDE}x{MIN_SIDE} px, "
                f"got {frames} frames of {height}x{width}; raise the clip length or frame size"
            )
        for block in self.blocks():
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.forward_features(x)), 1))

    def get_classifier(self) -> nn.Module:
        return self.head[-1]
