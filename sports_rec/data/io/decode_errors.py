"""The one error of a media file that cannot be decoded (an image, a video).

Built as ``Error(path, reason)``; a single argument is taken as the whole message, which
is how Python rebuilds an exception a DataLoader worker raised in the main process (the
path and reason are then empty and the message is kept as it was). Each kind says what the
file is and what to do about it (``kind`` and the default ``hint``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from sports_rec.errors import SportsRecError


class DecodeError(SportsRecError, OSError):
    """A media file could not be opened or decoded."""

    kind: ClassVar[str] = "file"
    default_hint: ClassVar[str] = "Replace or delete the file."

    def __init__(self, path: str | Path, reason: str | None = None, hint: str | None = None):
        if reason is None:
            super().__init__(str(path))
            self.path, self.reason = "", str(self)
            return
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read {self.kind} '{path}': {reason}. {hint or self.default_hint}")
