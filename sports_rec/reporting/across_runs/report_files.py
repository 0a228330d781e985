"""The files of a report (``report.md``/``.csv``/``.png``/``.html``, curves, leaderboard,
per-class comparison) written from loaded runs.

Used by ``python -m sports_rec.report`` and by ``python -m sports_rec.dashboard`` offline,
which writes the comparison its W&B workspace would show as a local report. The command's
docstring (:mod:`sports_rec.report`) lists the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from sports_rec.errors import SportsRecError
from sports_rec.reporting.across_runs.figures import (
    curve_rows,
    headline_sources,
    plot_headline,
    plot_overlaid_curves,
)
from sports_rec.reporting.across_runs.html import write_html
from sports_rec.reporting.across_runs.labels import label_runs
from sports_rec.reporting.across_runs.per_class import (
    class_comparison,
    markdown_section,
    run_tables,
)
from sports_rec.reporting.across_runs.published import format_published
from sports_rec.reporting.across_runs.report_table import (
    format_leaderboard,
    format_table,
    leaderboard,
    matching_published,
    report_table,
    to_markdown,
)
from sports_rec.reporting.across_runs.runs import Run


class ReportOutputError(SportsRecError):
    """The output folder of a report cannot be created or written."""


def _published_section(published: pd.DataFrame) -> str:
    """The matched published rows with their citations, as a markdown section."""
    rows = published[["recipe", "metric", "value", "source", "note"]].copy()
    rows["value"] = [
        format_published(v, m) for v, m in zip(rows["value"], rows["metric"], strict=True)
    ]
    rows = rows.astype(str).apply(lambda column: column.str.replace("|", "\\|"))
    return "## Published values\n\n" + to_markdown(rows) + "\n"


def write_report(
    runs: Sequence[Run],
    out: Path,
    published: pd.DataFrame | None = None,
    html: bool = True,
    class_published: pd.DataFrame | None = None,
    title: str = "sports_rec report",
    tables: Sequence[tuple[str, pd.DataFrame]] = (),
) -> tuple[str, dict[str, Path]]:
    """Write every report file into ``out``; return the markdown table and the files.
    ``class_published``: the per-class and confusion rows of the published files.
    ``title`` heads report.md and report.html; ``tables`` (heading, text frame) are extra
    sections placed before the runs table in both (the offline dashboard's by-model view)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportOutputError(
            f"Cannot create the report folder '{out}' ({error.strerror or error}); "
            "choose another with out=DIR."
        ) from error
    label_runs(runs)  # evaluations may have joined the runs since they were loaded
    matched = matching_published(runs, published)
    table = report_table(runs, matched)
    text_table = format_table(table, matched)
    markdown = to_markdown(text_table)
    files = {
        "report.csv": out / "report.csv",
        "report.png": out / "report.png",
        "curves.png": out / "curves.png",
        "curves.csv": out / "curves.csv",
        "report.md": out / "report.md",
    }
    table.to_csv(files["report.csv"], index=False)
    plot_headline(table, matched, files["report.png"])
    plot_overlaid_curves(runs, files["curves.png"])
    curve_rows(runs).to_csv(files["curves.csv"], index=False)

    sections = [f"# {title}\n\n{len(runs)} run(s).\n"]
    sections += [f"## {heading}\n\n{to_markdown(frame)}\n" for heading, frame in tables]
    sections.append(f"## Runs\n\n{markdown}\n")
    matrix = leaderboard(runs)
    text_matrix = None
    if matrix is not None:
        text_matrix = format_leaderboard(matrix)
        board = to_markdown(text_matrix)
        files["leaderboard.csv"] = out / "leaderboard.csv"
        files["leaderboard.md"] = out / "leaderboard.md"
        matrix.to_csv(files["leaderboard.csv"], index=False)
        heading = "## Leaderboard (test accuracy, best run per model and dataset)\n\n"
        files["leaderboard.md"].write_text(heading + board + "\n")
        sections.append(heading + board + "\n")
    if not matched.empty:
        sections.append(_published_section(matched))
    comparison = class_comparison(runs, class_published)
    per_class_html: list[tuple[str, pd.DataFrame]] = []
    if not comparison.empty:
        files["per_class_published.csv"] = out / "per_class_published.csv"
        comparison.to_csv(files["per_class_published.csv"], index=False)
        sections.append(markdown_section(comparison, runs))
        per_class_html = _per_class_html(comparison, runs)
    sections.append(
        "## Figures\n\n![test accuracy per run](report.png)\n\n"
        "![training and validation curves](curves.png)\n"
    )
    files["report.md"].write_text("\n".join(sections))

    if html:
        sources = headline_sources(table, matched)
        headline_caption = "test accuracy per run" + (
            f" beside the published values ({', '.join(sources)})" if sources else ""
        )
        files["report.html"] = write_html(
            out / "report.html",
            runs,
            text_table,
            [
                (files["report.png"], headline_caption),
                (files["curves.png"], "loss and accuracy per epoch: train solid, val dashed"),
            ],
            leaderboard=text_matrix,
            published=matched,
            per_class=per_class_html,
            title=title,
            tables=tables,
        )
    return markdown, files


def _per_class_html(
    comparison: pd.DataFrame, runs: Sequence[Run]
) -> list[tuple[str, pd.DataFrame]]:
    """(title, text frame) of each run's per-class comparison tables, for report.html."""
    tables = []
    for run in runs:
        if run.title not in set(comparison["run"]):
            continue
        per_class, confusions, own = run_tables(comparison, run)
        for title, frame in (
            ("per class", per_class),
            ("published top confusions", confusions),
            ("its own top confusions", own),
        ):
            if frame is not None and not frame.empty:
                tables.append((f"{run.title} ({run.recipe}): {title}", frame))
    return tables
