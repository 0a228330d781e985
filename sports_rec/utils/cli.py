"""The Hydra entry points' command line, checked before Hydra reads it.

Hydra's override grammar accepts unquoted values of plain characters only: a path with a
space or a non-ASCII letter (``input=/data/sp ace é``) stops the command with a lexer error
(``LexerNoViableAltException``) that does not say what to do. :func:`hydra_entry_point` is
``@hydra.main`` plus a check of every override first: one that cannot be parsed is named
with Hydra's message and the quoting that works, ``'input="/data/sp ace é"'`` (single
quotes for the shell, double quotes for Hydra), and the command ends with status 1.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any

import hydra
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException

from sports_rec.utils.config_moves import moved_key_message


def quoting_hint(overrides: Sequence[str], index: int) -> str:
    """How to write ``overrides[index]`` (or the value it was split from) so Hydra reads it."""
    # A piece without '=' is most often a value with spaces that the shell split: join it
    # to the override it belongs to, and to the pieces after it.
    start, end = index, index
    while start > 0 and "=" not in overrides[start]:
        start -= 1
    while end + 1 < len(overrides) and "=" not in overrides[end + 1]:
        end += 1
    key, sep, value = " ".join(overrides[start : end + 1]).partition("=")
    if not sep:
        return "every override is key=value"
    value = value.strip("'\"").replace('"', '\\"')
    return (
        f"quote the value, e.g. '{key}=\"{value}\"' (single quotes for the shell, double for Hydra)"
    )


def unparsable_override(argv: Sequence[str]) -> str | None:
    """A message for the first override of ``argv`` that Hydra cannot parse or that uses
    a key that moved (:mod:`sports_rec.utils.config_moves`), or None."""
    known, _ = get_args_parser().parse_known_args(list(argv))
    overrides = list(known.overrides or [])
    moved = moved_key_message(overrides)
    if moved is not None:
        return moved
    parser = OverridesParser.create()
    for index, override in enumerate(overrides):
        try:
            parser.parse_overrides([override])
        except OverrideParseException as error:
            return (
                f"Cannot read the override {override!r}: {str(error).splitlines()[0]}\n"
                f"Hint: {quoting_hint(overrides, index)}; see README 'Quoting values'."
            )
    return None


def hydra_entry_point(config_name: str) -> Callable[[Callable[..., Any]], Callable[[], Any]]:
    """``@hydra.main(config_path="conf", config_name=...)``, the overrides checked first."""

    def decorate(task: Callable[..., Any]) -> Callable[[], Any]:
        hydra_main = hydra.main(version_base="1.3", config_path="conf", config_name=config_name)(
            task
        )

        @functools.wraps(task)
        def main() -> Any:
            message = unparsable_override(sys.argv[1:])
            if message is not None:
                sys.stderr.write(message + "\n")
                sys.exit(1)
            return hydra_main()

        return main

    return decorate
