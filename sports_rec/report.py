"""Collect run folders into a study table:
``python -m sports_rec.report runs=[DIR,...] [published=CSV] [evaluations=[DIR,...]] [out=DIR]
[html=true]``.

``runs`` takes run folders, sweep folders or any folder above them (searched recursively);
``published`` one or more ``experiments/<study>/published.csv`` whose values are shown beside
the runs' own (matched by recipe); ``evaluations`` folders of ``python -m sports_rec.evaluate``
that re-tested a run's checkpoint (e.g. with ``data.dataset.skeleton_attention=false``), each
a row beside that run (:mod:`sports_rec.reporting.across_runs.evaluations`). Writes to
``out`` (default: this command's run folder, ``logs/report/runs/<date>_<time>_<id>``):

* ``report.md`` / ``report.csv`` - one row per run (failed runs included), each called by
  what differs between the runs (``model=small``; its folder in the next column), in every
  table, chart legend and heading of the report;
* ``report.png`` - test accuracy per run beside the published values;
* ``curves.png`` - all runs' train/val loss and accuracy on shared axes (its data:
  ``curves.csv``);
* ``leaderboard.md`` / ``leaderboard.csv`` - model x dataset test accuracy, when the runs
  span more than one dataset;
* ``per_class_published.csv`` - when ``published`` has per-class values or confusions
  (study 004): each run's value beside each of them, also a section of ``report.md`` and
  ``report.html`` (:mod:`sports_rec.reporting.across_runs.per_class`);
* ``report.html`` - all of it in one self-contained file (``html=false`` skips it).

The table is printed too, so ``make`` targets show it. See
:mod:`sports_rec.reporting.across_runs.report_table` for the columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

import sports_rec  # noqa: F401  (registers the config resolvers)
from sports_rec.reporting.across_runs.evaluations import with_evaluations
from sports_rec.reporting.across_runs.published import (
    read_published_classes_files,
    read_published_files,
)
from sports_rec.reporting.across_runs.report_files import write_report
from sports_rec.reporting.across_runs.runs import load_runs
from sports_rec.utils.cli import hydra_entry_point
from sports_rec.utils.logging import get_logger
from sports_rec.utils.run import exit_on_user_error, task_wrapper

log = get_logger(__name__)


def as_paths(value: Any) -> list[str]:
    """A config value given as ``x``, ``[x,y]`` or null, as a list of path strings."""
    if value is None:
        return []
    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if str(value) else []


@task_wrapper
def report(cfg: DictConfig) -> dict[str, Path]:
    runs = load_runs(as_paths(cfg.get("runs")))
    evaluations = as_paths(cfg.get("evaluations"))
    if evaluations:
        runs = with_evaluations(runs, evaluations)
    published_files = as_paths(cfg.get("published"))
    published = read_published_files(published_files) if published_files else None
    class_published = read_published_classes_files(published_files) if published_files else None
    out = Path(str(cfg.out)).expanduser().resolve()
    markdown, files = write_report(
        runs, out, published, html=bool(cfg.html), class_published=class_published
    )
    print(markdown)
    if "leaderboard.md" in files:
        print()
        print(files["leaderboard.md"].read_text().rstrip())
    print(f"\nReport folder: {out}", flush=True)
    log.info("Wrote %s", ", ".join(sorted(files)))
    return files


@hydra_entry_point("report")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        report(cfg)


if __name__ == "__main__":
    main()
