"""What one run writes into its own folder: test artefacts (metrics, per-class tables,
confusion matrices, galleries), the data report and analysis, and its training figures."""
