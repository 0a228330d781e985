"""What a report calls each run: the settings that differ between the runs it compares.

A sweep's jobs live in folders ``0``, ``1``, ``2``; a table, chart legend or heading that
says "1" makes the reader look up which job that was. Every place a report names a run
uses :attr:`Run.label <sports_rec.reporting.across_runs.runs.Run.label>` instead:
``model=small``, ``model=lenet loss=focal`` (several keys joined in the order the runs
first give them), the folder only where nothing differs (a single run) or two runs would
otherwise share a label (then ``<label> [<folder>]``).

The keys compared are the command-line overrides of any run, minus infrastructure
(:data:`IGNORED_KEYS`): where data lives or how many GPUs ran it says nothing about what a
run tested. An evaluation row (``report evaluations=[...]``) adds its test-time settings
under :data:`TESTED_WITH`, shown by value alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sports_rec.reporting.across_runs.runs import Run

#: Command-line keys that say where or how a run ran, not what it tested: never compared.
#: An entry matches the key itself and everything below it (``paths`` -> ``paths.log_dir``).
IGNORED_KEYS: tuple[str, ...] = (
    "paths",
    "hydra",
    "data.root",
    "data.num_workers",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.accelerator",
    "trainer.strategy",
    "logger",
    "print_config",
    "ckpt_path",
    "callbacks.rich_progress_bar",
)

#: The pseudo-override of an evaluation row naming its test-time data settings.
TESTED_WITH = "tested with"


def is_ignored(key: str, ignored: Sequence[str] = IGNORED_KEYS) -> bool:
    """Whether an override key is one of ``ignored`` or below one (infrastructure)."""
    normalised = key.split("@", 1)[0].replace("/", ".")
    return any(normalised == k or normalised.startswith(k + ".") for k in ignored)


def differing_overrides(runs: Sequence[Run], ignored: Sequence[str] = IGNORED_KEYS) -> list[str]:
    """Override keys (first-seen order) whose effective value is not the same in all runs.

    ``ignored=()`` keeps infrastructure keys too: within one sweep over ``data.root``, the
    root is what the jobs compare."""
    keys: dict[str, None] = {}
    for run in runs:
        for key in run.overrides:
            if not is_ignored(key, ignored):
                keys.setdefault(key, None)
    return [key for key in keys if len({run.setting(key) for run in runs}) > 1]


def run_labels(runs: Sequence[Run], ignored: Sequence[str] = IGNORED_KEYS) -> list[str]:
    """Each run's label (module docstring), in the order of ``runs``; unique."""
    keys = differing_overrides(runs, ignored)
    labels = []
    for run in runs:
        parts = []
        for key in keys:
            value = run.setting(key)
            if value is None:
                continue
            parts.append(value if key == TESTED_WITH else f"{key}={value}")
        labels.append(" ".join(parts) or run.name)
    counts = Counter(labels)
    return [
        f"{label} [{run.name}]" if counts[label] > 1 and label != run.name else label
        for label, run in zip(labels, runs, strict=True)
    ]


def label_runs(runs: Sequence[Run]) -> None:
    """Set every run's ``label`` from the others (again whenever the set of runs changes)."""
    for run, label in zip(runs, run_labels(runs), strict=True):
        run.label = label
