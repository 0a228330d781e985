"""Size and cost of a net: parameters and GMACs per sample (shared by runs and benchmarks)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


def gmacs(net: nn.Module, inputs: Sequence[torch.Tensor]) -> float:
    """Multiply-accumulates (1e9) of one forward pass on ``inputs`` (torch's FLOP counter,
    MACs = FLOPs / 2), divided by the batch size: GMACs per sample."""
    counter = FlopCounterMode(display=False)
    was_training = net.training
    net.eval()
    try:
        with counter, torch.no_grad():
            net(*inputs)
    finally:
        net.train(was_training)
    return counter.get_total_flops() / 2 / 1e9 / max(1, int(inputs[0].shape[0]))
