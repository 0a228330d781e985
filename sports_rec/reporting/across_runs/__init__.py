"""What ``python -m sports_rec.report`` builds from many run folders: the run table beside
the published numbers, the per-class comparison, the report's figures and its HTML page."""
