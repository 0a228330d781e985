"""Classification losses selected by ``conf/loss`` (``ce``, ``label_smoothing``, ``focal``).

Every factory accepts ``class_weights`` (``null``, ``auto`` or an explicit list) and
``class_counts`` (filled in from the training split by the classifier), so
``loss.class_weights=auto`` works with every loss. ``auto`` weights are inverse class
frequencies scaled to average 1 over the present classes: ``w_c = N / (K * n_c)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from sports_rec.errors import ConfigError


def resolve_class_weights(
    class_weights: str | Sequence[float] | None, class_counts: Sequence[int] | None
) -> torch.Tensor | None:
    """Turn the ``class_weights`` option into a tensor (or None)."""
    if class_weights is None:
        return None
    if isinstance(class_weights, str):
        if class_weights != "auto":
            raise ConfigError(
                f"loss.class_weights must be null, auto or a list, got {class_weights!r}"
            )
        if not class_counts:
            raise ConfigError("loss.class_weights=auto needs the training class counts")
        counts = torch.as_tensor(class_counts, dtype=torch.float)
        present = counts > 0
        weights = torch.zeros_like(counts)
        weights[present] = counts[present].sum() / (present.sum() * counts[present])
        return weights
    weights = torch.as_tensor(list(class_weights), dtype=torch.float)
    if class_counts is not None and len(weights) != len(class_counts):
        raise ConfigError(
            f"loss.class_weights: {len(weights)} class weights given for "
            f"{len(class_counts)} classes"
        )
    return weights


def cross_entropy(
    class_weights: str | Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    class_counts: Sequence[int] | None = None,
) -> nn.CrossEntropyLoss:
    """Cross-entropy, optionally class-weighted and label-smoothed."""
    return nn.CrossEntropyLoss(
        weight=resolve_class_weights(class_weights, class_counts), label_smoothing=label_smoothing
    )


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al. 2017): ``-w_y (1 - p_y)^gamma log p_y``.

    The mean is weighted like ``nn.CrossEntropyLoss`` (divided by the sum of the sample
    weights), so ``gamma=0`` equals weighted cross-entropy exactly.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        class_weights: str | Sequence[float] | None = None,
        class_counts: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"loss.gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        weights = resolve_class_weights(class_weights, class_counts)
        self.register_buffer("weight", weights if weights is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
        loss = -((1.0 - log_p.exp()) ** self.gamma) * log_p
        if self.weight is None:
            return loss.mean()
        sample_weight = self.weight[target]
        return (sample_weight * loss).sum() / sample_weight.sum().clamp_min(1e-12)
