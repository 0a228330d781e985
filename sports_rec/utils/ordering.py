"""Round-robin over groups: one item of each group in turn, each group in its own order.

The misclassified gallery and ``explain`` both pick samples this way over the true classes,
so a test set sorted by class does not fill them with its first class.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, zip_longest
from typing import TypeVar

T = TypeVar("T")
_GAP = object()


def interleave(queues: Sequence[Sequence[T]]) -> list[T]:
    """The first item of every queue, then every second item, ...; shorter queues drop out."""
    rounds = chain.from_iterable(zip_longest(*queues, fillvalue=_GAP))
    return [item for item in rounds if item is not _GAP]
