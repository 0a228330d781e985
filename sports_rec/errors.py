"""The base of every error whose message tells the user what to fix.

Such errors (a dataset with the wrong layout, a checkpoint from another dataset, weights
that cannot be fetched offline ...) are expected: the command line prints their message and
exits with status 1, without a stack trace that would bury it. Anything else is a bug and
keeps its full traceback.
"""

from __future__ import annotations


class SportsRecError(Exception):
    """An expected failure with an actionable message."""
