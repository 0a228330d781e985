"""``report.html``: the whole report as ONE self-contained file.

Images are embedded as base64 ``data:`` URIs and the style sheet is inline, so the file can
be mailed, attached to an issue or opened from a cluster's scratch space with no server,
no network and no sibling files. It holds the study table, the leaderboard (when the runs
span datasets), the published values with their citations, the headline and overlaid
curve figures, and per run its confusion matrix, per-class bars (rendered here from
``per_class.csv``) and misclassified gallery when the run has one. Text comes from run
folders and CSV files, so everything is HTML-escaped by the template engine.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
from jinja2 import Environment
from markupsafe import Markup

from sports_rec.reporting.across_runs.figures import per_class_png
from sports_rec.reporting.across_runs.runs import Run

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
h3 { font-size: 1rem; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; text-align: right; }
td { white-space: nowrap; }
#published-values td { white-space: normal; text-align: left; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
.wrap { overflow-x: auto; }
.status-failed { color: #a00; font-weight: bold; }
.status-interrupted { color: #a60; font-weight: bold; }
pre { background: #fbeaea; padding: 0.5rem; white-space: pre-wrap; }
figure { margin: 0.5rem 0 1.5rem; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.8rem; color: #555; }
.run { border-top: 2px solid #ddd; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
<h1>{{ title }}</h1>
<p>{{ runs | length }} run(s), generated {{ generated }}.</p>
{% for item in tables %}
<h2>{{ item.title }}</h2>
<div class="wrap">{{ item.table }}</div>
{% endfor %}
<h2>Runs</h2>
<div class="wrap">{{ table }}</div>
{% if leaderboard %}
<h2>Leaderboard (test accuracy, best run per model and dataset)</h2>
<div class="wrap">{{ leaderboard }}</div>
{% endif %}
{% if published %}
<h2>Published values</h2>
<div class="wrap">{{ published }}</div>
{% endif %}
{% if per_class %}
<h2>Per-class results beside the published</h2>
{% for item in per_class %}
<h3>{{ item.title }}</h3>
<div class="wrap">{{ item.table }}</div>
{% endfor %}
{% endif %}
<h2>Figures</h2>
{% for figure in figures %}
<figure><img src="{{ figure.src }}" alt="{{ figure.caption }}">
<figcaption>{{ figure.caption }}</figcaption></figure>
{% endfor %}
{% for run in runs %}
<section class="run" id="run-{{ loop.index }}">
<h2>{{ run.label }} <span class="status-{{ run.status_class }}">[{{ run.status }}]</span></h2>
<p>{% if run.label != run.name %}folder {{ run.name }} &middot; {% endif %}
recipe {{ run.recipe }} &middot; dataset {{ run.dataset }} &middot; model {{ run.model }}</p>
{% if run.error %}<pre>{{ run.error }}</pre>{% endif %}
{% for figure in run.figures %}
<figure><img src="{{ figure.src }}" alt="{{ figure.caption }}">
<figcaption>{{ figure.caption }}</figcaption></figure>
{% else %}
<p>No test artefacts in this run folder.</p>
{% endfor %}
</section>
{% endfor %}
</body>
</html>
"""


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, the form every image of the report takes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(png: bytes, caption: str) -> dict[str, str]:
    return {"src": data_uri(png), "caption": caption}


def _html_table(frame: pd.DataFrame, table_id: str) -> Markup:
    # pandas escapes every cell and header; Markup keeps the engine from escaping it twice.
    return Markup(frame.to_html(index=False, escape=True, border=0, table_id=table_id))


def _run_figures(run: Run) -> list[dict[str, str]]:
    figures = []
    if run.confusion_png is not None:
        figures.append(_figure(run.confusion_png.read_bytes(), "confusion matrix"))
    if run.per_class is not None and not run.per_class.empty:
        png = per_class_png(run.per_class, f"{run.title}: per-class scores")
        figures.append(_figure(png, "precision, recall and F1 per class (per_class.csv)"))
    if run.misclassified_png is not None:
        figures.append(_figure(run.misclassified_png.read_bytes(), "misclassified test images"))
    return figures


def write_html(
    path: Path,
    runs: Sequence[Run],
    table: pd.DataFrame,
    figures: Sequence[tuple[Path, str]],
    leaderboard: pd.DataFrame | None = None,
    published: pd.DataFrame | None = None,
    title: str = "sports_rec report",
    per_class: Sequence[tuple[str, pd.DataFrame]] = (),
    tables: Sequence[tuple[str, pd.DataFrame]] = (),
) -> Path:
    """Write ``report.html``.

    ``table`` and ``leaderboard`` are the formatted (text) frames of ``report.md``;
    ``figures`` are (PNG file, caption) pairs; ``published`` the matched published rows;
    ``per_class`` (title, text frame) pairs of the per-class comparison with the published;
    ``tables`` (title, text frame) sections shown before the runs table (``table-1`` ...).
    """
    template = Environment(autoescape=True).from_string(_TEMPLATE)
    published_frame = None
    if published is not None and not published.empty:
        published_frame = published[["recipe", "metric", "value", "source", "note"]]
    page = template.render(
        title=title,
        style=Markup(_STYLE),
        generated=datetime.now().astimezone().isoformat(timespec="seconds"),
        table=_html_table(table, "report-table"),
        leaderboard=None if leaderboard is None else _html_table(leaderboard, "leaderboard"),
        published=None
        if published_frame is None
        else _html_table(published_frame, "published-values"),
        figures=[_figure(png.read_bytes(), caption) for png, caption in figures],
        tables=[
            {"title": heading, "table": _html_table(frame, f"table-{i}")}
            for i, (heading, frame) in enumerate(tables, start=1)
        ],
        per_class=[
            {"title": title, "table": _html_table(frame, f"per-class-{i}")}
            for i, (title, frame) in enumerate(per_class)
        ],
        runs=[
            {
                "name": run.name,
                "label": run.title,
                "status": run.status,
                "status_class": run.status.replace(" ", "-"),
                "recipe": run.recipe,
                "dataset": run.dataset,
                "model": run.model,
                "error": run.error,
                "figures": _run_figures(run),
            }
            for run in runs
        ],
    )
    path.write_text(page, encoding="utf-8")
    return path
