"""The base of every error whose message tells the user what to fix.

Such errors (a dataset with the wrong layout, a checkpoint from another dataset, weights
that cannot be fetched offline, a config value that trains nothing ...) are expected: the
command line prints their message and exits with status 1, without a stack trace that would
bury it. Anything else is a bug and keeps its full traceback.
"""

from __future__ import annotations

# PyTorch's DataLoader re-raises an exception from a worker process as
# ``type(error)(message)`` where the message is the worker's whole formatted traceback.
_WORKER_PREAMBLE = "Original Traceback (most recent call last)"


class SportsRecError(Exception):
    """An expected failure with an actionable message.

    Subclasses must stay constructible from the message alone, so an error raised inside
    a DataLoader worker arrives in the main process as the same class; the worker's
    traceback that PyTorch prepends is cut back to the message itself.
    """

    def __init__(self, message: str = "", *args: object) -> None:
        if _WORKER_PREAMBLE in message:
            marker = f"{type(self).__name__}: "
            message = message.rsplit(marker, 1)[-1].strip() if marker in message else message
        super().__init__(message, *args)


class ConfigError(SportsRecError, ValueError):
    """A configuration value that cannot work (names the key and the accepted values)."""
