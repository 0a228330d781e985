"""The one timing rule every benchmark uses: the median over repeated calls."""

from __future__ import annotations

import time
from collections.abc import Callable


def median_seconds(step: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds per call of ``step`` over ``repeats`` calls (robust to the
    odd slow call caused by another process on a shared machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
