"""Overrides Hydra cannot read (a path with spaces or non-ASCII letters, unquoted) are named
with the quoting that works, by every Hydra entry point, before Hydra's lexer error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from sports_rec.utils.cli import unparsable_override
from tests.conftest import expect_user_error, run_cli


def _suggested(message: str) -> str:
    return message.split("e.g. ", 1)[1].split(" (single quotes", 1)[0].strip("'")


@pytest.mark.parametrize(
    "argv",
    [
        ["input=/data/sp ace é"],  # quoted for the shell, not for Hydra
        ["-m", "input=/data/sp", "ace", "é"],  # not quoted at all: the shell split it
        ["input=/data/équipe"],
    ],
)
def test_the_suggested_quoting_reads_the_whole_path(argv: list[str]) -> None:
    message = unparsable_override(argv)
    assert message is not None and "Cannot read the override" in message
    suggested = _suggested(message)
    assert unparsable_override([suggested]) is None
    (override,) = OverridesParser.create().parse_overrides([suggested])
    path = " ".join(a for a in argv if a != "-m").removeprefix("input=")
    assert override.key_or_group == "input" and override.value() == path


def test_readable_overrides_and_hydra_flags_pass() -> None:
    assert unparsable_override(["-m", "--cfg", "job", "model=small,lenet", "+a.b=[1,2]"]) is None
    assert unparsable_override(['input="/data/sp ace é"']) is None


@pytest.mark.slow  # the real CLI
@pytest.mark.parametrize("module", ["sports_rec.predict", "sports_rec.train"])
def test_the_entry_points_print_the_hint_and_exit_1(module: str, tmp_path: Path) -> None:
    result = run_cli(module, "input=/data/sp ace é", cwd=tmp_path, check=False)
    expect_user_error(
        result,
        "Cannot read the override 'input=/data/sp ace é'",
        """quote the value, e.g. 'input="/data/sp ace é"'""",
    )
    assert not (tmp_path / "logs").exists()  # refused before Hydra made a run folder
