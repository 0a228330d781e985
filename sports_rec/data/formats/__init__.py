"""Format readers: one small module per on-disk dataset layout.

Each reader takes the dataset root (plus a few layout options) and returns an
:class:`~sports_rec.data.index.IndexTable`. This is the only dataset-specific code; configs
select a reader with ``reader._target_`` under ``conf/data/``.
"""
