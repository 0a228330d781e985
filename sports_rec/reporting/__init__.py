"""Reports: :mod:`~sports_rec.reporting.per_run` (one run folder's artefacts, written while
it trains and tests) and :mod:`~sports_rec.reporting.across_runs` (tables and figures over
many run folders, for ``sports_rec.report`` and the study tables)."""
