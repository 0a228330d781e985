"""Run artefacts (test metrics, per-class tables, confusion matrices, galleries, curves)."""
