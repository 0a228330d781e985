"""Prediction beyond one label per file: the exercise timeline of a whole video."""
