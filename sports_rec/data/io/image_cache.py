"""Decoded-image cache: every image decoded once, reused by every epoch, run and DDP rank.

``data.dataset.cache=true`` keeps, for each image, exactly what :func:`~sports_rec.data.io.image_io.
load_image` returns for the run's colour mode and decoding cap (``max_side``, by default
twice the training size): the pixels the transforms receive, stored lossless as a ``.npy``
array under ``data.dataset.cache_dir`` (default ``<paths.cache_dir>/images``). A large photo is
then read at its reduced size instead of being decoded again (sports balls' 4500 px JPEGs:
30 ms per decode, ``benchmarks/loader.py``), and a run with the cache sees the same pixels
as one without.

Entries are keyed by the file's absolute path, size and modification time, the colour mode
and the cap, so an edited or replaced image gets a new entry and a run at another size
its own. Entries are written under a temporary name and renamed into place, so DataLoader
workers and DDP ranks filling the cache at once never read half a file. An unusable cache
folder (read-only, full disk) costs a warning and the run decodes directly. Old entries
are never read again once their source changes; delete the folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from sports_rec.data.io.image_io import DATASET_SLACK, load_image
from sports_rec.utils.atomic import atomic_write
from sports_rec.utils.logging import get_logger

log = get_logger(__name__)
FORMAT_VERSION = 2  # 2: stored with load_image's DATASET_SLACK, as the dataset decodes


class ImageCache:
    """Cached :func:`load_image` for one colour mode and decoding cap."""

    def __init__(self, folder: str | Path, mode: str = "RGB", max_side: int | None = None):
        self.folder = Path(folder).expanduser()
        self.mode = mode
        self.max_side = max_side
        self.writable = True

    def entry(self, path: str | Path) -> Path:
        """Where ``path``'s decoded pixels are (or will be) stored."""
        source = Path(path).resolve()
        stat = source.stat()
        text = (
            f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{self.mode}|{self.max_side}|"
            f"{FORMAT_VERSION}"
        )
        key = hashlib.sha1(text.encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.npy"

    def load(self, path: str | Path) -> Image.Image:
        """The decoded image of ``path``: from the cache, or decoded and stored."""
        try:
            entry = self.entry(path)
        except OSError:
            return self._decode(path)  # its own error
        try:
            return Image.fromarray(np.load(entry))  # (H, W): L, (H, W, 3): RGB
        except (OSError, ValueError) as error:  # not cached yet, or a damaged entry
            if not isinstance(error, FileNotFoundError | NotADirectoryError):
                log.warning("Image cache entry %s is unreadable (%s); decoding again", entry, error)
        image = self._decode(path)
        self._store(entry, np.asarray(image))
        return image

    def _decode(self, path: str | Path) -> Image.Image:
        """``path`` decoded as the dataset decodes it without the cache."""
        return load_image(path, mode=self.mode, max_side=self.max_side, slack=DATASET_SLACK)

    def _store(self, entry: Path, pixels: np.ndarray) -> None:
        if not self.writable:
            return
        try:
            with atomic_write(entry) as staging:
                np.save(staging, pixels)
        except OSError as error:
            self.writable = False
            log.warning(
                "Cannot write the image cache in %s (%s): decoding directly for the rest "
                "of this run. Set data.dataset.cache_dir to a writable folder, or "
                "data.dataset.cache=false.",
                self.folder,
                error.strerror or error,
            )
