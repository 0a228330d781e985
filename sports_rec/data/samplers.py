"""Training samplers that rebalance classes, deterministic by seed and correct under DDP.

One sampler class covers every ``conf/sampler`` option:

* ``shuffle``    - a plain permutation of the training set;
* ``weighted``   - ``num_samples`` draws with replacement, probability proportional to the
  inverse frequency of the sample's class (each class is drawn about equally often);
* ``downsample`` - classes with more samples than the median class are reduced to the
  median (a fresh random subset each epoch); the other classes are kept whole;
* ``balanced``   - every class is brought to the same count (``target``: ``median``,
  ``min``, ``max`` or an int), undersampling large and oversampling small classes.

It subclasses :class:`~torch.utils.data.DistributedSampler`, so Lightning does not wrap it
again: every rank draws the *same* epoch list from ``seed + epoch`` and keeps its own
stride of it, so the ranks see disjoint shares that together cover the epoch. Lightning
calls :meth:`set_epoch` before each epoch. Each draw is yielded as ``(index, draw_seed)``:
the dataset augments the sample under that seed, so an epoch's augmentations depend on
``(seed, epoch)`` alone (see :mod:`sports_rec.utils.seeding`).

Evaluation is different: every sample must count exactly once. Lightning's default
``DistributedSampler`` pads the last shard with repeated samples (19 test images on 2
ranks become 20); :class:`UnpaddedDistributedSampler` gives ranks shares of unequal size
instead, which is safe because evaluation synchronises only at epoch end (torchmetrics).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from sports_rec.errors import ConfigError
from sports_rec.utils.seeding import derive_seed

STRATEGIES = ("shuffle", "weighted", "downsample", "balanced")
DRAW_STREAM = 1  # derive_seed key of the per-draw augmentation seeds


def _target_count(counts: np.ndarray, target: str | int) -> int:
    present = counts[counts > 0]
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    if target == "median":
        return int(np.median(present))
    if target == "min":
        return int(present.min())
    if target == "max":
        return int(present.max())
    raise ConfigError(f"sampler.target must be median, min, max or an int, got {target!r}")


def epoch_indices(
    labels: Sequence[int],
    strategy: str,
    generator: torch.Generator,
    target: str | int = "median",
    num_samples: int | None = None,
) -> list[int]:
    """One epoch of dataset indices under ``strategy`` (before sharding across ranks)."""
    labels_t = torch.as_tensor(labels, dtype=torch.long)
    n = len(labels_t)
    if strategy == "shuffle":
        return torch.randperm(n, generator=generator).tolist()
    counts = np.bincount(labels_t.numpy())
    if strategy == "weighted":
        weights = 1.0 / torch.as_tensor(counts, dtype=torch.double)[labels_t]
        draws = num_samples or n
        return torch.multinomial(weights, draws, replacement=True, generator=generator).tolist()
    if strategy not in STRATEGIES:
        raise ConfigError(f"sampler.strategy must be one of {STRATEGIES}, got {strategy!r}")
    cap = _target_count(counts, target if strategy == "balanced" else "median")
    chosen: list[torch.Tensor] = []
    for cls in np.flatnonzero(counts):
        members = torch.nonzero(labels_t == int(cls)).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        if len(members) >= cap:
            chosen.append(members[:cap])
        elif strategy == "downsample":
            chosen.append(members)
        else:  # balanced: oversample the minority class with replacement
            extra = torch.randint(len(members), (cap - len(members),), generator=generator)
            chosen.append(torch.cat([members, members[extra]]))
    indices = torch.cat(chosen)
    return indices[torch.randperm(len(indices), generator=generator)].tolist()


class ResamplingSampler(DistributedSampler):
    """Per-epoch (re)sampled index lists, sharded across DDP ranks.

    Args:
        labels: class id of every training sample, in dataset order.
        strategy: one of ``shuffle``, ``weighted``, ``downsample``, ``balanced``.
        seed: base seed; epoch ``e`` uses ``seed + e`` on every rank.
        target: class count for ``balanced`` (``median``, ``min``, ``max`` or an int).
        num_samples: draws per epoch for ``weighted`` (default: dataset size).
        num_replicas, rank: DDP world size and rank (default: from torch.distributed).
    """

    def __init__(
        self,
        labels: Sequence[int],
        strategy: str = "shuffle",
        seed: int = 0,
        target: str | int = "median",
        num_samples: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(f"sampler.strategy must be one of {STRATEGIES}, got {strategy!r}")
        if num_replicas is None or rank is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            num_replicas = dist.get_world_size() if ready else 1
            rank = dist.get_rank() if ready else 0
        super().__init__(labels, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.labels = list(labels)
        self.strategy = strategy
        self.target = target
        self.draws = num_samples
        # Epoch length is the same every epoch for every strategy; compute it once.
        self.epoch_size = len(self._epoch_list(0))
        self.num_samples = -(-self.epoch_size // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def _epoch_list(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return epoch_indices(self.labels, self.strategy, generator, self.target, self.draws)

    def epoch_draws(self, epoch: int) -> list[tuple[int, int]]:
        """This rank's ``(index, draw_seed)`` pairs for ``epoch`` (what iteration yields)."""
        indices = self._epoch_list(epoch)
        # A stream of its own, so draw seeds are independent of the index choices.
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch, DRAW_STREAM))
        seeds = torch.randint(0, 2**62, (len(indices),), generator=generator).tolist()
        draws = list(zip(indices, seeds, strict=True))
        while len(draws) < self.total_size:  # pad (repeating if short) for equal shares
            draws += draws[: self.total_size - len(draws)]
        return draws[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.epoch_draws(self.epoch))

    def __len__(self) -> int:
        return self.num_samples


class UnpaddedDistributedSampler(DistributedSampler):
    """Rank ``r`` of ``w`` evaluates samples ``r, r + w, r + 2w, ...``: each exactly once.

    Shares differ by at most one sample. Only for evaluation: training needs equal shares
    so every rank runs the same number of gradient synchronisations.
    """

    def __init__(self, dataset_size: int, num_replicas: int, rank: int) -> None:
        super().__init__(range(dataset_size), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.dataset_size = dataset_size
        self.num_samples = len(range(rank, dataset_size, num_replicas))
        self.total_size = dataset_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.dataset_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples
