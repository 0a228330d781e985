"""Reading a CSV a run wrote (``metrics.csv``, ``splits.csv`` ...) for its figures: the
file and its columns checked, with a message naming the file and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def read_run_table(
    path: Path,
    required: Sequence[str],
    error: type[Exception],
    unreadable_fix: str,
    missing_fix: str,
) -> pd.DataFrame:
    """``path`` holding every ``required`` column, or ``error`` with the caller's fix (what
    writes the file differs: training every epoch, the datamodule at start-up)."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as cause:
        raise error(f"{path} is not a readable CSV ({cause}): {unreadable_fix}") from cause
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise error(
            f"{path} has no column(s) {', '.join(missing)} (it has {', '.join(frame.columns)}): "
            f"{missing_fix}"
        )
    return frame
