"""Config keys that moved, in one place: the command line names the new key for an old
override, and old checkpoints are read in the new shape (:mod:`sports_rec.checkpoint`).

The image-only options left the top of the data config for the image dataset's node when
the DataModule became modality-neutral: ``data.grayscale`` is ``data.dataset.grayscale``.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Options of the image dataset class that used to sit on the DataModule.
MOVED_IMAGE_OPTIONS = ("grayscale", "crop_pct", "max_side", "cache", "cache_dir")

#: ``{old override key: new key}`` (``data.keypoints``: the image dataset's option too;
#: ``data.cache_max_gb``: never a DataModule option, but the name issue 19 gave the store's
#: budget, next to ``data.cache``).
MOVED_KEYS = {
    f"data.{name}": f"data.dataset.{name}"
    for name in (*MOVED_IMAGE_OPTIONS, "keypoints", "cache_max_gb")
}


def moved_key_message(overrides: Sequence[str]) -> str | None:
    """A message naming the new key of the first override that uses a moved one, or None."""
    for override in overrides:
        key = override.partition("=")[0].lstrip("+~")
        if key in MOVED_KEYS:
            value = override.partition("=")[2]
            return (
                f"{key} is an option of the image dataset: write "
                f"{MOVED_KEYS[key]}={value} (README 'Adding a dataset')."
            )
    return None
