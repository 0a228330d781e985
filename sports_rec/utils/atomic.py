"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file that is read while it may be rewritten (the run record, cache entries and their
sidecars, a video being encoded) is written to a hidden staging file beside the target and
renamed onto it (``os.replace``, atomic on one file system). :func:`staging_file` makes
that file; :func:`atomic_write` wraps the pattern; :func:`write_text_atomic` is the common
case.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` can only set it)."""
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022  # no /proc (not Linux): the usual default


def staging_file(target: Path) -> Path:
    """A new, uniquely named hidden file beside ``target`` for an atomic write.

    Rename it onto ``target`` with ``os.replace`` once complete. Unlike a bare ``mkstemp``
    file (mode 0600) it gets the permissions a normal file would, so datasets and caches
    written by one user or job stay readable by the others that share them.
    """
    handle, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.fchmod(handle, 0o666 & ~_umask())
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def atomic_write(target: str | Path) -> Iterator[Path]:
    """``with atomic_write(path) as staging: write(staging)``: ``path`` is replaced by the
    staging file when the block ends without an error; the staging file never outlives it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_file(target)
    try:
        yield staging
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


def write_text_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_write(target) as staging:
        staging.write_text(text)
