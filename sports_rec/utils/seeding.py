"""Randomness that depends only on ``(seed, epoch, ...)``, never on the run's history.

A run that is killed and resumed from ``last.ckpt`` must train its remaining epochs exactly
as the uninterrupted run would. Seeding once at start-up is not enough for that: the
resumed process has not consumed the random streams of the epochs it skipped, and
DataLoader workers (persistent across epochs) keep their own streams. So:

* every training *draw* carries its own seed, chosen by the sampler from ``(seed, epoch)``
  (:class:`~sports_rec.data.samplers.ResamplingSampler`), and the dataset augments that
  sample under :func:`seeded` — the same draw gets the same crop and flip whatever the
  worker count, worker scheduling or restart;
* the main process's generators (dropout, stochastic depth) are re-seeded at every
  training epoch start from ``(seed, epoch, rank)``
  (:class:`~sports_rec.callbacks.seeding.EpochSeeding`).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch


def derive_seed(*keys: int) -> int:
    """A 63-bit seed mixed from integer ``keys`` (order matters; stable across versions)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def seed_all(seed: int) -> None:
    """Seed torch (CPU and CUDA), Python's ``random`` and NumPy's global generator."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the body with torch, ``random`` and NumPy seeded from ``seed``, then restore them.

    torchvision's v2 transforms draw from torch's generator, timm's RandAugment from
    ``random`` and NumPy; all three are covered. The previous states are restored, so
    seeding one sample never disturbs the caller (e.g. the main process with
    ``num_workers=0``). ``None`` leaves the generators alone.
    """
    if seed is None:
        yield
        return
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        seed_all(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
