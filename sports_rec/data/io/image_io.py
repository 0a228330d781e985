"""Decoding images robustly: one place that knows about real-world JPEG oddities.

* CMYK, grayscale (``L``), palette and alpha images are converted to the requested mode
  (``RGB`` or ``L``), so a single odd file never breaks a batch.
* Very large photos (sports balls has 4500 px images) are decoded at reduced scale with
  ``Image.draft`` (JPEG DCT scaling) and then shrunk, so no huge tensors are created and
  decoding stays fast. ``max_side`` bounds the shorter side kept in memory.
* Colour JPEGs for grayscale nets (the workout study) are decoded from their luma plane.
* EXIF orientation is applied, so phone photos are upright.
* Unreadable files raise :class:`ImageDecodeError` naming the file and the fix;
  :func:`find_unreadable` checks a list up front so training never dies mid-epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from sports_rec.data.io.decode_errors import DecodeError

CHECK_HINT = (
    "Replace or delete the file; with data.check_images=true (the default) unreadable files "
    "are skipped at start-up and listed in skipped_files.csv."
)
UNCHECKED_HINT = (
    "data.check_images=false skipped the start-up check that would have caught it: set "
    "data.check_images=true (unreadable files are then skipped and listed in "
    "skipped_files.csv), or replace or delete the file."
)


class ImageDecodeError(DecodeError):
    """An image file could not be decoded (see :class:`DecodeError`)."""

    kind = "image"
    default_hint = CHECK_HINT


#: ``slack`` of the training, predict and cache decoding (see :func:`load_image`).
DATASET_SLACK = 2.0
#: Huge photos are decoded down to this multiple of the training size
#: (``data.dataset.max_side``).
DECODE_CAP_FACTOR = 2


def decoding_cap(
    image_size: int, max_side: int | None = None, crop_pct: float | None = None
) -> int:
    """The shorter-side cap images are decoded to: ``max_side`` if given, else twice the
    training size (room for random-resized crops, far less than a 4,000 px photo), or more
    when the evaluation crop needs it: a centre crop of ``crop_pct`` resizes the shorter
    side to ``image_size / crop_pct`` first, and decoding below that would blur the test."""
    if max_side:
        return int(max_side)
    cap = DECODE_CAP_FACTOR * int(image_size)
    if crop_pct:
        cap = max(cap, math.ceil(int(image_size) / float(crop_pct)))
    return cap


def load_image(
    path: str | Path, mode: str = "RGB", max_side: int | None = None, slack: float = 1.0
) -> Image.Image:
    """Open ``path`` as a fully decoded PIL image in ``mode``.

    Args:
        path: image file.
        mode: ``"RGB"`` or ``"L"``.
        max_side: if set, images whose shorter side exceeds ``slack * max_side`` are reduced
            so the shorter side equals ``max_side`` (aspect ratio kept). Pick at least the
            training resolution; the transforms do the final resize.
        slack: 1 reduces every image above ``max_side``. The training and predict
            datasets and the image cache pass :data:`DATASET_SLACK` (2): JPEG draft
            decoding already lands between ``max_side`` and twice that, and a second
            resize right before the transforms' own costs more than it saves (a 512 px
            photo for a 224 px input: 5.6 ms with it, 1.4 ms without).
    """
    try:
        with Image.open(path) as opened:
            if opened.format == "JPEG" and (max_side is not None or mode == "L"):
                # Decode at 1/2, 1/4 or 1/8 scale when that still covers max_side; for a
                # grayscale net read the JPEG's luma plane alone (no colour conversion and
                # back: 4.5x faster on 480 px frames, the same pixels to +-1).
                wanted = opened.mode if opened.mode in {"RGB", "L"} else None
                if wanted == "RGB" and mode == "L":
                    wanted = "L"
                opened.draft(wanted, (max_side, max_side) if max_side else opened.size)
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageDecodeError(path, f"{type(error).__name__}: {error}") from error
    if image.mode != mode:
        if image.mode in {"P", "LA", "PA", "RGBA"}:
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        image = image.convert(mode)
    if max_side is not None and min(image.size) > slack * max_side:
        scale = max_side / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    return image


#: EXIF orientations that turn the stored image by 90 degrees (width and height swap).
_SIDEWAYS = {5, 6, 7, 8}


def source_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of the upright full-size image :func:`load_image` decodes from
    ``path`` (EXIF orientation applied), read from the header alone. Coordinates given in
    the source's pixels (keypoints, crops) are scaled by ``loaded.size / source_size`` when
    ``max_side`` reduced the image."""
    try:
        with Image.open(path) as opened:
            width, height = opened.size
            # PIL's PNG getexif() decodes the whole image when no eXIf chunk precedes the
            # pixel data (looking for a late one): that doubled the decoding of every
            # InfiniteForm render. Only an early eXIf chunk (the PNG spec's place) is read.
            exif_in_header = opened.format != "PNG" or "exif" in opened.info
            if exif_in_header and opened.getexif().get(0x0112) in _SIDEWAYS:
                width, height = height, width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageDecodeError(path, f"{type(error).__name__}: {error}") from error
    return width, height


def _check(path: str) -> str | None:
    try:
        load_image(path, max_side=32)
    except ImageDecodeError as error:
        return error.reason
    return None


def find_unreadable(paths: Iterable[str], workers: int = 4) -> dict[str, str]:
    """Return ``{path: reason}`` for every file that cannot be decoded.

    Decodes each image at reduced scale (cheap with JPEG draft mode) in a thread pool;
    catches truncated and corrupt files that a header check alone would miss.
    """
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(_check, paths, chunksize=64))
    return {p: r for p, r in zip(paths, reasons, strict=True) if r is not None}
